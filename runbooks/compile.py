"""`Runbook` → `CompiledRunbook`: the step plan, MUST gates, decision rules, escalation
predicates, safety map and report schema the graph runs on.

The compiler is total on a parsed runbook: anything it cannot compile becomes a note (which
the linter reports as a warning), never an exception.
"""

from __future__ import annotations

import re

from runbooks.model import (
    CompiledPhase,
    CompiledRunbook,
    Gate,
    Phase,
    Rating,
    ReportSchema,
    Runbook,
    SafetyRating,
)
from runbooks.rules import CompileNote, compile_escalation, compile_rules
from runbooks.sections import SEVERITY_ORDER, template_fields

_COUNT = re.compile(r"\bcount\b", re.I)
_MAX = re.compile(r"\bmax\b", re.I)


def compile_runbook(runbook: Runbook) -> CompiledRunbook:
    compiled, _notes = compile_with_notes(runbook)
    return compiled


def load(path_or_id: str) -> CompiledRunbook:
    """Convenience for `runbooks.catalog.load`: a library id ("D3") or a path, compiled."""
    from runbooks.catalog import load as load_compiled  # catalog imports this module

    return load_compiled(path_or_id)


def compile_with_notes(runbook: Runbook) -> tuple[CompiledRunbook, list[CompileNote]]:
    notes: list[CompileNote] = []
    rules = compile_rules(runbook, notes)
    escalation = compile_escalation(runbook, rules, notes)
    compiled = CompiledRunbook(
        id=runbook.id,
        title=runbook.title,
        severity=runbook.severity,
        objective=runbook.objective,
        context=runbook.context,
        phases=[_compile_phase(p) for p in runbook.phases],
        guardrails=runbook.guardrails,
        escalation=escalation,
        safety_map=safety_map(runbook.guardrails.safety_ratings),
        labels=list(runbook.labels),
        triggers=list(runbook.triggers),
        rules=rules,
        common_issues=list(runbook.common_issues),
        report=_report_schema(runbook),
        source=runbook.source,
    )
    return compiled, notes


def _compile_phase(phase: Phase) -> CompiledPhase:
    must = [s for s in phase.steps if s.priority == "MUST"]
    gate = Gate(
        phase=phase.name,
        required=[s for s in must if s.tool],
        reasoning=[s for s in must if not s.tool],
    )
    tools = list(dict.fromkeys(s.tool for s in phase.steps if s.tool))
    return CompiledPhase(name=phase.name, steps=list(phase.steps), gate=gate, tools=tools)


def safety_map(ratings: list[SafetyRating]) -> dict[str, Rating]:
    """Action name → rating, and each tool an action covers → rating; the most severe wins."""
    out: dict[str, Rating] = {}
    for r in ratings:
        for key in (r.action, *r.tools):
            if key not in out or SEVERITY_ORDER[r.rating] > SEVERITY_ORDER[out[key]]:
                out[key] = r.rating
    return out


def _report_schema(runbook: Runbook) -> ReportSchema:
    template = runbook.output_format
    report_phases = [p for p in runbook.phases if "report" in p.name.lower()] or runbook.phases[-1:]
    texts = [template or ""] + [s.text for p in report_phases for s in p.steps]
    wants = any(_COUNT.search(t) for t in texts) and any(_MAX.search(t) for t in texts)
    return ReportSchema(
        labels=list(runbook.labels),
        template=template,
        fields=template_fields(template) if template else [],
        wants_conntrack_counts=wants,
    )
