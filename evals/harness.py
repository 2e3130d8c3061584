"""The harness: run the real system on each case (the solver), in parallel, under cassettes for HTTP models.

Each case gets its own store, checkpoint database and audit log in a scratch directory, so cases
run side by side in separate processes without sharing SOPGRAPH_HOME. Offline runs need nothing
else. Anthropic/Bedrock runs go through vcrpy: replay (the default, and the only mode in CI) reads
`evals/cassettes/<model-slug>/<case>.yaml` with the SDK's retries off and never touches the network;
`record` rewrites the cassette from a live endpoint (the real API, or the scripted server). Any
failure of a case becomes that case's error — naming the case, and for a cassette miss the request
and how to re-record — never a traceback that stops the other cases.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evals.cases import Case, NodeBundle, default_cache_dir, materialize
from evals.scoring import CaseScore, NodeFacts, score_case

CASSETTE_ROOT = Path(__file__).resolve().parent / "cassettes"
HTTP_PROVIDERS = ("anthropic", "bedrock")
Graph = Literal["compiled", "react"]


class RunConfig(BaseModel):
    model: str = "offline"
    graph: Graph = "compiled"
    record: bool = False
    cassette_root: Path = CASSETTE_ROOT
    # Where the model API is when recording (the scripted server); None means the provider's own.
    base_url: str | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)
    work_dir: Path | None = None
    keep_work: bool = False

    @property
    def provider(self) -> str:
        return self.model.split(":", 1)[0].strip().lower()

    @property
    def uses_http(self) -> bool:
        return self.provider in HTTP_PROVIDERS


class CaseRun(BaseModel):
    """What the solver produced for one case, plus what scoring needs to know about its bundles."""

    case: str
    status: str | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    wall_s: float = 0.0
    nodes: list[NodeFacts] = Field(default_factory=list)


def model_slug(model: str, graph: Graph = "compiled") -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.strip()).strip("-").lower()
    return f"{slug}-react" if graph == "react" else slug


def cassette_path(cfg: RunConfig, case: Case) -> Path:
    return cfg.cassette_root / model_slug(cfg.model, cfg.graph) / f"{case.name}.yaml"


def record_command(cfg: RunConfig, case: Case) -> str:
    graph = " --graph react" if cfg.graph == "react" else ""
    return f"sopgraph eval --model {cfg.model}{graph} --record --cases {case.name}"


def recorded_base_url(path: Path) -> str | None:
    """The scheme://host:port the cassette was recorded against (replay must ask the same URL)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            match = re.match(r"\s*uri:\s*'?(https?://[^/'\s]+)", line)
            if match:
                return match.group(1)
    return None


# --------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------


@contextmanager
def _model_session(cfg: RunConfig, case: Case) -> Iterator[Callable[[], Any] | None]:
    """The model factory for the case, inside its cassette when the model speaks HTTP."""
    if not cfg.uses_http:
        if cfg.graph == "react" and cfg.provider == "offline":
            from evals.react import make_naive_model

            yield make_naive_model
        else:
            yield None
        return
    from agents.budget import TokenBudget
    from agents.cassettes import make_vcr, replay_env
    from agents.providers import ProviderError, make_chat_model

    path = cassette_path(cfg, case)
    if cfg.record:
        base_url = cfg.base_url
        env = replay_env(os.environ) if base_url else dict(os.environ)
        retries = 0 if base_url else 2
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        if not path.exists():
            raise ProviderError(f"no cassette for case {case.name} at {path}; record it with: "
                                f"{record_command(cfg, case)}")
        base_url = recorded_base_url(path)
        env, retries = replay_env(os.environ), 0

    def factory() -> Any:
        return make_chat_model(cfg.model, budget=TokenBudget(), max_retries=retries, base_url=base_url, env=env)

    with make_vcr(path.parent, record=cfg.record).use_cassette(path.name):
        yield factory


def _facts(records: list[Any], nodes: list[NodeBundle], case: Case) -> list[NodeFacts]:
    from tools.findings.index import load_or_build

    facts = []
    for record, node in zip(records, nodes, strict=True):
        year = record.manifest.collected_at.year if record.manifest.collected_at else None
        index = load_or_build(record.root, record.cache_dir, record.digest, year_hint=year)
        truth = node.truth
        facts.append(NodeFacts(
            instance_id=record.instance_id,
            labels=list(truth.labels) if truth else list(case.truth.labels),
            count=truth.conntrack_count if truth else case.truth.evidence.count,
            max=truth.conntrack_max if truth else case.truth.evidence.max,
            findings={f.id: f.category for f in index.findings},
        ))
    return facts


def _warm(cfg: RunConfig) -> None:
    """Import what a run needs before its clock starts: wall time measures the diagnosis, not the
    first case of each worker paying for langgraph's import."""
    import langgraph.checkpoint.sqlite

    import graphs.builder  # noqa: F401
    from tools.registry import registry

    registry()
    if cfg.uses_http:
        import anthropic  # noqa: F401
        import vcr  # noqa: F401

        import agents.anthropic_chat  # noqa: F401
    if cfg.graph == "react":
        import langgraph.prebuilt  # noqa: F401


