"""The runbook linter: every problem as `FILE:LINE: severity: message`; it never raises.

Errors are what makes a runbook wrong or unusable (unclosed frontmatter, bad YAML, a missing
required field, a tool that does not exist, an empty priority block, an Output Format with no
labels, a safety rating with no colour). Warnings are what the compiler could not turn into
something machine-checkable (a rule with no label, an escalation condition it cannot evaluate).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from runbooks.compile import compile_with_notes
from runbooks.errors import UNNAMED, Diagnostics, LintIssue, RunbookError
from runbooks.model import DESIGN_TOOL_NAMES, Phase
from runbooks.parse import parse_with_diagnostics, read_text
from runbooks.steps import unknown_params


def lint(text: str, path: str | None = None, tool_names: Iterable[str] = DESIGN_TOOL_NAMES) -> list[LintIssue]:
    """All issues of one runbook, sorted by line. Never raises, whatever `text` holds."""
    try:
        return _lint(text, path, frozenset(tool_names))
    except Exception as exc:  # the contract is "never a traceback": report the bug as an issue
        return [LintIssue(path=path or UNNAMED, line=0, severity="error",
                          message=f"internal linter error ({type(exc).__name__}: {exc}); please report it")]


def lint_path(path: str | Path, tool_names: Iterable[str] = DESIGN_TOOL_NAMES) -> list[LintIssue]:
    """Lints a file; a missing or unreadable file is one error issue, not an exception."""
    try:
        text = read_text(path)
    except RunbookError as exc:
        return [LintIssue(path=str(path), line=exc.line, severity="error", message=exc.message)]
    return lint(text, str(path), tool_names)


def has_errors(issues: Iterable[LintIssue]) -> bool:
    return any(i.severity == "error" for i in issues)


def _lint(text: str, path: str | None, tool_names: frozenset[str]) -> list[LintIssue]:
    runbook, diag = parse_with_diagnostics(text, path)
    if runbook is None:
        return diag.sorted()
    _check_tools(runbook.phases, tool_names, diag)
    _compiled, notes = compile_with_notes(runbook)
    for note in notes:
        diag.warning(note.line, note.message)
    return diag.sorted()


def _check_tools(phases: list[Phase], tool_names: frozenset[str], diag: Diagnostics) -> None:
    known = ", ".join(sorted(tool_names))
    for phase in phases:
        for step in phase.steps:
            if step.tool is None:
                continue
            if step.tool not in tool_names:
                diag.error(step.line, f"unknown tool '{step.tool}' (known tools: {known})")
                continue
            for name in unknown_params(step.text):
                diag.warning(step.line, f"'{step.tool}' step passes '{name}=', which no tool parameter is called")
