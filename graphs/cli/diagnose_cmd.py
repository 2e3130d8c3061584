"""`sopgraph diagnose`: one incident from bundles (or an instance) to a grounded report.

The report alone goes to stdout (JSON or YAML); progress goes to stderr, so the command composes
in pipelines. Exit codes: 0 report done, 3 waiting for approval, 2 bad input, 1 unexpected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from graphs.cli.errors import EXIT_WAITING_APPROVAL, CliError


def _progress(quiet: bool):
    if quiet:
        return None
    from rich.console import Console

    console = Console(stderr=True, highlight=False)

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "phase":
            console.print(f"[bold]▶ phase {data['index']}/{data['of']}: {data['phase']}[/]")
        elif kind == "tool":
            mark = "[green]✓[/]" if data["ok"] else "[red]✗[/]"
            forced = " [yellow](forced by gate)[/]" if data.get("forced") else ""
            ids = f" → {', '.join(data['ids'])}" if data.get("ids") else ""
            err = f" [red]{data['error']}[/]" if data.get("error") else ""
            console.print(f"  {mark} {data['tool']}{forced}{ids}{err}")
        elif kind == "gate":
            if data.get("action") == "re-ask":
                console.print(f"  [yellow]gate: missing {data['missing']} — asking the agent again[/]")
            elif data.get("forced"):
                console.print(f"  [yellow]gate: ran {', '.join(data['forced'])} itself[/]")
        elif kind == "decide":
            console.print(f"[bold]▶ rules:[/] labels={data['labels'] or 'none'} escalate={data['escalate']}")
        elif kind == "approval":
            console.print(f"[bold]▶ approval:[/] {data['decision']} by {data['by']}: {data['action'][:60]}")

    return on_event


def emit(report: dict[str, Any] | None, fmt: str, out: Path | None, extra: dict[str, Any] | None = None) -> None:
    payload = dict(report or {})
    if extra:
        payload.update(extra)
    if fmt == "yaml":
        import yaml

        text = yaml.safe_dump(payload, sort_keys=False, allow_unicode=True, width=120)
    else:
        text = json.dumps(payload, indent=2, default=str)
    if out:
        from tools.atomic import write_text_atomic

        write_text_atomic(out, text + "\n")
    else:
        sys.stdout.write(text + "\n")


def select_runbook(runbook: str | None, alert: str | None, ctx: Any, extra_paths: list[Path]):
    """--runbook wins; else the alert text; else the headline findings of the bundles."""
    from runbooks import catalog
    from runbooks.errors import RunbookError

    try:
        dirs = [catalog.library_dir(), *extra_paths]
        if runbook:
            return catalog.load(runbook, dirs)
        text = alert or ""
        if not text:
            parts = []
            for iid in ctx.instance_ids:
                idx = ctx.index(ctx.record(iid))
                parts += [f"{f.title} {f.sample} {f.counter or ''}" for f in idx.findings if f.severity in ("CRITICAL", "HIGH")]
            text = "\n".join(parts)
        compiled = [catalog.load(e.path) for e in catalog.list_runbooks(dirs) if e.error is None]
        matches = catalog.match_alert(text, compiled)
    except RunbookError as exc:
        raise CliError(str(exc)) from exc
    if not matches:
        known = ", ".join(c.id for c in compiled)
        raise CliError("no runbook's triggers match " + ("the alert" if alert else "the bundle's findings"),
                       hint=f"pass --runbook ID (known: {known})")
    best_id = matches[0][0]
    return next(c for c in compiled if c.id == best_id)


def register(app: typer.Typer) -> None:
    @app.command("diagnose")
    def diagnose(
        bundle: list[Path] = typer.Option([], "--bundle", "-b", help="bundle directory or .tar.gz (repeat for a multi-node incident)"),
        instance: list[str] = typer.Option([], "--instance", "-i", help="instance id whose bundle is in the store (or to collect with --backend aws)"),
        backend: str = typer.Option("local", "--backend", help="local | aws"),
        runbook: str | None = typer.Option(None, "--runbook", "-r", help="runbook id or path (default: matched from --alert or the findings)"),
        alert: str | None = typer.Option(None, "--alert", help="alert text, matched against the runbooks' triggers"),
        model: str | None = typer.Option(None, "--model", "-m", help="offline | anthropic:MODEL | bedrock:MODEL (default: $SOPGRAPH_MODEL or offline)"),
        fmt: str = typer.Option("json", "--format", "-f", help="json | yaml"),
        out: Path | None = typer.Option(None, "--out", "-o", help="write the report here instead of stdout"),
        thread: str | None = typer.Option(None, "--thread", help="thread id: continue this run if it exists"),
        store: Path | None = typer.Option(None, "--store", help="bundle store directory"),
        cluster: str | None = typer.Option(None, "--cluster", help="cluster name, when the bundles do not say"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress on stderr"),
        bucket: str | None = typer.Option(None, "--bucket", help="aws: S3 bucket the collector uploads to"),
        role_arn: str | None = typer.Option(None, "--role-arn", help="aws: AutomationAssumeRole for SSM"),
        region: list[str] = typer.Option([], "--region", help="aws: region(s) to look for the instance in"),
        profile: str | None = typer.Option(None, "--profile", help="aws: named profile"),
        endpoint_url: str | None = typer.Option(None, "--endpoint-url", hidden=True, help="aws: endpoint (tests)"),
    ) -> None:
        """Diagnose an incident and print the report (exit 3 when an action waits for approval)."""
        from agents.providers import ProviderError, default_model_spec, parse_model_spec
        from graphs import runner
        from graphs.cli.tools_cmd import open_context

        if fmt not in ("json", "yaml"):
            raise CliError(f"--format must be json or yaml, not {fmt!r}")
        if backend not in ("local", "aws"):
            raise CliError(f"--backend must be local or aws, not {backend!r}")
        backend_settings = None
        if backend == "aws":
            from tools.aws.config import ConfigError, load_config

            try:
                backend_settings = load_config(bucket=bucket, role_arn=role_arn, regions=region or None,
                                               profile=profile, endpoint_url=endpoint_url).model_dump(mode="json")
            except ConfigError as exc:
                raise CliError(str(exc), hint=exc.hint) from exc
            if not instance:
                raise CliError("--backend aws needs --instance ID")
            if not runbook and not alert:
                raise CliError("--backend aws needs --runbook or --alert (there is no bundle to match yet)")
        spec = model or default_model_spec()
        try:
            parse_model_spec(spec)
        except ProviderError as exc:
            raise CliError(str(exc)) from exc
        on_event = _progress(quiet)
        if thread:
            try:
                outcome = runner.resume(thread, on_event=on_event, allow_finished=True)
            except runner.RunError as exc:
                if exc.code != "unknown_thread":
                    raise CliError(exc.message, hint=exc.hint) from exc
                outcome = None
            if outcome is not None:
                return _finish(outcome, fmt, out)
        if not bundle and not instance:
            raise CliError("give --bundle PATH (one or more) or --instance ID")
        ctx = open_context(bundle, store)
        for iid in instance:
            if backend_settings is None:
                try:
                    ctx.store.get(iid)
                except Exception as exc:
                    raise CliError(f"no bundle for instance {iid} in the store", hint="pass --bundle PATH") from exc
            if iid not in ctx.instance_ids:
                ctx.instance_ids.append(iid)
        compiled = select_runbook(runbook, alert, ctx, [])
        clusters = set() if backend_settings else {ctx.record(i).manifest.cluster for i in ctx.instance_ids} - {None}
        try:
            outcome = runner.start(
                runbook=compiled, instance_ids=ctx.instance_ids, store_dir=ctx.store.home, model=spec, alert=alert,
                cluster=cluster or (clusters.pop() if len(clusters) == 1 else None), thread_id=thread,
                on_event=on_event, backend=backend_settings,
            )
        except ProviderError as exc:
            raise CliError(str(exc)) from exc
        except runner.RunError as exc:
            raise CliError(exc.message, hint=exc.hint) from exc
        _finish(outcome, fmt, out)


def _finish(outcome: Any, fmt: str, out: Path | None) -> None:
    if outcome.status == "waiting_approval":
        emit(outcome.report, fmt, out, {"status": "waiting_approval",
                                         "pending_approvals": [p.model_dump() for p in outcome.pending]})
        typer.echo(f"waiting for approval: thread {outcome.thread_id} "
                   f"(sopgraph approvals approve {outcome.thread_id} --by NAME --reason TEXT)", err=True)
        raise typer.Exit(EXIT_WAITING_APPROVAL)
    if outcome.status != "done":
        raise CliError(f"run {outcome.thread_id} stopped before finishing", hint=f"sopgraph approvals resume {outcome.thread_id}",
                       exit_code=1)
    emit(outcome.report, fmt, out)
