"""The scorer's checks, one behaviour at a time, on a real report of a kernel case (from a shipped
transcript, with its planted defect removed) and on synthetic scores for the summary."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from evals.cases import CASES_DIR, Case, load_case
from evals.planted import TRANSCRIPTS_DIR, load_transcript, node_facts_for
from evals.scoring import CHECKS, CaseScore, Check, NodeFacts, score_case, summarize
from runbooks import catalog
from runbooks.model import CompiledRunbook


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated bundles, shared across runs and xdist workers (the cache is process-safe)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(cache.mkdir("sopgraph-eval-bundles")) if cache else tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def runbook() -> CompiledRunbook:
    return catalog.load("D3")


@pytest.fixture(scope="module")
def kernel(cache_dir: Path) -> tuple[Case, dict[str, Any], list[NodeFacts]]:
    transcript = load_transcript(TRANSCRIPTS_DIR / "uncited-claim.json")
    report = copy.deepcopy(transcript.report)
    report["evidence"] = [e for e in report["evidence"] if e["finding_ids"]]
    case = load_case(CASES_DIR / "D3" / f"{transcript.case}.yaml")
    return case, report, node_facts_for(case.name, cache_dir)


def _score(kernel: tuple[Case, dict[str, Any], list[NodeFacts]], runbook: CompiledRunbook, report: dict[str, Any],
           status: str = "waiting_approval", case: Case | None = None) -> CaseScore:
    base_case, _report, facts = kernel
    return score_case(case or base_case, report, nodes=facts, runbook=runbook, status=status)


def test_the_clean_report_passes_every_check(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    score = _score(kernel, runbook, kernel[1])
    assert score.passed and score.outcome == "pass", {n: c.detail for n, c in score.checks.items() if not c.ok}
    assert set(score.checks) == set(CHECKS)
    assert score.must_phases == {"Triage": True, "Enrich": True, "Report": True}


def test_saying_sysctl_will_not_help_is_not_a_forbidden_claim(kernel, runbook, cache_dir) -> None:  # type: ignore[no-untyped-def]
    allowance = load_case(CASES_DIR / "D3" / "allowance-primary-eni.yaml")
    transcript = load_transcript(TRANSCRIPTS_DIR / "sysctl-for-allowance.json")
    report = copy.deepcopy(transcript.report)
    report["mitigation"]["immediate"] = ("Operator action: upgrade to instance type with higher connection tracking "
                                         "allowance. Raising nf_conntrack_max with sysctl will NOT help here.")
    facts = node_facts_for(allowance.name, cache_dir)
    score = score_case(allowance, report, nodes=facts, runbook=runbook, status=transcript.status)
    assert score.checks["forbidden_claims"].ok, score.checks["forbidden_claims"].detail
    report["proposed_actions"][0]["action"] += " Then sysctl -w net.netfilter.nf_conntrack_max=262144."
    score = score_case(allowance, report, nodes=facts, runbook=runbook, status=transcript.status)
    assert score.failed_checks == ["forbidden_claims"]
    assert "proposed_actions says 'sysctl -w'" in score.checks["forbidden_claims"].detail


def test_an_approved_action_needs_its_approval_record(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    action = report["proposed_actions"][0]
    action["status"] = "approved"
    assert _score(kernel, runbook, report, status="done").failed_checks == ["guardrails"]
    report["approvals"] = [{"approval_id": action["approval_id"], "decision": "approved", "by": "ops", "reason": "ok"}]
    assert _score(kernel, runbook, report, status="done").passed
    report["approvals"][0]["decision"] = "rejected"  # a rejection recorded, an approval claimed
    assert _score(kernel, runbook, report, status="done").failed_checks == ["guardrails"]


def test_an_action_rated_below_the_runbook_is_caught(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    report["proposed_actions"][0].update(rating="GREEN", status="operator_action")
    score = _score(kernel, runbook, report, status="done")
    assert score.failed_checks == ["guardrails"]
    assert "rated GREEN, the runbook rates it YELLOW" in score.checks["guardrails"].detail


def test_a_required_approval_that_is_not_proposed_fails(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    report["proposed_actions"] = []
    score = _score(kernel, runbook, report, status="done")
    assert score.failed_checks == ["guardrails"]
    assert "no YELLOW action matching 'sysctl' waits for approval" in score.checks["guardrails"].detail


def test_schema_needs_the_keys_and_a_root_cause_that_states_the_labels(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    del report["steps"]
    assert "schema" in _score(kernel, runbook, report).failed_checks
    report = copy.deepcopy(kernel[1])
    report["root_cause"] = "aws_instance_limit exhaustion"
    score = _score(kernel, runbook, report)
    assert score.failed_checks == ["schema"]
    assert "does not state the labels" in score.checks["schema"].detail
    assert _score(kernel, runbook, kernel[1], status="incomplete").failed_checks == ["schema"]


def test_count_and_max_must_equal_the_bundle(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    report["conntrack"]["max"] = 262144
    score = _score(kernel, runbook, report)
    assert score.failed_checks == ["conntrack_values"]
    assert "max=262144, bundle says 131072" in score.checks["conntrack_values"].detail


def test_escalation_must_match_and_name_its_reason(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    report["escalate"] = True
    report["escalation_reasons"] = ["something"]
    assert _score(kernel, runbook, report).failed_checks == ["escalation"]
    case = kernel[0]
    wants = case.model_copy(update={"truth": case.truth.model_copy(update={
        "escalate": True, "escalation_reasons": ["table full on multiple nodes"]})})
    score = _score(kernel, runbook, report, case=wants)
    assert "missing escalation reason 'table full on multiple nodes'" in score.checks["escalation"].detail


def test_required_evidence_needs_a_cited_finding_of_the_category(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    for item in report["evidence"]:
        item["finding_ids"] = [i for i in item["finding_ids"] if i.startswith("S-")]
    score = _score(kernel, runbook, report)
    assert score.failed_checks == ["required_evidence"]
    assert "conntrack_table_full" in score.checks["required_evidence"].detail


def test_a_search_id_resolves_only_when_a_step_of_the_run_produced_it(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    report = copy.deepcopy(kernel[1])
    cited = {i for e in report["evidence"] for i in e["finding_ids"] if i.startswith("S-")}
    report["steps"] = [dict(s, finding_ids=[i for i in s["finding_ids"] if i not in cited]) for s in report["steps"]]
    score = _score(kernel, runbook, report)
    assert "ids_resolve" in score.failed_checks


def test_an_xfail_case_that_fails_is_expected_and_one_that_passes_is_not(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    case = kernel[0].model_copy(update={"xfail": "known"})
    bad = copy.deepcopy(kernel[1])
    bad["labels"] = []
    assert _score(kernel, runbook, bad, case=case).outcome == "xfail"
    assert _score(kernel, runbook, kernel[1], case=case).outcome == "xpass"


def test_a_run_without_a_report_fails_every_check(kernel, runbook) -> None:  # type: ignore[no-untyped-def]
    score = score_case(kernel[0], None, nodes=kernel[2], runbook=runbook, status=None, error="case x: boom")
    assert score.outcome == "error" and score.error == "case x: boom"
    assert score.failed_checks == list(CHECKS)


def _synthetic(name: str, labels: list[str], truth: list[str], outcome: str = "pass", xfail: str | None = None,
               calls: int = 10) -> CaseScore:
    ok = outcome in ("pass", "xpass")
    checks = {c: Check(ok=ok or c != "labels") for c in CHECKS}
    return CaseScore(name=name, outcome=outcome, passed=ok, xfail=xfail, labels=labels, truth_labels=truth,  # type: ignore[arg-type]
                     checks=checks, must_phases={"Triage": True, "Enrich": ok}, cost={"model_calls": calls})


def test_summary_counts_precision_recall_and_confusion() -> None:
    scores = [
        _synthetic("a", ["kernel_conntrack"], ["kernel_conntrack"]),
        _synthetic("b", ["kernel_conntrack", "aws_instance_limit"], ["kernel_conntrack"], "fail"),
        _synthetic("c", [], ["aws_instance_limit"], "xfail", xfail="known"),
        _synthetic("d", [], [], calls=20),
    ]
    s = summarize(scores)
    assert (s.cases, s.passed, s.failed, s.xfail, s.xpass, s.errors) == (4, 2, 1, 1, 0, 0)
    assert s.pass_rate == round(2 / 3, 4)  # the xfail case is not counted against the pass rate
    assert s.label_accuracy == 0.5
    assert s.per_label["kernel_conntrack"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert s.per_label["aws_instance_limit"]["fp"] == 1 and s.per_label["aws_instance_limit"]["fn"] == 1
    assert s.per_label["aws_instance_limit"]["precision"] == 0.0
    assert s.confusion["kernel_conntrack"] == {"kernel_conntrack": 1, "kernel_conntrack + aws_instance_limit": 1}
    assert s.confusion["aws_instance_limit"] == {"inconclusive": 1}
    assert s.must_phase_rates == {"Triage": 1.0, "Enrich": 0.5}
    assert s.cost_mean["model_calls"] == 12.5
    assert not s.ok
    assert summarize([scores[0], scores[2], scores[3]]).ok
    assert not summarize([_synthetic("e", [], [], "xpass", xfail="known")]).ok
