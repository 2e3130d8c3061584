"""One eval run end to end: load the cases, run them (with a progress bar), score, write, compare.

`evaluate()` is the API the tests and the benchmark call; `run_eval()` is the CLI around it (bad
input becomes a CliError, exit 2; failing cases exit 1).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from evals.cases import CaseError, default_cache_dir, load_cases
from evals.harness import CaseRun, RunConfig, model_slug, prepare_bundles, run_cases, score_runs
from evals.outputs import Results, RunMeta, diff, load_results, print_diff, print_table, write_all
from evals.scoring import summarize


class EvalOptions(BaseModel):
    model: str = "offline"
    graph: str = "compiled"
    cases: str = "*"
    runbook: str = "D3"
    record: bool = False
    out: Path | None = None
    baseline: Path | None = None
    workers: int = 2
    executor: str = "process"
    cache: Path | None = None
    cassettes: Path | None = None
    quiet: bool = False
    scripted: bool = False
    keep_work: bool = False


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sopgraph")
    except Exception:
        return ""


def evaluate(*, model: str = "offline", graph: Literal["compiled", "react"] = "compiled", cases: str = "*",
             runbook: str = "D3", record: bool = False, base_url: str | None = None, workers: int = 2,
             executor: Literal["process", "thread"] = "process", cache_dir: Path | None = None,
             cassette_root: Path | None = None, work_dir: Path | None = None, keep_work: bool = False,
             on_result: Callable[[CaseRun], None] | None = None, on_start: Callable[[int], None] | None = None) -> Results:
    """Run and score the matching cases. Raises CaseError for bad case files or an empty selection."""
    selected = load_cases(cases, runbook=runbook)
    cfg = RunConfig(model=model, graph=graph, record=record, base_url=base_url, keep_work=keep_work,
                    cache_dir=cache_dir or default_cache_dir(), work_dir=work_dir,
                    **({"cassette_root": cassette_root} if cassette_root else {}))
    prepare_bundles(selected, cfg.cache_dir)
    if on_start:
        on_start(len(selected))
    started = time.perf_counter()
    runs = run_cases(selected, cfg, workers=workers, executor=executor, on_result=on_result)
    elapsed = time.perf_counter() - started
    scores = score_runs(selected, runs)
    mode = "record" if record else ("replay" if cfg.uses_http else "offline")
    meta = RunMeta(model=model, graph=graph, cases=f"{runbook}/{cases}", mode=mode, elapsed_s=round(elapsed, 2),
                   workers=min(workers, len(selected)), executor="process" if cfg.uses_http else executor,
                   version=_version())
    return Results(run=meta, summary=summarize(scores), cases=scores)


def run_eval(opts: EvalOptions) -> int:
    from rich.console import Console

    from agents.providers import ProviderError, parse_model_spec
    from graphs.cli.errors import CliError

    try:
        spec = parse_model_spec(opts.model)
    except ProviderError as exc:
        raise CliError(str(exc)) from exc
    if opts.graph not in ("compiled", "react"):
        raise CliError(f"--graph must be compiled or react, not {opts.graph!r}")
    if opts.executor not in ("process", "thread"):
        raise CliError(f"--executor must be process or thread, not {opts.executor!r}")
    http = spec.provider != "offline"
    if opts.record and not http:
        raise CliError("--record needs an HTTP model (anthropic:MODEL or bedrock:MODEL-ID); offline has nothing to record")
    if opts.scripted and not opts.record:
        raise CliError("--scripted only makes sense with --record (replay never needs a server)")
    if opts.record and not opts.scripted and spec.provider == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise CliError("--record against the Anthropic API needs ANTHROPIC_API_KEY",
                       hint="replay (no --record) needs no key")
    old = None
    if opts.baseline is not None:
        try:
            old = load_results(opts.baseline)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    # The table is the command's output (stdout); progress goes to stderr. Wide when not a terminal
    # (CI logs), so case names are not cut.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    progress_console = Console(stderr=True, highlight=False)
    out_dir = opts.out or _default_out(opts)
    server_ctx: Any = nullcontext(None)
    if opts.scripted:
        from evals.scripted import ScriptedServer

        server_ctx = ScriptedServer()
    with server_ctx as server, _progress(progress_console, opts.quiet) as progress:
        try:
            results = evaluate(
                model=str(spec), graph=opts.graph, cases=opts.cases, runbook=opts.runbook, record=opts.record,  # type: ignore[arg-type]
                base_url=server.url if server else None, workers=opts.workers, executor=opts.executor,  # type: ignore[arg-type]
                cache_dir=opts.cache, cassette_root=opts.cassettes, keep_work=opts.keep_work, on_result=progress.advance, on_start=progress.start,
            )
        except CaseError as exc:
            raise CliError(str(exc)) from exc
    print_table(results, console)
    paths = write_all(results, out_dir)
    console.print(f"wrote {paths['results']}, {paths['junit'].name}, {paths['markdown'].name}", highlight=False)
    if old is not None:
        print_diff(diff(old, results, str(opts.baseline)), console)
    return 0 if results.summary.ok else 1


def _default_out(opts: EvalOptions) -> Path:
    from graphs.checkpoint import sopgraph_home

    return sopgraph_home() / "evals" / model_slug(opts.model, opts.graph)  # type: ignore[arg-type]


class _Progress:
    """A rich progress bar fed by the harness's per-case callback (in the parent process)."""

    def __init__(self, console: Any, quiet: bool):
        self.console = console
        self.quiet = quiet or not console.is_terminal
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, total: int) -> None:
        if self.quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("{task.description}"), console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("", total=total)

    def advance(self, run: CaseRun) -> None:
        if self._bar is None:
            return
        self._bar.update(self._task, advance=1, description=("✗ " if run.error else "") + run.case)


def _progress(console: Any, quiet: bool) -> _Progress:
    return _Progress(console, quiet)
