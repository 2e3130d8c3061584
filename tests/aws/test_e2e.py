"""`sopgraph diagnose --instance … --backend aws` end to end against the moto server:
collect, poll, download, index, diagnose, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.generator.spec import BundleSpec
from graphs.cli import main
from tests.aws.conftest import ROLE_ARN
from tests.aws.sim import Behaviour, Sim

WAITING_APPROVAL = 3


def _diagnose(sim: Sim, tmp_path: Path, iid: str, bucket: str, capsys: pytest.CaptureFixture[str],
              *extra: str) -> tuple[int, dict, str]:
    # Poll fast: the simulated document needs a few polls, a real one minutes.
    config = tmp_path / "sopgraph" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("aws:\n  poll_interval_s: 0.01\n  wait_timeout_s: 30\n  max_attempts: 2\n", encoding="utf-8")
    rc = main(["diagnose", "--instance", iid, "--backend", "aws", "--bucket", bucket, "--role-arn", ROLE_ARN,
               "--region", "us-east-1", "--endpoint-url", sim.url, "--runbook", "D3",
               "--store", str(tmp_path / "store"), "-q", *extra])
    captured = capsys.readouterr()
    report = json.loads(captured.out) if captured.out.strip() else {}
    return rc, report, captured.err


@pytest.mark.parametrize(("scenario", "labels"), [
    ("kernel_table_full", ["kernel_conntrack"]),
    ("allowance_exceeded", ["aws_instance_limit"]),
])
def test_diagnose_collects_from_the_node_and_reports(sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     scenario: str, labels: list[str]) -> None:
    bucket = sim.bucket()
    spec = BundleSpec(scenario=scenario, seed=11)
    iid = sim.launch(behaviour=Behaviour(polls=2, spec=spec))
    rc, report, err = _diagnose(sim, tmp_path, iid, bucket, capsys)
    assert rc in (0, WAITING_APPROVAL), err
    assert sorted(report["labels"]) == sorted(labels), report.get("root_cause")
    assert report["instance_ids"] == [iid]
    steps = {s["tool"]: s for s in report["steps"]}
    assert steps["collect"]["ok"] and steps["status"]["ok"]
    assert report["must_compliance"]["Triage"]["satisfied"] is True
    assert sim.calls["StartAutomationExecution"] == 1 and sim.calls["GetAutomationExecution"] >= 3
    if "kernel_conntrack" in labels:
        assert report["conntrack"]["count"] is not None and report["conntrack"]["max"] is not None


def test_a_second_diagnose_of_the_same_incident_reuses_the_collection(
        sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPGRAPH_AWS_INCIDENT", "INC-1234")
    bucket = sim.bucket()
    iid = sim.launch(behaviour=Behaviour(polls=1))
    first = _diagnose(sim, tmp_path, iid, bucket, capsys)
    second = _diagnose(sim, tmp_path, iid, bucket, capsys)
    assert first[0] in (0, WAITING_APPROVAL) and second[0] in (0, WAITING_APPROVAL), second[2]
    assert sim.calls["StartAutomationExecution"] == 1
    assert first[1]["labels"] == second[1]["labels"] == ["kernel_conntrack"]


def test_a_failed_collection_reaches_the_operator(sim: Sim, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bucket = sim.bucket()
    iid = sim.launch(behaviour=Behaviour(outcome="s3_denied", node_role="prod-node-role", polls=0))
    rc, report, err = _diagnose(sim, tmp_path, iid, bucket, capsys)
    assert "Traceback" not in err
    assert rc in (0, WAITING_APPROVAL), err
    steps = [s for s in report["steps"] if s["tool"] == "status"]
    assert steps and steps[0]["ok"], "status reported the failed collection as a result"
    assert report["labels"] == [] and report["root_cause"] == "inconclusive"
    # The operator learns why: the node role and the missing permission appear in the report.
    assert "prod-node-role" in json.dumps(report) and "s3:PutObject" in json.dumps(report)
    assert any("s3:PutObject" in a for s in steps for a in s.get("advice", []))
    assert any("s3:PutObject" in g for g in report["grounding"]["gaps"])


def test_missing_configuration_is_exit_2_with_a_hint(sim: Sim, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["diagnose", "--instance", "i-0123456789abcdef0", "--backend", "aws", "--runbook", "D3", "-q",
               "--region", "us-east-1", "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error: the AWS backend needs bucket, role_arn" in err and "hint:" in err and "--bucket" in err
