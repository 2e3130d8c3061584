"""Every failure path the issue names gives a structured error or advice, never a traceback."""

from __future__ import annotations

import pytest

from tests.aws.conftest import Rig, isolate_env
from tests.aws.sim import Behaviour
from tools.aws.records import BucketRecords, derive_token
from tools.registry import call_tool


def _failed_status(rig: Rig, behaviour: Behaviour) -> tuple[str, dict]:
    iid = rig.sim.launch(behaviour=behaviour)
    collected = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert collected.ok, collected.error
    out = call_tool(rig.ctx, "status", {"executionId": collected.result["executionId"]})
    assert out.ok, out.error  # status itself worked: it reports a failed collection
    return iid, out.result


def test_node_role_denied_on_upload_names_the_role_and_s3_putobject(rig: Rig) -> None:
    iid, result = _failed_status(rig, Behaviour(outcome="s3_denied", node_role="eks-node-role-prod"))
    assert result["status"] == "Failed" and result["progress"] == 0 and result["task"]["state"] == "failed"
    assert result["failureReason"].startswith("Step 'uploadLogsToS3' failed:") and iid in result["failureReason"]
    assert len(result["advice"]) == 1
    advice = result["advice"][0]
    assert "eks-node-role-prod" in advice and "s3:PutObject" in advice
    assert f"arn:aws:s3:::{rig.bucket}/*" in advice
    assert rig.store.list() == [], "nothing is ingested from a failed collection"


def test_after_a_failed_collection_the_same_incident_collects_again(rig: Rig) -> None:
    iid, failed = _failed_status(rig, Behaviour(outcome="s3_denied"))
    rig.sim.behaviours[iid] = Behaviour(polls=0)  # the operator fixed the node role
    again = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert again.ok, again.error
    assert again.result["executionId"] != failed["executionId"] and again.result["idempotent"] is False
    status = call_tool(rig.ctx, "status", {"executionId": again.result["executionId"]})
    assert status.ok and status.result["status"] == "Success"
    assert rig.sim.calls["StartAutomationExecution"] == 2


def test_instance_not_managed_by_ssm_gets_the_agent_checklist(rig: Rig) -> None:
    iid, result = _failed_status(rig, Behaviour(outcome="not_managed"))
    assert "not in a valid state" in result["failureReason"]
    (advice,) = result["advice"]
    assert iid in advice and "amazon-ssm-agent" in advice and "AmazonSSMManagedInstanceCore" in advice
    assert "us-east-1" in advice


def test_collector_timeout_is_explained(rig: Rig) -> None:
    iid, result = _failed_status(rig, Behaviour(outcome="timed_out"))
    assert result["status"] == "TimedOut" and result["task"]["state"] == "failed"
    assert any("did not finish in time" in a and iid in a for a in result["advice"])


def test_document_missing_in_the_region_names_the_region(rig: Rig) -> None:
    rig = rig.with_config(regions=["us-east-1", "ap-southeast-2"])
    rig.sim.document_regions = {"us-east-1"}
    iid = rig.sim.launch(region="ap-southeast-2", behaviour=Behaviour())
    out = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert not out.ok and out.code == "document_unavailable"
    assert "AWSSupport-CollectEKSInstanceLogs" in out.error and "ap-southeast-2" in out.error
    assert "ap-southeast-2" in out.hint
    # The claim is released, so the same collect works once the document is there.
    assert BucketRecords(rig.backend.aws, rig.bucket, "us-east-1").get_idempotency(iid, derive_token(iid, rig.cfg.incident)) is None
    rig.sim.document_regions = None
    again = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert again.ok and again.result["idempotent"] is False


@pytest.mark.parametrize("action", ["ssm:StartAutomationExecution", "iam:PassRole"])
def test_access_denied_for_sopgraphs_own_role_names_the_action(rig: Rig, action: str) -> None:
    rig.sim.denied["StartAutomationExecution"] = action
    iid = rig.sim.launch(behaviour=Behaviour())
    out = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert not out.ok and out.code == "aws_access_denied"
    assert out.error.startswith(f"AWS denied {action} in us-east-1")
    assert f"grant {action}" in out.hint and "docs/aws.md" in out.hint
    assert "Traceback" not in out.error


