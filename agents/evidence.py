"""The deterministic core: decision rules and escalation conditions evaluated on parsed evidence.

A rule holds only on what the bundle says, parsed: a search rule needs matching lines that the
findings index recognises as findings (a quoted grep in an app log is not a kernel message), and
a counter rule needs the parsed counter to compare true (`conntrack_allowance_exceeded: 0` is
not found). The model may add reasoning on top, but labels and escalations come from here.
"""

from __future__ import annotations

import operator
from typing import Any

from pydantic import BaseModel, Field

from runbooks.model import CompiledRunbook, EscalationPredicate, Rule
from tools.builtin.network import ena_section, kube_proxy_section
from tools.bundle.store import BundleRecord
from tools.context import ToolContext
from tools.registry import ToolError, call_tool

_OPS = {">": operator.gt, ">=": operator.ge, "==": operator.eq, "<": operator.lt, "<=": operator.le}
HEADLINE = ("CRITICAL", "HIGH")


class RuleResult(BaseModel):
    rule_id: str
    label: str | None
    kind: str
    holds: bool
    detail: str
    cited: list[str] = Field(default_factory=list)


class NodeEvidence(BaseModel):
    instance_id: str
    rules: list[RuleResult]
    labels: list[str]
    categories: list[str]
    conntrack: dict[str, Any] | None
    counters: dict[str, dict[str, int]]
    headline_ids: list[str]
    gaps: list[str]


class Escalation(BaseModel):
    condition: str
    holds: bool
    nodes: list[str]
    reason: str


class IncidentEvidence(BaseModel):
    nodes: list[NodeEvidence]
    labels: list[str]
    escalations: list[Escalation]

    @property
    def escalate(self) -> bool:
        return any(e.holds for e in self.escalations)


def _search_rule(ctx: ToolContext, rule: Rule, record: BundleRecord) -> RuleResult:
    query = rule.evidence.query or ""
    groups = [
        (sid, hit)
        for sid, hit in ctx.search_memory.items()
        if hit.get("instance_id") == record.instance_id and hit.get("query") == query
    ]
    if not groups:
        # The agents did not run this search (or not on this node): run it, so the rule is decided
        # on the bundle rather than on the model's diligence.
        outcome = call_tool(ctx, "search", {"instanceId": record.instance_id, "query": query})
        if not outcome.ok:
            return RuleResult(rule_id=rule.id, label=rule.label, kind="search", holds=False,
                              detail=f"search {query!r} failed: {outcome.error}")
        groups = [
            (sid, hit) for sid, hit in ctx.search_memory.items()
            if hit.get("instance_id") == record.instance_id and hit.get("query") == query
        ]
    grounded = [(sid, hit) for sid, hit in groups if hit.get("finding_ids")]
    matches = sum(hit.get("count", 0) for _sid, hit in groups)
    if grounded:
        cited: list[str] = []
        for sid, hit in grounded:
            cited.append(sid)
            cited.extend(i for i in hit["finding_ids"] if i not in cited)
        files = ", ".join(sorted({hit["file"] for _s, hit in grounded}))
        return RuleResult(rule_id=rule.id, label=rule.label, kind="search", holds=True, cited=cited,
                          detail=f"{query!r} matches indexed findings in {files}")
    if matches:
        return RuleResult(rule_id=rule.id, label=rule.label, kind="search", holds=False,
                          cited=[sid for sid, _ in groups],
                          detail=f"{query!r} matched {matches} line(s) but none is a finding (text only)")
    return RuleResult(rule_id=rule.id, label=rule.label, kind="search", holds=False, detail=f"{query!r}: no match")


def counter_values(record: BundleRecord) -> dict[str, dict[str, int]]:
    """counter → source (interface or 'conntrack -S') → value, as parsed from the bundle."""
    values: dict[str, dict[str, int]] = {}
    ena = ena_section(record, [], [])
    for row in ena.get("interfaces", []):
        for name, v in row["allowance_exceeded"].items():
            values.setdefault(name, {})[row["interface"]] = v
        if row.get("conntrack_allowance_available") is not None:
            values.setdefault("conntrack_allowance_available", {})[row["interface"]] = row["conntrack_allowance_available"]
    kp = kube_proxy_section(record, [], [])
    for name, v in (kp.get("stats") or {}).items():
        if isinstance(v, int) and name not in ("cpus",):
            values.setdefault(name, {})["conntrack -S"] = v
    return values


