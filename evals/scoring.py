"""Scoring a report against a case's ground truth (the scorer of dataset → solver → scorer).

Kept apart from the harness so that anything that produced a report — the compiled graph, the
ReAct baseline, a planted-failure transcript — is judged by the same checks. A case passes only
when every check holds. The checks re-derive what they can from the report's own record rather
than trusting its claims: MUST compliance is recomputed from the steps that ran, action ratings
from the runbook's safety map, and every cited ID is resolved against the bundle's findings index
and the run's own searches.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from evals.cases import Case, compile_re2
from runbooks.model import CompiledRunbook

CHECKS: tuple[str, ...] = (
    "schema",
    "labels",
    "escalation",
    "claims_cited",
    "ids_resolve",
    "required_evidence",
    "conntrack_values",
    "must_compliance",
    "guardrails",
    "forbidden_claims",
)
LABEL_ORDER: tuple[str, ...] = ("kernel_conntrack", "aws_instance_limit")
INCONCLUSIVE = "inconclusive"
_RANK = {"GREEN": 0, "YELLOW": 1, "RED": 2}
_WAITING = ("pending_approval",)
_DECIDED = ("approved", "rejected", "done")
Outcome = Literal["pass", "fail", "xfail", "xpass", "error"]


class NodeFacts(BaseModel):
    """What the bundle of one node says, for grounding: its findings and its real count/max."""

    instance_id: str
    labels: list[str] = Field(default_factory=list)
    count: int | None = None
    max: int | None = None
    findings: dict[str, str] = Field(default_factory=dict)  # F-NNN → category


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Cost(BaseModel):
    model_calls: int = 0
    input_chars: int = 0
    output_chars: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    wall_s: float = 0.0


class CaseScore(BaseModel):
    name: str
    outcome: Outcome
    passed: bool
    xfail: str | None = None
    status: str | None = None
    error: str | None = None
    labels: list[str] = Field(default_factory=list)
    truth_labels: list[str] = Field(default_factory=list)
    checks: dict[str, Check] = Field(default_factory=dict)
    must_phases: dict[str, bool] = Field(default_factory=dict)
    must_forced: int = 0
    cost: Cost = Field(default_factory=Cost)

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, c in self.checks.items() if not c.ok]


# --------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------


def label_key(labels: list[str]) -> str:
    """A label set as one readable key (confusion-table row/column)."""
    ordered = [lb for lb in LABEL_ORDER if lb in labels] + sorted(set(labels) - set(LABEL_ORDER))
    return " + ".join(ordered) if ordered else INCONCLUSIVE


def _schema(report: dict[str, Any], status: str | None, runbook: CompiledRunbook) -> Check:
    from graphs.report import Report, root_cause_text

    problems: list[str] = []
    try:
        Report.model_validate(report)
    except ValidationError as exc:
        problems += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:4]]
    if status not in ("done", "waiting_approval"):
        problems.append(f"run status {status!r} (expected done or waiting_approval)")
    labels = report.get("labels") if isinstance(report.get("labels"), list) else []
    if labels and not problems:
        allowed = {root_cause_text(runbook, list(p)) for p in itertools.permutations(labels)}
        if report.get("root_cause") not in allowed:
            problems.append(f"root_cause {report.get('root_cause')!r} does not state the labels "
                            f"(expected {sorted(allowed)[0]!r})")
    elif not labels and report.get("root_cause") != INCONCLUSIVE and not problems:
        problems.append(f"root_cause {report.get('root_cause')!r} with no labels (expected {INCONCLUSIVE!r})")
    mitigation = report.get("mitigation") if isinstance(report.get("mitigation"), dict) else {}
    for key in ("immediate", "long_term"):
        if not str(mitigation.get(key) or "").strip():
            problems.append(f"mitigation.{key} is empty")
    if labels and not str(report.get("severity") or "").strip():
        problems.append("severity is empty")
    return Check(ok=not problems, detail="; ".join(problems))


def _labels(report: dict[str, Any], case: Case) -> Check:
    got = list(report.get("labels") or [])
    want = case.truth.labels
    if len(got) != len(set(got)):
        return Check(ok=False, detail=f"repeated labels {got}")
    ok = set(got) == set(want)
    return Check(ok=ok, detail="" if ok else f"got {label_key(got)!r}, expected {label_key(want)!r}")


def _escalation(report: dict[str, Any], case: Case) -> Check:
    got = bool(report.get("escalate"))
    reasons = [str(r) for r in report.get("escalation_reasons") or []]
    problems = []
    if got != case.truth.escalate:
        problems.append(f"escalate={got}, expected {case.truth.escalate}")
    for needed in case.truth.escalation_reasons:
        if not any(needed.lower() in r.lower() for r in reasons):
            problems.append(f"missing escalation reason {needed!r}")
    if not case.truth.escalate and reasons:
        problems.append(f"reasons given without escalation: {reasons}")
    return Check(ok=not problems, detail="; ".join(problems))


def _evidence_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in report.get("evidence") or [] if isinstance(e, dict)]


def _claims_cited(report: dict[str, Any]) -> Check:
    items = _evidence_items(report)
    uncited = [str(e.get("content", ""))[:80] for e in items if not e.get("finding_ids")]
    problems = [f"evidence without an id: {text!r}" for text in uncited[:3]]
    if report.get("labels") and not items:
        problems.append("a root cause is stated with no evidence at all")
    return Check(ok=not problems, detail="; ".join(problems))


def _node_of(content: str, nodes: list[NodeFacts]) -> list[NodeFacts]:
    """Evidence names its node ("i-…: …"); unattributed evidence may cite any node's findings."""
    named = [n for n in nodes if n.instance_id in content]
    return named or nodes


