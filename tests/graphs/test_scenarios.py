"""Offline diagnosis on every generated D3 scenario: labels, count/max, escalation, no sysctl for allowance."""

from __future__ import annotations

import pytest

from tests.graphs.conftest import run_offline

SCENARIOS = [
    ("kernel_table_full", "al2-4.14", {}),
    ("kernel_table_full", "al2-5.10", {}),
    ("kernel_table_full", "al2023-6.1", {}),
    ("kernel_table_full", "al2023-6.12", {"netns_message": True}),
    ("kernel_table_full", "al2-5.10", {"kernel_log": "messages_only"}),
    ("kernel_table_full", "al2023-6.1", {"rotated": True, "printk_caller": True}),
    ("allowance_exceeded", "al2023-6.1", {}),
    ("allowance_exceeded", "al2-5.10", {"allowance_eni": "secondary"}),
    ("both", "al2023-6.12", {}),
    ("healthy", "al2023-6.1", {}),
    ("near_full", "al2-5.10", {}),
    ("linklocal_dns", "al2023-6.1", {}),
    ("red_herring", "al2023-6.1", {}),
    ("healthy", "al2-5.10", {"red_herrings": True}),
]


@pytest.mark.parametrize(("scenario", "kernel", "extra"), SCENARIOS, ids=lambda v: str(v))
def test_offline_diagnosis_matches_ground_truth(home, make_bundle, scenario, kernel, extra):
    gen = make_bundle(scenario=scenario, kernel=kernel, **extra)
    outcome = run_offline(home, [gen.path])
    report = outcome.report
    truth = gen.truth
    assert report["labels"] == [lb for lb in ("kernel_conntrack", "aws_instance_limit") if lb in truth.labels]
    assert report["conntrack"]["count"] == truth.conntrack_count
    assert report["conntrack"]["max"] == truth.conntrack_max
    # One node: the only condition that can hold is the instance-level limit.
    assert report["escalate"] == ("aws_instance_limit" in truth.labels)
    if "aws_instance_limit" in truth.labels and "kernel_conntrack" not in truth.labels:
        text = " ".join([report["mitigation"]["immediate"], *(a["action"] for a in report["proposed_actions"])])
        assert "sysctl -w" not in text and "nf_conntrack_max=" not in text
    if not truth.labels:
        assert report["root_cause"] == "inconclusive"
        assert report["proposed_actions"] == []
        assert outcome.status == "done"
    else:
        assert outcome.status == "waiting_approval"
        assert all(a["status"] == "pending_approval" for a in report["proposed_actions"])
    for phase, comp in report["must_compliance"].items():
        assert comp["satisfied"], (phase, comp)
    # Every cited id resolves: F- ids in the bundle's index, S- ids among the run's searches.
    cited = {i for e in report["evidence"] for i in e["finding_ids"]}
    produced = {i for s in report["steps"] for i in s["finding_ids"]}
    assert cited <= produced