def _counter_rule(ctx: ToolContext, rule: Rule, record: BundleRecord, values: dict[str, dict[str, int]]) -> RuleResult:
    name = rule.evidence.counter or ""
    op = _OPS[rule.evidence.op]
    seen = values.get(name)
    if not seen:
        return RuleResult(rule_id=rule.id, label=rule.label, kind="counter", holds=False,
                          detail=f"{name} is not in the bundle")
    hits = {src: v for src, v in seen.items() if op(v, rule.evidence.threshold)}
    if not hits:
        shown = ", ".join(f"{src}={v}" for src, v in seen.items())
        return RuleResult(rule_id=rule.id, label=rule.label, kind="counter", holds=False,
                          detail=f"{name} {rule.evidence.op} {rule.evidence.threshold:g} is false ({shown})")
    index = ctx.index(record)
    cited = [f.id for f in index.findings if f.counter == name and f.interface in hits]
    shown = ", ".join(f"{src}={v}" for src, v in hits.items())
    return RuleResult(rule_id=rule.id, label=rule.label, kind="counter", holds=True, cited=cited,
                      detail=f"{name} {rule.evidence.op} {rule.evidence.threshold:g} ({shown})")


def evaluate_node(ctx: ToolContext, compiled: CompiledRunbook, instance_id: str) -> NodeEvidence:
    try:
        record = ctx.record(instance_id)
    except ToolError as exc:
        # No bundle (a failed or missing collection): nothing can hold, and the report says why.
        return NodeEvidence(instance_id=instance_id, rules=[], labels=[], categories=[], conntrack=None,
                            counters={}, headline_ids=[], gaps=[f"{instance_id}: {exc.message}"])
    values = counter_values(record)
    results = []
    for rule in compiled.rules:
        if rule.evidence.kind == "counter":
            results.append(_counter_rule(ctx, rule, record, values))
        else:
            results.append(_search_rule(ctx, rule, record))
    labels = [lb for lb in compiled.labels if any(r.holds and r.label == lb for r in results)]
    index = ctx.index(record)
    headline = [f for f in index.findings if f.severity in HEADLINE]
    gaps: list[str] = []
    kp = kube_proxy_section(record, [], gaps)
    ena_section(record, [], gaps)
    return NodeEvidence(
        instance_id=instance_id,
        rules=results,
        labels=labels,
        categories=sorted({f.category for f in headline}),
        conntrack=kp.get("conntrack"),
        counters=values,
        headline_ids=[f.id for f in headline][:30],
        gaps=gaps,
    )


def _predicate(p: EscalationPredicate, nodes: list[NodeEvidence]) -> Escalation:
    """Per node: a named label is concluded, or a named category is found (with a label, if required)."""
    hit_nodes = []
    for n in nodes:
        label_ok = bool(set(p.labels_any) & set(n.labels))
        cat_ok = bool(set(p.categories_any) & set(n.categories)) and (not p.requires_label or bool(n.labels))
        if label_ok or cat_ok:
            hit_nodes.append(n.instance_id)
    checkable = bool(p.labels_any or p.categories_any)
    holds = checkable and len(hit_nodes) >= p.min_nodes
    if not checkable:
        reason = "not machine-checkable: left to the operator"
    elif holds:
        reason = f"holds on {len(hit_nodes)} node(s): {', '.join(hit_nodes)}"
    else:
        reason = f"holds on {len(hit_nodes)} node(s), needs {p.min_nodes}"
    return Escalation(condition=p.text, holds=holds, nodes=hit_nodes, reason=reason)


def evaluate(ctx: ToolContext, compiled: CompiledRunbook, instance_ids: list[str]) -> IncidentEvidence:
    nodes = [evaluate_node(ctx, compiled, iid) for iid in instance_ids]
    labels = [lb for lb in compiled.labels if any(lb in n.labels for n in nodes)]
    escalations = [_predicate(p, nodes) for p in compiled.escalation]
    return IncidentEvidence(nodes=nodes, labels=labels, escalations=escalations)
