"""`sopgraph eval` (registered through the `sopgraph.commands` entry point).

Only typer is imported at module level: this module is loaded on every `sopgraph` start-up.
Exit codes: 0 every case as expected, 1 some case failed (or a cassette no longer replays), 2 bad
input (unknown option value, no matching case, bad case file, missing baseline).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        model: str = typer.Option("offline", "--model", "-m", help="offline | anthropic:MODEL | bedrock:MODEL-ID"),
        graph: str = typer.Option("compiled", "--graph", help="compiled (the runbook graph) | react (baseline agent)"),
        cases: str = typer.Option("*", "--cases", help="glob over case names, e.g. 'kernel-*'"),
        runbook: str = typer.Option("D3", "--runbook", help="runbook whose cases to run (evals/cases/<runbook>/)"),
        record: bool = typer.Option(False, "--record", help="re-record the HTTP model's cassettes (needs the API)"),
        out: Path | None = typer.Option(None, "--out", "-o", help="write results.json, junit.xml, report.md here "
                                        "(default $SOPGRAPH_HOME/evals/<model>)"),
        baseline: Path | None = typer.Option(None, "--baseline", help="an earlier results.json: print what changed"),
        workers: int = typer.Option(2, "--workers", "-j", min=1, max=32, help="cases run in parallel"),
        executor: str = typer.Option("process", "--executor", help="process | thread (HTTP models always use processes)"),
        cache: Path | None = typer.Option(None, "--cache", help="generated-bundle cache (default "
                                          "$SOPGRAPH_EVAL_CACHE or ~/.cache/sopgraph/eval-bundles)"),
        cassettes: Path | None = typer.Option(None, "--cassettes", help="cassette library (default evals/cassettes)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
        scripted: bool = typer.Option(False, "--scripted", hidden=True,
                                      help="record against the built-in scripted Messages-API server"),
        keep_work: bool = typer.Option(False, "--keep-work", hidden=True, help="keep each case's scratch directory"),
    ) -> None:
        """Run the eval cases on a model and score them (replays recorded cassettes for HTTP models)."""
        from evals.run import EvalOptions, run_eval

        code = run_eval(EvalOptions(
            model=model, graph=graph, cases=cases, runbook=runbook, record=record, out=out, baseline=baseline,
            workers=workers, executor=executor, cache=cache, cassettes=cassettes, quiet=quiet, scripted=scripted, keep_work=keep_work,
        ))
        raise typer.Exit(code)