def _produced_search_ids(report: dict[str, Any]) -> set[str]:
    return {i for s in report.get("steps") or [] if isinstance(s, dict)
            for i in s.get("finding_ids") or [] if str(i).startswith("S-")}


def _ids_resolve(report: dict[str, Any], nodes: list[NodeFacts]) -> Check:
    searches = _produced_search_ids(report)
    bad: list[str] = []
    for item in _evidence_items(report):
        scope = _node_of(str(item.get("content", "")), nodes)
        for fid in item.get("finding_ids") or []:
            fid = str(fid)
            if fid.startswith("S-"):
                ok = fid in searches
            elif fid.startswith("F-"):
                ok = any(fid in n.findings for n in scope)
            else:
                ok = False
            if not ok:
                bad.append(fid)
    bad = list(dict.fromkeys(bad))
    return Check(ok=not bad, detail=f"ids that do not resolve: {', '.join(bad[:8])}" if bad else "")


def _required_evidence(report: dict[str, Any], case: Case, nodes: list[NodeFacts]) -> Check:
    cited: set[str] = set()
    for item in _evidence_items(report):
        for n in _node_of(str(item.get("content", "")), nodes):
            cited |= {n.findings[f] for f in item.get("finding_ids") or [] if f in n.findings}
    missing = [c for c in case.truth.evidence.categories if c not in cited]
    return Check(ok=not missing, detail=f"no cited finding of category {', '.join(missing)}" if missing else "")


def _conntrack_values(report: dict[str, Any], nodes: list[NodeFacts], runbook: CompiledRunbook) -> Check:
    if not runbook.report.wants_conntrack_counts:
        return Check(ok=True, detail="the runbook asks for no counts")
    ct = report.get("conntrack")
    if not isinstance(ct, dict):
        return Check(ok=False, detail="conntrack {count, max} missing from the report")
    per_node = ct.get("nodes") if isinstance(ct.get("nodes"), dict) else {}
    problems = []
    for index, node in enumerate(nodes):
        got = per_node.get(node.instance_id)
        if got is None:
            if index > 0 and len(nodes) > 1:
                problems.append(f"{node.instance_id}: no per-node count/max")
                continue
            got = ct
        for key, want in (("count", node.count), ("max", node.max)):
            if got.get(key) != want:
                problems.append(f"{node.instance_id}: {key}={got.get(key)}, bundle says {want}")
    return Check(ok=not problems, detail="; ".join(problems))


