"""`sopgraph runbooks list | show | lint | compile`.

Only typer is imported at module level: the runbook modules (pydantic, PyYAML) and rich load
inside the commands so `sopgraph --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from graphs.cli.errors import EXIT_FAILURE, CliError

if TYPE_CHECKING:
    from runbooks.errors import LintIssue
    from runbooks.model import CompiledRunbook

app = typer.Typer(help="List, show, lint and compile runbooks.", no_args_is_help=True)


FORMATS = ("json", "yaml")


def _tool_names() -> frozenset[str]:
    """The live tool registry's names when the tools are installed, else DESIGN.md's set."""
    from runbooks.model import DESIGN_TOOL_NAMES

    try:
        from tools.registry import tool_names

        names = frozenset(tool_names())
    except Exception:  # tools not built yet, or broken: lint against the documented set
        names = frozenset()
    return names or DESIGN_TOOL_NAMES


def _load(path_or_id: str, dirs: list[Path] | None = None) -> CompiledRunbook:
    from runbooks.catalog import library_dir, load
    from runbooks.errors import RunbookError

    try:
        return load(path_or_id, [*dirs, library_dir()] if dirs else None)
    except RunbookError as exc:
        raise CliError(str(exc), hint="run `sopgraph runbooks lint` on the file for every problem, "
                                      "or `sopgraph runbooks list` for the known ids") from None


@app.command("list")
def list_cmd(
    dirs: list[Path] = typer.Option(None, "--dir", help="Directory of runbooks (repeatable); default: the library."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the runbooks: id, title, severity, number of phases, file."""
    from runbooks.catalog import list_runbooks

    for d in dirs or []:
        if not d.is_dir():
            raise CliError(f"{d}: not a directory")
    entries = list_runbooks(dirs or None)
    if as_json:
        typer.echo(json.dumps([e.model_dump() for e in entries], indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("id", "title", "severity", "phases", "path")
    for e in entries:
        table.add_row(escape(e.id), escape(e.error or e.title), escape(e.severity),
                      str(e.phases) if not e.error else "-", escape(e.path))
    Console().print(table)


@app.command("show")
def show(
    runbook: str = typer.Argument(..., help="Runbook id (e.g. D3) or path to a runbook .md file."),
    dirs: list[Path] = typer.Option(None, "--dir", help="Extra runbook directory to look ids up in."),
) -> None:
    """A human summary: phases and steps, rules, guardrails, labels."""
    compiled = _load(runbook, dirs or None)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Runbook text is data: escape it so "[x]" in a step is printed, not taken for rich markup.
    console = Console()
    say = console.print
    say(f"[bold]{escape(compiled.title)}[/bold] (id {escape(compiled.id)}, severity {escape(compiled.severity or '-')})")
    if compiled.objective:
        say(f"objective: {escape(compiled.objective)}")
    say(f"source: {escape(compiled.source or '-')}")
    say(f"triggers: {escape(', '.join(compiled.triggers) or '-')}")
    say(f"labels: {escape(', '.join(compiled.labels) or '-')}")
    for phase in compiled.phases:
        table = Table("line", "priority", "tool", "args", "condition", "text", title=f"Phase: {escape(phase.name)}",
                      title_justify="left")
        for s in phase.steps:
            args = ", ".join(k if v is None else f"{k}={v}" for k, v in s.args.items())
            table.add_row(str(s.line), s.priority, escape(s.tool or "(reasoning)"), escape(args),
                          escape(s.condition or ""), escape(s.text.split("\n", 1)[0]))
        say(table)
        gate = ", ".join(st.tool or "" for st in phase.gate.required) or "none"
        say(f"  gate: MUST tools {escape(gate)}; {len(phase.gate.reasoning)} reasoning step(s)")
    if compiled.rules:
        rules = Table("id", "evidence", "label", "from", title="Decision rules", title_justify="left")
        for r in compiled.rules:
            ev = r.evidence
            what = (f"counter {ev.counter} {ev.op} {ev.threshold:g}" if ev.kind == "counter"
                    else f"{ev.tool} {ev.query!r}")
            rules.add_row(r.id, escape(what), escape(r.label or "(none)"), f"line {r.line} ({r.source})")
        say(rules)
    for p in compiled.escalation:
        say(escape(f"escalate if: {p.text}  → labels={p.labels_any} categories={p.categories_any} "
                   f"min_nodes={p.min_nodes}{' requires_label' if p.requires_label else ''}"))
    for r in compiled.guardrails.safety_ratings:
        say(escape(f"safety: {r.action}: {r.rating}{' — ' + r.note if r.note else ''}"))


@app.command("lint")
def lint_cmd(
    paths: list[str] = typer.Argument(..., help="Runbook files or directories (ids of library runbooks work too)."),
) -> None:
    """Check runbooks; prints FILE:LINE: severity: message and exits 1 if there is any error."""
    from runbooks.lint import lint_path

    tool_names = _tool_names()
    issues: list[LintIssue] = []
    files = 0
    for target in _lint_targets(paths):
        files += 1
        issues.extend(lint_path(target, tool_names) if isinstance(target, str) else [target])
    for issue in issues:
        typer.echo(issue.format())
    errors = sum(1 for i in issues if i.severity == "error")
    summary = f"{files} file(s): {errors} error(s), {len(issues) - errors} warning(s)"
    if errors:
        # An exception, not typer.Exit: main() maps CliError to its exit code (lint failed → 1).
        raise CliError(summary, exit_code=EXIT_FAILURE)
    typer.echo(summary, err=True)


def _lint_targets(paths: list[str]) -> list[str | LintIssue]:
    """Files as given, directories expanded to their *.md, library ids resolved to their file."""
    from runbooks.catalog import find
    from runbooks.errors import LintIssue, RunbookError

    targets: list[str | LintIssue] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(p.glob("*.md"))
            targets.extend(str(f) for f in found)
            if not found:
                targets.append(LintIssue(path=raw, line=0, severity="error", message="directory has no *.md runbooks"))
        elif p.exists() or "/" in raw or raw.endswith(".md"):
            targets.append(raw)  # a missing file becomes one error line from lint_path
        else:
            try:
                targets.append(str(find(raw)))
            except RunbookError as exc:
                targets.append(LintIssue(path=raw, line=0, severity="error",
                                         message=f"no such file, and {exc.message}"))
    return targets


@app.command("compile")
def compile_cmd(
    runbook: str = typer.Argument(..., help="Runbook id (e.g. D3) or path to a runbook .md file."),
    fmt: str = typer.Option("json", "--format", "-f", help="Output format: json or yaml."),
    dirs: list[Path] = typer.Option(None, "--dir", help="Extra runbook directory to look ids up in."),
) -> None:
    """Compile a runbook to the plan the graph runs: phases, gates, rules, guardrails, labels."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise CliError(f"unknown --format {fmt!r}", hint="use --format json or --format yaml")
    compiled = _load(runbook, dirs or None)
    data = compiled.model_dump(mode="json")
    if fmt == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110), nl=False)
    else:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
