"""Golden test: the compiled D3 runbook, exactly as the foundation issue specifies it."""

from __future__ import annotations

import pytest

from runbooks.catalog import library_dir, load
from runbooks.lint import lint_path
from runbooks.model import CompiledRunbook
from runbooks.parse import parse_file

D3_PATH = library_dir() / "D3-conntrack-exhaustion.md"


@pytest.fixture(scope="module")
def d3() -> CompiledRunbook:
    return load("D3")


def _plan(d3: CompiledRunbook, phase: int) -> dict[str, list[str | None]]:
    steps = d3.phases[phase].steps
    return {p: [s.tool for s in steps if s.priority == p] for p in ("MUST", "SHOULD", "MAY")}


def test_identity(d3: CompiledRunbook) -> None:
    assert d3.id == "D3"
    assert d3.title == "D3 — Conntrack Exhaustion"
    assert d3.severity == "CRITICAL"
    assert d3.triggers == ["nf_conntrack: table full, dropping packet", "conntrack_allowance_exceeded"]
    assert [p.name for p in d3.phases] == ["Triage", "Enrich", "Report"]


def test_phase1_steps(d3: CompiledRunbook) -> None:
    assert _plan(d3, 0) == {
        "MUST": ["collect", "status", "errors", "search"],
        "SHOULD": ["network_diagnostics", "search"],
        "MAY": ["search", "cluster_health"],
    }


def test_phase2_steps(d3: CompiledRunbook) -> None:
    assert _plan(d3, 1) == {
        "MUST": ["search", "search", None],
        "SHOULD": ["correlate", "search"],
        "MAY": ["compare_nodes"],
    }
    reasoning = d3.phases[1].steps[2]
    assert reasoning.text == "Determine which limit is the bottleneck from findings"


def test_phase3_steps(d3: CompiledRunbook) -> None:
    plan = _plan(d3, 2)
    assert plan["MUST"] == ["summarize", None, None, None]
    assert [s.text.split(":")[0] for s in d3.phases[2].steps if s.priority == "MUST" and s.tool is None] == [
        "State root cause",
        "Recommend specific fix based on which limit is hit (operator action)",
        "Confirm connections should be restored after fix",
    ]


def test_args_and_lines(d3: CompiledRunbook) -> None:
    triage = d3.phases[0].steps
    assert triage[0].args == {"instanceId": None}
    assert triage[1].args == {"executionId": None}
    # The regex is kept byte-exact.
    assert triage[3].args == {"instanceId": None, "query": "nf_conntrack.*table full|conntrack_allowance_exceeded"}
    assert triage[4].args == {"instanceId": None, "sections": "kube_proxy"}
    assert triage[7].args == {"clusterName": None}
    assert d3.phases[1].steps[3].args == {"instanceId": None, "pivotEvent": "conntrack"}
    assert d3.phases[1].steps[5].args == {}
    assert d3.phases[2].steps[0].args == {"instanceId": None, "finding_ids": None}
    lines = D3_PATH.read_text(encoding="utf-8").split("\n")
    for phase in d3.phases:
        for step in phase.steps:
            assert lines[step.line - 1] == f"- {step.text}"


def test_conditions(d3: CompiledRunbook) -> None:
    enrich = d3.phases[1].steps
    assert enrich[0].condition == "if found, kernel conntrack limit hit (can increase via sysctl)"
    assert enrich[1].condition == "if found, AWS instance-level limit (need bigger instance, sysctl will not help)"
    assert [s.condition for s in d3.phases[0].steps] == [None] * 8


def test_gates(d3: CompiledRunbook) -> None:
    assert [s.tool for s in d3.phases[0].gate.required] == ["collect", "status", "errors", "search"]
    assert [s.tool for s in d3.phases[1].gate.required] == ["search", "search"]
    assert len(d3.phases[1].gate.reasoning) == 1
    assert [s.tool for s in d3.phases[2].gate.required] == ["summarize"]
    assert len(d3.phases[2].gate.reasoning) == 3
    assert d3.phases[0].tools == ["collect", "status", "errors", "search", "network_diagnostics", "cluster_health"]