def test_access_denied_on_status_names_get_automation_execution(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    eid = call_tool(rig.ctx, "collect", {"instanceId": iid}).result["executionId"]
    rig.sim.denied["GetAutomationExecution"] = "ssm:GetAutomationExecution"
    out = call_tool(rig.ctx, "status", {"executionId": eid})
    assert not out.ok and out.code == "aws_access_denied"
    assert "ssm:GetAutomationExecution" in out.error


def test_missing_credentials_is_a_clear_tool_error(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    isolate_env(monkeypatch, rig.home, credentials=False)
    fresh = rig.with_config()
    out = call_tool(fresh.ctx, "collect", {"instanceId": iid})
    assert not out.ok and out.code == "aws_credentials"
    assert out.error.startswith("no usable AWS credentials")
    assert "AWS_PROFILE" in out.hint
    assert rig.sim.calls["StartAutomationExecution"] == 0


def test_throttling_is_retried_by_botocore(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0))
    patient = rig.with_config(max_attempts=3, retry_mode="standard")
    eid = call_tool(patient.ctx, "collect", {"instanceId": iid}).result["executionId"]
    rig.sim.throttle["GetAutomationExecution"] = 1
    out = call_tool(patient.ctx, "status", {"executionId": eid})
    assert out.ok, out.error
    assert out.result["status"] == "Success"
    assert rig.sim.calls["GetAutomationExecution"] == 2  # one throttled answer, one retried call


def test_throttling_that_outlasts_the_retries_says_so(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    eid = call_tool(rig.ctx, "collect", {"instanceId": iid}).result["executionId"]
    rig.sim.throttle["GetAutomationExecution"] = 5
    out = call_tool(rig.ctx, "status", {"executionId": eid})  # max_attempts=1: no retry
    assert not out.ok and out.code == "aws_throttled"
    assert "ssm:GetAutomationExecution" in out.error and "ThrottlingException" in out.error


def test_unknown_instance_names_the_regions_searched(rig: Rig) -> None:
    rig = rig.with_config(regions=["us-east-1", "eu-west-1"])
    out = call_tool(rig.ctx, "collect", {"instanceId": "i-0123456789abcdef0"})
    assert not out.ok and out.code == "not_found"
    assert out.error == "instance i-0123456789abcdef0 not found in us-east-1, eu-west-1"
    assert "--region" in out.hint


def test_malformed_instance_id_is_refused_before_any_call(rig: Rig) -> None:
    out = call_tool(rig.ctx, "collect", {"instanceId": "i-xyz; rm -rf /"})
    assert not out.ok and out.code == "invalid_args"


def test_stopped_instance_is_refused(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    rig.sim.client("ec2").stop_instances(InstanceIds=[iid])
    out = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert not out.ok and out.code == "instance_state"
    assert "stopped" in out.error and "start the instance" in out.hint
    assert rig.sim.calls["StartAutomationExecution"] == 0


def test_unknown_execution_id(rig: Rig) -> None:
    out = call_tool(rig.ctx, "status", {"executionId": "0b2a6f6e-0000-4000-8000-000000000000"})
    assert not out.ok and out.code == "not_found"
    assert "us-east-1" in out.error


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a" * 65, "id with spaces"])
def test_malformed_execution_id_is_refused(rig: Rig, bad: str) -> None:
    out = call_tool(rig.ctx, "status", {"executionId": bad})
    assert not out.ok and out.code == "invalid_args"


def test_malformed_idempotency_token_is_refused(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour())
    out = call_tool(rig.ctx, "collect", {"instanceId": iid, "idempotencyToken": "../other/x"})
    assert not out.ok and out.code == "invalid_args"


def test_still_running_after_the_wait_says_call_again(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=1000))
    impatient = rig.with_config(wait_timeout_s=0.05, poll_interval_s=0.01)
    eid = call_tool(impatient.ctx, "collect", {"instanceId": iid}).result["executionId"]
    out = call_tool(impatient.ctx, "status", {"executionId": eid})
    assert out.ok, out.error
    result = out.result
    assert result["status"] == "InProgress" and result["task"]["state"] == "running"
    assert 0 < result["progress"] < 100
    assert "collectEKSLogs=InProgress" in result["task"]["message"]
    assert "call status again" in result["advice"][0]
    assert rig.store.list() == []


def test_success_without_a_tarball_is_an_error_not_a_silent_pass(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0))
    eid = call_tool(rig.ctx, "collect", {"instanceId": iid}).result["executionId"]
    run = rig.sim.executions[eid]
    rig.sim.get("us-east-1", eid)  # the document finishes and uploads ...
    rig.sim.client("s3").delete_object(Bucket=rig.bucket, Key=rig.sim.uploaded[eid])  # ... and the object is lost
    assert run["final"]["status"] == "Success"
    out = call_tool(rig.ctx, "status", {"executionId": eid})
    assert not out.ok and out.code == "bundle_missing"
    assert rig.bucket in out.error and iid in out.error and eid in out.hint


def test_a_bundle_already_ingested_survives_the_bucket_expiring_it(rig: Rig) -> None:
    iid = rig.sim.launch(behaviour=Behaviour(polls=0))
    eid = call_tool(rig.ctx, "collect", {"instanceId": iid}).result["executionId"]
    assert call_tool(rig.ctx, "status", {"executionId": eid}).ok
    rig.sim.client("s3").delete_object(Bucket=rig.bucket, Key=rig.sim.uploaded[eid])  # lifecycle expiry
    again = call_tool(rig.with_config().ctx, "status", {"executionId": eid})
    assert again.ok, again.error
    assert "already in the store" in again.result["task"]["message"]


def test_a_record_that_cannot_be_written_after_the_start_is_a_warning(rig: Rig,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.aws.errors import AwsCallError

    def denied(*args: object, **kwargs: object) -> None:
        raise AwsCallError("AWS denied s3:PutObject in us-east-1: Access Denied", code="aws_access_denied",
                           aws_code="AccessDenied")

    iid = rig.sim.launch(behaviour=Behaviour())
    monkeypatch.setattr(rig.backend.records, "started", denied)
    out = call_tool(rig.ctx, "collect", {"instanceId": iid})
    assert out.ok, "the collector is running: the collect worked"
    assert "warning: it could not be recorded" in out.result["message"] and "s3:PutObject" in out.result["message"]
    assert rig.sim.calls["StartAutomationExecution"] == 1
