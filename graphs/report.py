"""Assembling the report: the runbook's Output Format plus the machine fields of DESIGN.md.

The report is built from the deterministic evidence and the call log; the model's draft is
accepted only where it is grounded (every cited ID resolves) and consistent with the rules.
Counts and limits are copied from parsed bundle values with their source line, never from the
model's text.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from graphs.guardrails import classify
from runbooks.model import CompiledRunbook

INCONCLUSIVE = "inconclusive"


class Evidence(BaseModel):
    type: Literal["finding", "search"]
    content: str
    finding_ids: list[str]


class Mitigation(BaseModel):
    immediate: str
    long_term: str
    verification: str = ""


class ProposedAction(BaseModel):
    action: str
    rating: Literal["GREEN", "YELLOW", "RED"]
    status: Literal["done", "pending_approval", "approved", "rejected", "operator_action"]
    approval_id: str | None = None
    label: str | None = None
    note: str = ""


class Report(BaseModel):
    """Keys always present (DESIGN.md); validated before anything is printed."""

    model_config = ConfigDict(extra="allow")
    root_cause: str
    labels: list[str]
    evidence: list[Evidence]
    severity: str
    mitigation: Mitigation
    escalate: bool
    escalation_reasons: list[str]
    conntrack: dict[str, Any] | None
    steps: list[dict[str, Any]]
    must_compliance: dict[str, Any]
    approvals: list[dict[str, Any]]
    usage: dict[str, Any]
    runbook: dict[str, str]
    instance_ids: list[str]
    thread_id: str
    proposed_actions: list[ProposedAction]
    grounding: dict[str, Any] = Field(default_factory=dict)


def template_values(runbook: CompiledRunbook) -> dict[str, Any]:
    if not runbook.report.template:
        return {}
    try:
        data = yaml.safe_load(runbook.report.template)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def root_cause_text(runbook: CompiledRunbook, labels: list[str]) -> str:
    if not labels:
        return INCONCLUSIVE
    template = str(template_values(runbook).get("root_cause") or "")
    joined = " + ".join(labels)
    if "<" in template and ">" in template:
        start, end = template.index("<"), template.index(">")
        return (template[:start] + joined + template[end + 1 :]).strip()
    return joined


def propose_actions(runbook: CompiledRunbook, labels: list[str]) -> list[ProposedAction]:
    actions: list[ProposedAction] = []
    seen: set[str] = set()
    for rule in runbook.rules:
        if rule.label in labels and rule.resolution and rule.resolution not in seen:
            seen.add(rule.resolution)
            rating, entry = classify(rule.resolution, runbook)
            actions.append(ProposedAction(
                action=rule.resolution.strip(), rating=rating,
                status="operator_action" if rating == "GREEN" else "pending_approval",
                label=rule.label,
                note=f"rated by safety entry '{entry.action}'" if entry else "no safety entry matches: treated as RED",
            ))
    return actions


def mitigation(runbook: CompiledRunbook, labels: list[str], gaps: list[str]) -> Mitigation:
    tmpl = template_values(runbook).get("mitigation") or {}
    long_term = str(tmpl.get("long_term") or "") if isinstance(tmpl, dict) else ""
    fixes = [r.resolution.strip() for r in runbook.rules if r.label in labels and r.resolution]
    fixes = list(dict.fromkeys(fixes))
    if labels:
        fallback = str(tmpl.get("immediate") or "") if isinstance(tmpl, dict) else ""
        immediate = " ".join(fixes) or fallback
        signals = ", ".join(f"'{t}'" for t in runbook.triggers)
        verification = (
            "After the fix, new connections should be established again: no new "
            f"{signals} should appear and the dropped-packet counters cited above should stop increasing."
        )
    else:
        missing = "; ".join(gaps[:5])
        immediate = (
            "No limit is shown to be hit by the bundle's evidence; do not change limits. "
            + (f"Missing evidence: {missing}. Re-collect the bundle." if missing else "Keep monitoring.")
        )
        verification = "Nothing to verify: no fix was proposed."
    return Mitigation(immediate=immediate, long_term=long_term, verification=verification)
