"""Turning a runbook step into concrete tool calls, and checking a call log against a step.

Shared by the offline policy (which follows the plan), the graph's gates (which check and force
MUST steps) and the report (which records what ran). Keeping one definition of "this call
satisfies that step" is what makes MUST compliance mean the same thing everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from runbooks.model import Step

# Tools that look at one node: a step naming them is done once per node of the incident.
INSTANCE_SCOPED = frozenset(
    {"collect", "validate", "errors", "read", "search", "correlate", "summarize", "network_diagnostics"}
)
FLEET_TOOLS = frozenset({"cluster_health", "compare_nodes"})
_ID = re.compile(r"\b[FS]-\d{3,}\b")


class CallContext(BaseModel):
    """What argument binding may draw on: the incident, and what earlier calls returned."""

    instance_ids: list[str]
    cluster: str | None = None
    executions: dict[str, str] = Field(default_factory=dict)  # instance → executionId
    candidate_ids: dict[str, list[str]] = Field(default_factory=dict)  # instance → F-/S- ids worth summarizing


def literal_args(step: Step) -> dict[str, str]:
    """The arguments the runbook fixes (query, sections, pivotEvent); bare names bind at run time."""
    return {k: v for k, v in step.args.items() if v is not None}


def bind(step: Step, instance_id: str | None, cc: CallContext) -> dict[str, Any] | None:
    """Concrete arguments for `step` on one node, or None when a prerequisite is missing."""
    if step.tool is None:
        return None
    args: dict[str, Any] = dict(literal_args(step))
    if step.tool in INSTANCE_SCOPED and instance_id:
        args["instanceId"] = instance_id
    if "executionId" in step.args or step.tool == "status":
        eid = cc.executions.get(instance_id or "")
        if not eid:
            return None
        args = {"executionId": eid}
    if "finding_ids" in step.args or step.tool == "summarize":
        ids = cc.candidate_ids.get(instance_id or "", [])
        if not ids:
            return None
        args["finding_ids"] = ids
    if ("clusterName" in step.args or step.tool == "cluster_health") and cc.cluster:
        args["clusterName"] = cc.cluster
    if step.tool == "compare_nodes":
        args["instanceIds"] = list(cc.instance_ids)
    if "sections" in args and isinstance(args["sections"], str):
        args["sections"] = args["sections"]
    return args


def targets(step: Step, cc: CallContext) -> list[str | None]:
    """The nodes a step runs on: every node for per-node tools, once for fleet tools."""
    if step.tool in INSTANCE_SCOPED or step.tool == "status":
        return list(cc.instance_ids)
    return [None]


def call_satisfies(step: Step, call: dict[str, Any], instance_id: str | None) -> bool:
    """A successful call of the step's tool with every argument the runbook fixes, on that node."""
    if call.get("tool") != step.tool or not call.get("ok"):
        return False
    args = call.get("args") or {}
    for key, value in literal_args(step).items():
        got = args.get(key)
        if isinstance(got, list):
            got = ",".join(str(g) for g in got)
        if got is None or str(got) != value:
            return False
    if instance_id is not None and step.tool in INSTANCE_SCOPED:
        return call.get("instance_id") == instance_id
    return True


def missing_must(steps: list[Step], calls: list[dict[str, Any]], cc: CallContext) -> list[tuple[Step, str | None]]:
    out = []
    for step in steps:
        for node in targets(step, cc):
            if not any(call_satisfies(step, c, node) for c in calls):
                out.append((step, node))
    return out


def ids_in(obj: Any) -> list[str]:
    """Every F-/S- id mentioned anywhere in a (JSON-like) tool result, in first-seen order."""
    found: dict[str, None] = {}

    def walk(x: Any) -> None:
        if isinstance(x, str):
            for m in _ID.findall(x):
                found.setdefault(m, None)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)

    walk(obj)
    return list(found)
