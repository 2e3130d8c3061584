"""collect → status → download → ingest against moto, through the same tool calls the graph makes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from evals.generator.spec import BundleSpec
from tests.aws.conftest import ROLE_ARN, Rig
from tests.aws.sim import Behaviour
from tools.aws.records import BucketRecords, IdempotencyRecord, derive_token
from tools.registry import call_tool


def _collect(rig: Rig, **args: object) -> dict:
    out = call_tool(rig.ctx, "collect", dict(args))
    assert out.ok, out.error
    return out.result or {}


def _status(rig: Rig, eid: str) -> dict:
    out = call_tool(rig.ctx, "status", {"executionId": eid})
    assert out.ok, out.error
    return out.result or {}


def test_collect_starts_the_document_with_the_issue_parameters(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    result = _collect(rig, instanceId=iid)
    eid = result["executionId"]
    run = rig.sim.executions[eid]
    assert run["document"] == "AWSSupport-CollectEKSInstanceLogs"
    assert run["params"] == {"EKSInstanceId": [iid], "LogDestination": [rig.bucket], "AutomationAssumeRole": [ROLE_ARN]}
    assert run["region"] == "us-east-1"
    assert result["instanceId"] == iid and result["idempotent"] is False
    assert result["task"] == {"taskId": eid, "state": "running", "message": "SSM status: Pending (us-east-1)",
                              "progress": 0}
    assert iid in rig.ctx.instance_ids


def test_status_polls_until_success_then_ingests_the_generated_bundle(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=3, spec=BundleSpec(scenario="both", seed=7)))
    eid = _collect(rig, instanceId=iid)["executionId"]
    result = _status(rig, eid)
    assert rig.sim.calls["GetAutomationExecution"] == 4  # three InProgress answers, then Success
    assert result["status"] == "Success" and result["progress"] == 100
    assert result["task"]["state"] == "completed"
    assert result["failureReason"] is None and result["advice"] == []
    key = rig.sim.uploaded[eid]
    assert key == f"eks_{iid}_{eid}.tar.gz" and key in result["task"]["message"]

    record = rig.store.get(iid)
    assert record.manifest.files, "the bundle's files are in the store"
    # The upload time is stamped into the local name, so the store knows when the bundle was collected.
    assert record.manifest.collected_at is not None
    assert abs(record.manifest.collected_at - datetime.now(UTC)) < timedelta(minutes=5)
    # Every other tool now works on it unchanged: the generated evidence is found.
    errors = call_tool(rig.ctx, "errors", {"instanceId": iid})
    assert errors.ok, errors.error
    net = call_tool(rig.ctx, "network_diagnostics", {"instanceId": iid, "sections": "kube_proxy"})
    assert net.ok, net.error
    assert json.dumps(net.result).count("conntrack") > 0


def test_ingested_counts_match_the_generated_ground_truth(rig: Rig, tmp_path) -> None:
    from evals.generator.writer import write_bundle

    spec = BundleSpec(scenario="kernel_table_full", seed=3)
    iid = rig.sim.launch(behaviour=Behaviour(polls=0, spec=spec))
    eid = _collect(rig, instanceId=iid)["executionId"]
    _status(rig, eid)
    truth = write_bundle(spec.model_copy(update={"instance_id": iid}), tmp_path / "truth", "dir").truth
    net = call_tool(rig.ctx, "network_diagnostics", {"instanceId": iid, "sections": "kube_proxy"})
    assert net.ok, net.error
    text = json.dumps(net.result)
    assert truth.conntrack_count is not None and truth.conntrack_max is not None
    assert str(truth.conntrack_count) in text and str(truth.conntrack_max) in text


def test_status_twice_downloads_once(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0))
    eid = _collect(rig, instanceId=iid)["executionId"]
    first = _status(rig, eid)
    second = _status(rig, eid)
    digest = rig.store.get(iid).digest
    assert "ingested" in first["task"]["message"] and "already in the store" in second["task"]["message"]
    assert digest[:12] in first["task"]["message"] and digest[:12] in second["task"]["message"]
    assert len(rig.store.list()) == 1
    assert not list((rig.store.home / ".downloads").iterdir()), "download workdirs are removed"


def test_repeated_collect_returns_the_same_execution(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    first = _collect(rig, instanceId=iid)
    second = _collect(rig, instanceId=iid)
    assert second["executionId"] == first["executionId"]
    assert second["idempotent"] is True and second["status"] == "InProgress"
    assert rig.sim.calls["StartAutomationExecution"] == 1
    # Another process (a fresh backend, same bucket) is deduplicated by the bucket record too.
    other = rig.with_config()
    third = call_tool(other.ctx, "collect", {"instanceId": iid})
    assert third.ok and third.result["executionId"] == first["executionId"]
    assert rig.sim.calls["StartAutomationExecution"] == 1


def test_idempotent_collect_after_success_reports_the_ingested_bundle(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0))
    eid = _collect(rig, instanceId=iid)["executionId"]
    _status(rig, eid)
    again = _collect(rig, instanceId=iid)
    record = rig.store.get(iid)
    assert again["executionId"] == eid and again["status"] == "Success"
    assert again["digest"] == record.digest and again["files"] == len(record.manifest.files)


def test_explicit_tokens_scope_deduplication(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    a = _collect(rig, instanceId=iid, idempotencyToken="incident-42")
    b = _collect(rig, instanceId=iid, idempotencyToken="incident-42")
    c = _collect(rig, instanceId=iid, idempotencyToken="incident-43")
    assert a["executionId"] == b["executionId"] != c["executionId"]
    assert rig.sim.calls["StartAutomationExecution"] == 2


def test_derived_token_follows_the_incident_setting(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    a = call_tool(rig.with_config(incident="thread-1").ctx, "collect", {"instanceId": iid})
    b = call_tool(rig.with_config(incident="thread-1").ctx, "collect", {"instanceId": iid})
    c = call_tool(rig.with_config(incident="thread-2").ctx, "collect", {"instanceId": iid})
    assert a.ok and b.ok and c.ok
    assert a.result["executionId"] == b.result["executionId"] != c.result["executionId"]
    assert derive_token(iid, "thread-1") != derive_token(iid, "thread-2")


def test_without_an_incident_the_token_covers_one_instance_for_one_utc_hour() -> None:
    iid, other = "i-0abc123def4567890", "i-0abc123def4567891"
    at = datetime(2026, 7, 30, 14, 5, tzinfo=UTC)
    assert derive_token(iid, None, at) == derive_token(iid, None, at + timedelta(minutes=50))
    assert derive_token(iid, None, at) != derive_token(iid, None, at + timedelta(minutes=56))
    assert derive_token(iid, None, at) != derive_token(other, None, at)


def test_a_stale_claim_is_taken_over(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    records = BucketRecords(rig.backend.aws, rig.bucket, "us-east-1")
    stale = IdempotencyRecord(instanceId=iid, token="tok", state="starting",
                              createdAt=datetime.now(UTC) - timedelta(hours=1))
    rig.sim.client("s3").put_object(Bucket=rig.bucket, Key=records.idempotency_key(iid, "tok"),
                                    Body=stale.model_dump_json().encode())
    result = _collect(rig, instanceId=iid, idempotencyToken="tok")
    assert result["idempotent"] is False
    stored = records.get_idempotency(iid, "tok")
    assert stored is not None and stored.state == "started" and stored.executionId == result["executionId"]


def test_a_fresh_claim_makes_the_second_collect_wait_for_the_first(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    records = BucketRecords(rig.backend.aws, rig.bucket, "us-east-1")
    assert records.claim(iid, "tok")  # a first collect is between its claim and StartAutomationExecution
    started = rig.sim.start("us-east-1", "AWSSupport-CollectEKSInstanceLogs",
                            {"EKSInstanceId": [iid], "LogDestination": [rig.bucket]})
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the first collect finishes while the second waits
        slept.append(seconds)
        records.started(iid, "tok", started, "us-east-1")

    waiting = rig.with_config()
    waiting.backend._sleep = sleep
    result = call_tool(waiting.ctx, "collect", {"instanceId": iid, "idempotencyToken": "tok"})
    assert result.ok, result.error
    assert result.result["executionId"] == started and result.result["idempotent"] is True
    assert slept and rig.sim.calls["StartAutomationExecution"] == 1  # only the first collect started one


def test_the_region_is_found_and_remembered_for_another_process(rig: Rig) -> None:
    rig = rig.with_config(regions=["us-east-1", "eu-west-1"])
    iid = rig.sim.launch(region="eu-west-1", behaviour=Behaviour(polls=0))
    eid = _collect(rig, instanceId=iid)["executionId"]
    assert rig.sim.executions[eid]["region"] == "eu-west-1"
    # A resumed run in another process knows only the execution id; the bucket remembers the region.
    fresh = rig.with_config(regions=["us-east-1"])
    out = call_tool(fresh.ctx, "status", {"executionId": eid})
    assert out.ok, out.error
    assert out.result["status"] == "Success"


def test_the_collectors_own_archive_name_is_found_by_upload_time(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0, key_style="collector"))
    eid = _collect(rig, instanceId=iid)["executionId"]
    result = _status(rig, eid)
    key = rig.sim.uploaded[eid]
    assert key.startswith(f"eks_{iid}_") and key.endswith("_0.7.9.tar.gz") and eid not in key
    assert key in result["task"]["message"]
    assert rig.store.get(iid).manifest.files


def test_a_record_written_by_the_public_mcp_server_is_honoured(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=5))
    eid = rig.sim.start("us-east-1", "AWSSupport-CollectEKSInstanceLogs",
                        {"EKSInstanceId": [iid], "LogDestination": [rig.bucket]})
    record = {"executionId": eid, "instanceId": iid, "token": "mcp-tok", "createdAt": "2026-07-30T14:00:00"}
    rig.sim.client("s3").put_object(Bucket=rig.bucket, Key=f"idempotency/{iid}/mcp-tok.json",
                                    Body=json.dumps(record).encode())
    result = _collect(rig, instanceId=iid, idempotencyToken="mcp-tok")
    assert result["executionId"] == eid and result["idempotent"] is True
