"""`sopgraph tools list | call NAME --arg key=value … [--bundle PATH]`: the tools by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from graphs.cli.errors import EXIT_FAILURE, CliError

app = typer.Typer(help="List and call the diagnostic tools.", no_args_is_help=True)


def parse_arg(raw: str) -> tuple[str, Any]:
    """`key=value`; a value that looks like JSON (list, object, number, bool) is decoded as JSON."""
    if "=" not in raw:
        raise CliError(f"--arg {raw!r} is not key=value")
    key, value = raw.split("=", 1)
    key = key.strip()
    if not key:
        raise CliError(f"--arg {raw!r} has an empty key")
    if value[:1] in "[{":
        try:
            return key, json.loads(value)
        except ValueError as exc:
            raise CliError(f"--arg {key}: value is not valid JSON: {exc}") from exc
    return key, value


def open_context(bundles: list[Path], store_dir: Path | None, runbook_paths: list[Path] | None = None):
    from tools.bundle.errors import BundleError
    from tools.bundle.store import BundleStore
    from tools.context import ToolContext

    store = BundleStore(store_dir)
    ctx = ToolContext(store=store, runbook_paths=list(runbook_paths or []))
    for b in bundles:
        if not b.exists():
            raise CliError(f"bundle {b} does not exist")
        try:
            record = store.ingest(b)
        except BundleError as exc:
            raise CliError(str(exc), hint=exc.hint) from exc
        if record.instance_id not in ctx.instance_ids:
            ctx.instance_ids.append(record.instance_id)
    return ctx


@app.command("list")
def list_tools(as_json: bool = typer.Option(False, "--json", help="print name, summary and parameters as JSON")) -> None:
    """The registered tools and their parameters."""
    from tools.registry import registry

    specs = registry()
    if as_json:
        typer.echo(json.dumps([
            {"name": s.name, "summary": s.summary, "read_only": s.read_only,
             "parameters": list(s.args_model.model_fields)}
            for s in sorted(specs.values(), key=lambda s: s.name)
        ], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("tool", "parameters", "what it does")
    for s in sorted(specs.values(), key=lambda s: s.name):
        table.add_row(s.name, ", ".join(s.args_model.model_fields), s.summary)
    Console().print(table)


@app.command("call")
def call(
    name: str = typer.Argument(..., help="tool name, e.g. errors"),
    arg: list[str] = typer.Option([], "--arg", "-a", help="key=value (repeatable); JSON for lists"),
    bundle: list[Path] = typer.Option([], "--bundle", "-b", help="bundle directory or .tar.gz to ingest first"),
    store: Path | None = typer.Option(None, "--store", help="bundle store directory (default $SOPGRAPH_HOME/bundles)"),
) -> None:
    """Call one tool and print its JSON result (exit 2 when the tool refuses the call)."""
    from tools.registry import call_tool

    args = dict(parse_arg(a) for a in arg)
    ctx = open_context(bundle, store)
    outcome = call_tool(ctx, name, args)
    if not outcome.ok:
        raise CliError(outcome.error or "tool call failed", hint=outcome.hint,
                       exit_code=EXIT_FAILURE if outcome.code == "internal" else 2)
    typer.echo(json.dumps(outcome.result, indent=2, default=str))