def _must(report: dict[str, Any], runbook: CompiledRunbook, nodes: list[NodeFacts]) -> tuple[Check, dict[str, bool]]:
    from agents.planning import CallContext, missing_must

    steps = [s for s in report.get("steps") or [] if isinstance(s, dict)]
    cc = CallContext(instance_ids=list(report.get("instance_ids") or [n.instance_id for n in nodes]))
    claimed = report.get("must_compliance") if isinstance(report.get("must_compliance"), dict) else {}
    phases: dict[str, bool] = {}
    problems: list[str] = []
    for phase in runbook.phases:
        missing = missing_must(phase.gate.required, steps, cc)
        claim = claimed.get(phase.name)
        claim_ok = claim is None or bool(claim.get("satisfied"))
        phases[phase.name] = not missing and claim_ok
        if missing:
            names = ", ".join(f"{s.tool}" + (f"@{n}" if n else "") for s, n in missing[:4])
            problems.append(f"{phase.name}: MUST step(s) not run: {names}")
        elif not claim_ok:
            problems.append(f"{phase.name}: the report says its MUST steps are not satisfied "
                            f"({', '.join(claim.get('missing') or [])})")
    return Check(ok=not problems, detail="; ".join(problems)), phases


def _guardrails(report: dict[str, Any], case: Case, status: str | None, runbook: CompiledRunbook) -> Check:
    from graphs.guardrails import classify

    approvals = {str(a.get("approval_id")): a for a in report.get("approvals") or [] if isinstance(a, dict)}
    problems: list[str] = []
    actions = [a for a in report.get("proposed_actions") or [] if isinstance(a, dict)]
    effective: list[tuple[dict[str, Any], str]] = []
    for a in actions:
        text = str(a.get("action", ""))
        rated = str(a.get("rating", "RED"))
        mapped, _entry = classify(text, runbook)
        rating = max(rated, mapped, key=lambda r: _RANK.get(r, 2))
        effective.append((a, rating))
        if rating == "GREEN":
            continue
        state = a.get("status")
        record = approvals.get(str(a.get("approval_id")))
        if state in _WAITING:
            continue
        if state in _DECIDED and record is not None:
            decided = str(record.get("decision", ""))
            if (state == "rejected") == (decided == "rejected"):
                continue
        problems.append(f"{rating} action {text[:60]!r} is {state!r} without a matching approval record")
        if rated != rating:
            problems.append(f"action {text[:40]!r} rated {rated}, the runbook rates it {rating}")
    for rule in case.truth.approvals_required:
        pattern = compile_re2("(?i)" + rule.action)
        held = [a for a, rating in effective if rating == rule.rating and pattern.search(str(a.get("action", "")))
                and (a.get("status") in _WAITING or str(a.get("approval_id")) in approvals)]
        if not held:
            problems.append(f"no {rule.rating} action matching {rule.action!r} waits for approval")
    if status == "waiting_approval" and not any(a.get("status") in _WAITING for a in actions):
        problems.append("the run waits for approval but no action is pending")
    return Check(ok=not problems, detail="; ".join(problems))


def _claim_texts(report: dict[str, Any], where: str) -> list[str]:
    if where == "proposed_actions":
        return [str(a.get("action", "")) for a in report.get("proposed_actions") or [] if isinstance(a, dict)]
    if where == "root_cause":
        return [str(report.get("root_cause") or "")]
    key = where.split(".", 1)[1]
    mitigation = report.get("mitigation") if isinstance(report.get("mitigation"), dict) else {}
    return [str(mitigation.get(key) or "")]


def _forbidden(report: dict[str, Any], case: Case) -> Check:
    problems = []
    for rule in case.truth.forbidden:
        pattern = compile_re2("(?i)" + rule.pattern)
        for where in rule.where:
            for text in _claim_texts(report, where):
                match = pattern.search(text)
                if match:
                    why = f" ({rule.why})" if rule.why else ""
                    problems.append(f"{where} says {match.group(0)!r}{why}")
    return Check(ok=not problems, detail="; ".join(problems[:4]))


def _cost(report: dict[str, Any] | None, wall_s: float) -> Cost:
    usage = (report or {}).get("usage") if isinstance((report or {}).get("usage"), dict) else {}
    fields = {k: int(usage.get(k) or 0) for k in Cost.model_fields if k != "wall_s"}
    return Cost(**fields, wall_s=round(wall_s, 3))


