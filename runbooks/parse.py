"""Runbook markdown → `Runbook`.

`parse_with_diagnostics` never raises: it returns the runbook (None when a fatal problem makes
it unusable) and every issue it noticed, which is what the linter reports. `parse_runbook` is
the strict form the compiler and the graph use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from runbooks.errors import Diagnostics, RunbookError
from runbooks.frontmatter import (
    Frontmatter,
    check_fields,
    runbook_id,
    split_frontmatter,
    text_field,
    triggers_of,
)
from runbooks.model import Guardrails, Phase, Runbook
from runbooks.sections import (
    fenced_blocks,
    labels_of,
    parse_common_issues,
    parse_guardrails,
    section_text,
)
from runbooks.steps import parse_phase
from runbooks.text import FenceTracker, split_lines, strip_decoration

_HEADING = re.compile(r"^ {0,3}(#{1,2})[ \t]+(.*?)[ \t#]*$")
_PHASE = re.compile(r"^phase\s+([0-9]+[a-z]?|[ivx]+)\b\s*(?:[—–:.\-]+\s*)?(.*)$", re.I)
_GUARDRAIL_SECTIONS: dict[str, str | None] = {
    "guardrails": None,
    "guardrail": None,
    "safety ratings": "safety_ratings",
    "safety rating": "safety_ratings",
    "escalation conditions": "escalation_conditions",
    "escalation": "escalation_conditions",
    "escalations": "escalation_conditions",
    "approvers": "approvers",
    "approvals": "approvers",
}
_COMMON_ISSUES = {"common issues", "common problems", "known issues"}
_EXAMPLES = {"examples", "example"}
_OUTPUT = {"output format", "output", "report format"}


@dataclass
class _Section:
    title: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)


def parse_with_diagnostics(text: str, path: str | None = None) -> tuple[Runbook | None, Diagnostics]:
    """Parses leniently, recording every problem. The runbook is None after a fatal problem."""
    diag = Diagnostics(path)
    lines = split_lines(text)
    fm = split_frontmatter(lines, diag)
    if fm is None:
        return None, diag
    yaml_ok = not diag.has_fatal
    if yaml_ok:
        check_fields(fm, diag)
    runbook = _body(lines, fm, path, diag, check_identity=yaml_ok)
    if diag.has_fatal or runbook is None:
        return None, diag
    return runbook, diag


def parse_runbook(text: str, path: str | None = None) -> Runbook:
    """The runbook, or RunbookError naming the file and line of the first fatal problem."""
    runbook, diag = parse_with_diagnostics(text, path)
    diag.raise_first_fatal()
    if runbook is None:  # pragma: no cover - every None comes with a fatal issue
        raise RunbookError(path, 0, "runbook could not be parsed")
    return runbook


def read_text(path: str | Path) -> str:
    """The file as text; RunbookError (not OSError/UnicodeDecodeError) when it cannot be read."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError(str(path), 0, "no such file") from None
    except IsADirectoryError:
        raise RunbookError(str(path), 0, "is a directory, not a runbook file") from None
    except OSError as exc:
        raise RunbookError(str(path), 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RunbookError(str(path), line, f"not UTF-8 text (byte {exc.start})") from None


def parse_file(path: str | Path) -> Runbook:
    runbook = parse_runbook(read_text(path), str(path))
    runbook.source = str(path)
    return runbook


def _sections(lines: list[str], start: int, diag: Diagnostics) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    fence = FenceTracker()
    fence_line = 0
    for idx in range(start, len(lines)):
        raw = lines[idx]
        n = idx + 1
        was_inside = fence.inside
        if fence.feed(raw):
            if not was_inside:
                fence_line = n
            if current is not None:
                current.body.append((n, raw))
            continue
        if not fence.inside:
            m = _HEADING.match(raw)
            if m:
                current = _Section(m.group(2).strip(), n)
                sections.append(current)
                continue
        if current is not None:
            current.body.append((n, raw))
    if fence.inside:
        diag.warning(fence_line, f"code fence opened at line {fence_line} is not closed")
    return sections


def _body(lines: list[str], fm: Frontmatter, path: str | None, diag: Diagnostics, *,
          check_identity: bool) -> Runbook | None:
    phases: dict[str, Phase] = {}
    guardrails = Guardrails()
    common_issues = []
    examples: list[str] = []
    output_format: str | None = None
    labels: list[str] = []
    seen: dict[str, int] = {}
    saw_guardrails = False

    for sec in _sections(lines, fm.body_start, diag):
        title = strip_decoration(sec.title)
        key = " ".join(title.lower().split())
        if key in seen:
            diag.warning(sec.line, f"heading '{sec.title}' repeats line {seen[key]}; the sections are merged")
        else:
            seen[key] = sec.line
        phase_match = _PHASE.match(title)
        if phase_match:
            name = phase_match.group(2).strip() or f"Phase {phase_match.group(1)}"
            parsed = parse_phase(name, sec.line, sec.body, diag)
            existing = phases.get(name.lower())
            if existing is None:
                phases[name.lower()] = parsed
            else:
                existing.steps.extend(parsed.steps)
            continue
        if key in _GUARDRAIL_SECTIONS:
            saw_guardrails = True
            parse_guardrails(_GUARDRAIL_SECTIONS[key], sec.body, diag, guardrails)
        elif key in _COMMON_ISSUES:
            common_issues.extend(parse_common_issues(sec.body, diag))
        elif key in _EXAMPLES:
            blocks = fenced_blocks(sec.body)
            examples.extend(b for _, b in blocks if b.strip())
            if not blocks and section_text(sec.body).strip():
                examples.append(section_text(sec.body))
        elif key in _OUTPUT:
            blocks = fenced_blocks(sec.body)
            template = blocks[0][1] if blocks else section_text(sec.body)
            found = labels_of(template) if template.strip() else []
            if output_format is None or (found and not labels):
                output_format, labels = template, found
            if not template.strip():
                diag.error(sec.line, "Output Format section is empty: it needs the report's YAML template")
            elif not found:
                diag.error(sec.line, "Output Format has no <label_a|label_b> alternatives: "
                                     "the report could not name a root cause")

    end_line = max(1, len(lines) - (1 if lines and not lines[-1] else 0))
    if not phases:
        diag.error(end_line, "no phases: add '## Phase 1 — <name>' sections with MUST/SHOULD/MAY steps",
                   fatal=True)
    for phase in phases.values():
        if not phase.steps:
            diag.error(phase.line, f"phase '{phase.name}' has no steps")
    if output_format is None:
        diag.error(end_line, "no '## Output Format' section: the report needs its template and labels")
    if not saw_guardrails:
        diag.warning(end_line, "no '## Guardrails' section: no escalation conditions or safety ratings")

    title = text_field(fm, "title")
    rid = runbook_id(title, text_field(fm, "id"), path)
    if rid is None:
        if check_identity:
            diag.error(fm.open_line, "cannot tell the runbook id: start the title with it ('D3 — Name') "
                                     "or add an 'id:' field", fatal=True)
        return None
    return Runbook(
        id=rid,
        title=title or rid,
        description=text_field(fm, "description"),
        status=text_field(fm, "status"),
        severity=text_field(fm, "severity").upper(),
        triggers=triggers_of(fm),
        owner=text_field(fm, "owner"),
        objective=text_field(fm, "objective"),
        context=text_field(fm, "context"),
        phases=list(phases.values()),
        guardrails=guardrails,
        common_issues=common_issues,
        examples=examples,
        output_format=output_format,
        labels=labels,
        source=path,
    )