def _solve(case: Case, cfg: RunConfig, work: Path, run: CaseRun) -> None:
    from graphs import runner
    from runbooks import catalog
    from tools.bundle.store import BundleStore

    nodes = materialize(case, cfg.cache_dir)
    store_dir = work / "store"
    store = BundleStore(store_dir)
    records = [store.ingest(n.path) for n in nodes]
    ids = list(dict.fromkeys(r.instance_id for r in records))
    clusters = {r.manifest.cluster for r in records} - {None}
    cluster = clusters.pop() if len(clusters) == 1 else None
    compiled = catalog.load(case.runbook)
    thread = f"eval-{case.name}"
    _warm(cfg)
    with _model_session(cfg, case) as factory:
        started = time.perf_counter()
        if cfg.graph == "react":
            from evals.react import run_react

            assert factory is not None
            outcome = run_react(runbook=compiled, instance_ids=ids, store_dir=store_dir, model_factory=factory,
                                alert=case.alert, cluster=cluster, thread_id=thread)
            run.report, run.status = outcome.report, outcome.status
        else:
            state, audit = work / "state.db", work / "audit.log"
            result = runner.start(runbook=compiled, instance_ids=ids, store_dir=store_dir, model=cfg.model,
                                  alert=case.alert, cluster=cluster, thread_id=thread, audit_path=audit,
                                  model_override=factory, state_path=state)
            rounds = 0
            while case.resolve and result.status == "waiting_approval" and rounds < 8:
                rounds += 1
                decision = {"decision": case.resolve, "by": "sopgraph-eval", "reason": f"case {case.name}"}
                result = runner.resume(result.thread_id, decision=decision, state_path=state, audit_path=audit,
                                       model_override=factory)
            run.report, run.status = result.report, result.status
        run.wall_s = round(time.perf_counter() - started, 3)
    run.nodes = _facts(records, nodes, case)


def run_case(case: Case, cfg: RunConfig) -> CaseRun:
    """Run one case; every failure is captured as the case's error, named after the case."""
    base = cfg.work_dir or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"sopgraph-eval-{case.name}-", dir=base))
    run = CaseRun(case=case.name)
    try:
        _solve(case, cfg, work, run)
    except Exception as exc:
        run.error = describe_error(case, exc, cfg)
    finally:
        if not cfg.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return run


def describe_error(case: Case, exc: BaseException, cfg: RunConfig | None = None) -> str:
    """One message per failed case: which case, what went wrong, and what to do about it."""
    from agents.cassettes import CassetteMismatch, find_cassette_miss
    from agents.providers import ProviderError

    if isinstance(exc, CassetteMismatch) or find_cassette_miss(exc) is not None:
        from agents.cassettes import explain_cassette_miss

        text = str(exc) if isinstance(exc, CassetteMismatch) else explain_cassette_miss(exc)
        if cfg is not None and cassette_path(cfg, case).exists():
            url = recorded_base_url(cassette_path(cfg, case)) or ""
            if url.startswith(("http://127.0.0.1", "http://localhost")):
                text += ("\n  this cassette was recorded against the scripted Messages-API server (evals/scripted.py);"
                         f" re-record it the same way with: {record_command(cfg, case)} --scripted")
        return f"case {case.name}: {text}"
    if isinstance(exc, ProviderError):
        return f"case {case.name}: {exc}"
    message = getattr(exc, "message", None) or str(exc)
    hint = getattr(exc, "hint", None)
    kind = "" if isinstance(exc, ValueError | OSError) or hasattr(exc, "message") else f"{type(exc).__name__}: "
    return f"case {case.name}: {kind}{message}" + (f" (hint: {hint})" if hint else "")


# --------------------------------------------------------------------------------------------
# Many cases, in parallel
# --------------------------------------------------------------------------------------------


def _executor(kind: str, workers: int) -> Any:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    # spawn: workers must not inherit the parent's threads (progress bar, scripted server).
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_cases(cases: list[Case], cfg: RunConfig, *, workers: int = 2, executor: Literal["process", "thread"] = "process",
              on_result: Callable[[CaseRun], None] | None = None) -> list[CaseRun]:
    """Run every case (in case order in the result); threads cannot share vcrpy cassettes, so HTTP
    models always use processes."""
    if cfg.uses_http and executor == "thread":
        executor = "process"
    results: dict[str, CaseRun] = {}
    if workers <= 1 or len(cases) <= 1:
        for case in cases:
            results[case.name] = run_case(case, cfg)
            if on_result:
                on_result(results[case.name])
    else:
        with _executor(executor, workers) as pool:
            futures: dict[Future[CaseRun], Case] = {pool.submit(run_case, c, cfg): c for c in cases}
            for future in as_completed(futures):
                case = futures[future]
                try:
                    run = future.result()
                except Exception as exc:  # a worker that died (killed, out of memory)
                    run = CaseRun(case=case.name, error=f"case {case.name}: worker failed: {type(exc).__name__}: {exc}")
                results[case.name] = run
                if on_result:
                    on_result(run)
    return [results[c.name] for c in cases]


def score_runs(cases: list[Case], runs: list[CaseRun]) -> list[CaseScore]:
    from runbooks import catalog

    compiled: dict[str, Any] = {}
    scores = []
    for case, run in zip(cases, runs, strict=True):
        if case.runbook not in compiled:
            compiled[case.runbook] = catalog.load(case.runbook)
        scores.append(score_case(case, run.report, nodes=run.nodes, runbook=compiled[case.runbook],
                                 status=run.status, error=run.error, wall_s=run.wall_s))
    return scores


def prepare_bundles(cases: list[Case], cache_dir: Path) -> None:
    """Generate every bundle up front (in the parent), so workers only read the cache."""
    for case in cases:
        materialize(case, cache_dir)


__all__ = ["CaseRun", "RunConfig", "cassette_path", "model_slug", "prepare_bundles", "run_case",
           "run_cases", "score_runs"]