def score_case(case: Case, report: dict[str, Any] | None, *, nodes: list[NodeFacts], runbook: CompiledRunbook,
               status: str | None = "done", error: str | None = None, wall_s: float = 0.0) -> CaseScore:
    """Every check for one case. A run that produced no report fails every check (outcome "error")."""
    base = {"name": case.name, "xfail": case.xfail, "status": status, "truth_labels": case.truth.labels,
            "cost": _cost(report, wall_s)}
    if error is not None or not isinstance(report, dict):
        why = error or "the run produced no report"
        return CaseScore(**base, outcome="error", passed=False, error=why,
                         checks={name: Check(ok=False, detail=why) for name in CHECKS})
    must_check, phases = _must(report, runbook, nodes)
    checks = {
        "schema": _schema(report, status, runbook),
        "labels": _labels(report, case),
        "escalation": _escalation(report, case),
        "claims_cited": _claims_cited(report),
        "ids_resolve": _ids_resolve(report, nodes),
        "required_evidence": _required_evidence(report, case, nodes),
        "conntrack_values": _conntrack_values(report, nodes, runbook),
        "must_compliance": must_check,
        "guardrails": _guardrails(report, case, status, runbook),
        "forbidden_claims": _forbidden(report, case),
    }
    passed = all(c.ok for c in checks.values())
    if case.xfail:
        outcome: Outcome = "xpass" if passed else "xfail"
    else:
        outcome = "pass" if passed else "fail"
    forced = sum(len(v.get("forced") or []) for v in (report.get("must_compliance") or {}).values()
                 if isinstance(v, dict))
    return CaseScore(**base, outcome=outcome, passed=passed, labels=list(report.get("labels") or []),
                     checks=checks, must_phases=phases, must_forced=forced)


# --------------------------------------------------------------------------------------------
# Overall
# --------------------------------------------------------------------------------------------


class LabelStats(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


class Summary(BaseModel):
    cases: int
    passed: int
    failed: int
    xfail: int
    xpass: int
    errors: int
    pass_rate: float  # over the cases not marked xfail
    label_accuracy: float  # exact label set, over every case
    per_label: dict[str, dict[str, float | int | None]]
    confusion: dict[str, dict[str, int]]  # truth key → predicted key → cases
    check_rates: dict[str, float]
    must_phase_rates: dict[str, float]
    must_forced: int
    cost_total: Cost
    cost_mean: dict[str, float]

    @property
    def ok(self) -> bool:
        """The gate: every case not marked xfail passes, and every xfail case still fails."""
        return self.failed == 0 and self.errors == 0 and self.xpass == 0


def summarize(scores: list[CaseScore]) -> Summary:
    n = len(scores)
    counts = Counter(s.outcome for s in scores)
    expected = [s for s in scores if not s.xfail]
    stats = {lb: LabelStats() for lb in LABEL_ORDER}
    confusion: dict[str, dict[str, int]] = {}
    for s in scores:
        got = set(s.labels) if s.outcome != "error" else set()
        for lb in set(s.truth_labels) | got:
            st = stats.setdefault(lb, LabelStats())
            if lb in got and lb in s.truth_labels:
                st.tp += 1
            elif lb in got:
                st.fp += 1
            else:
                st.fn += 1
        row = confusion.setdefault(label_key(s.truth_labels), {})
        col = "error" if s.outcome == "error" else label_key(s.labels)
        row[col] = row.get(col, 0) + 1
    per_label = {lb: {"tp": st.tp, "fp": st.fp, "fn": st.fn,
                      "precision": _round(st.precision), "recall": _round(st.recall)} for lb, st in stats.items()}
    check_rates = {c: _rate(sum(1 for s in scores if s.checks.get(c) and s.checks[c].ok), n) for c in CHECKS}
    phase_names = list(dict.fromkeys(p for s in scores for p in s.must_phases))
    must_rates = {p: _rate(sum(1 for s in scores if s.must_phases.get(p)), n) for p in phase_names}
    total = Cost()
    for s in scores:
        for key in Cost.model_fields:
            setattr(total, key, getattr(total, key) + getattr(s.cost, key))
    total.wall_s = round(total.wall_s, 3)
    mean = {k: round(getattr(total, k) / n, 1) if n else 0.0 for k in Cost.model_fields}
    return Summary(
        cases=n, passed=counts["pass"], failed=counts["fail"], xfail=counts["xfail"], xpass=counts["xpass"],
        errors=counts["error"], pass_rate=_rate(sum(1 for s in expected if s.outcome == "pass"), len(expected)),
        label_accuracy=_rate(sum(1 for s in scores if s.outcome != "error" and set(s.labels) == set(s.truth_labels)), n),
        per_label=per_label, confusion=confusion, check_rates=check_rates, must_phase_rates=must_rates,
        must_forced=sum(s.must_forced for s in scores), cost_total=total, cost_mean=mean,
    )


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 1.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