def test_labels_and_report(d3: CompiledRunbook) -> None:
    assert d3.labels == ["kernel_conntrack", "aws_instance_limit"]
    assert d3.report.labels == d3.labels
    assert d3.report.fields == ["root_cause", "evidence", "severity", "mitigation"]
    assert d3.report.wants_conntrack_counts is True
    assert d3.report.template is not None and d3.report.template.startswith("root_cause:")


def test_phase2_rules(d3: CompiledRunbook) -> None:
    enrich_rules = [r for r in d3.rules if r.phase == "Enrich"]
    assert [r.id for r in enrich_rules] == ["R1", "R2"]
    table_full, allowance = enrich_rules
    assert table_full.evidence.kind == "search"
    assert table_full.evidence.query == "table full"
    assert table_full.label == "kernel_conntrack"
    assert allowance.evidence.kind == "counter"
    assert allowance.evidence.counter == "conntrack_allowance_exceeded"
    assert (allowance.evidence.op, allowance.evidence.threshold) == (">", 0)
    assert allowance.label == "aws_instance_limit"


def test_common_issue_rules(d3: CompiledRunbook) -> None:
    ci = [r for r in d3.rules if r.source == "common_issue"]
    assert [r.id for r in ci] == ["R3", "R4"]
    assert ci[0].evidence.kind == "search" and ci[0].evidence.query == "nf_conntrack: table full"
    assert ci[0].label == "kernel_conntrack"
    assert ci[0].resolution is not None and "nf_conntrack_max" in ci[0].resolution
    assert ci[1].evidence.kind == "counter" and ci[1].evidence.counter == "conntrack_allowance_exceeded"
    assert ci[1].label == "aws_instance_limit"


def test_escalation(d3: CompiledRunbook) -> None:
    assert d3.guardrails.escalation_conditions == [
        "AWS instance-level conntrack limit hit (cannot fix with sysctl)",
        "Conntrack exhaustion causing DNS failures cluster-wide",
        "Conntrack table full on multiple nodes simultaneously",
    ]
    aws, dns, table = d3.escalation
    assert (aws.labels_any, aws.categories_any, aws.min_nodes, aws.requires_label) == (
        ["aws_instance_limit"], [], 1, False)
    assert (dns.labels_any, dns.categories_any, dns.min_nodes, dns.requires_label) == ([], ["dns"], 2, True)
    assert (table.labels_any, table.categories_any, table.min_nodes, table.requires_label) == (
        ["kernel_conntrack"], ["conntrack_table_full"], 2, False)


def test_safety(d3: CompiledRunbook) -> None:
    ratings = [(r.action, r.rating, r.note) for r in d3.guardrails.safety_ratings]
    assert ratings == [
        ("Log collection (collect)", "GREEN", "read-only"),
        ("search", "GREEN", "read-only"),
        ("errors", "GREEN", "read-only"),
        ("network_diagnostics", "GREEN", "read-only"),
        ("Modify sysctl settings", "YELLOW", "operator action, not available via MCP tools"),
        ("Upsize instance", "RED", "operator action, requires approval"),
    ]
    assert d3.guardrails.safety_ratings[0].tools == ["collect"]
    for tool in ("collect", "search", "errors", "network_diagnostics"):
        assert d3.safety_map[tool] == "GREEN"
    assert d3.safety_map["Modify sysctl settings"] == "YELLOW"
    assert d3.safety_map["Upsize instance"] == "RED"


def test_d3_lints_clean() -> None:
    assert lint_path(D3_PATH) == []


def test_common_issues_and_examples_kept(d3: CompiledRunbook) -> None:
    assert [c.diagnosis for c in d3.common_issues] == [
        "Kernel conntrack table limit reached",
        "AWS instance-level conntrack limit. Kernel sysctl cannot fix this.",
    ]
    runbook = parse_file(D3_PATH)
    assert len(runbook.examples) == 1
    assert runbook.examples[0].startswith("# Step 1: Collect logs")
    assert 'query="nf_conntrack.*table full|conntrack_allowance_exceeded"' in runbook.examples[0]
