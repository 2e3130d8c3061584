"""Reading executions and choosing advice: pure functions, exercised on the shapes SSM returns."""

from __future__ import annotations

from typing import Any

import pytest

from tools.aws import execution as ex
from tools.aws.advice import advise
from tools.aws.errors import denied_action, iam_action

IID = "i-0abc123def4567890"
ROLE = "arn:aws:iam::123456789012:role/SopgraphCollectAutomation"


def _execution(status: str = "Failed", **extra: Any) -> dict[str, Any]:
    return {"AutomationExecutionId": "e-1", "AutomationExecutionStatus": status, "StepExecutions": [],
            "Parameters": {"EKSInstanceId": [IID]}, **extra}


def _advise(execution: dict[str, Any]):
    return advise(execution, instance_id=IID, region="eu-central-1", bucket="logs-bkt",
                  document="AWSSupport-CollectEKSInstanceLogs", role_arn=ROLE)


@pytest.mark.parametrize(("status", "state"), [
    ("Pending", "running"), ("InProgress", "running"), ("Waiting", "running"), ("Success", "completed"),
    ("TimedOut", "failed"), ("Failed", "failed"), ("Cancelling", "cancelling"), ("Cancelled", "cancelled"),
    ("CompletedWithFailure", "failed"), ("SomethingNew", "running"),
])
def test_task_state_mapping_matches_the_reference_server(status: str, state: str) -> None:
    assert ex.task_state(status) == state


def test_progress_rule() -> None:
    assert ex.progress(_execution("Success")) == 100
    assert ex.progress(_execution("Failed")) == 0
    assert ex.progress(_execution("InProgress")) == 10  # no steps yet
    steps = [{"StepStatus": "Success"}, {"StepStatus": "InProgress"}, {"StepStatus": "Pending"}]
    assert ex.progress(_execution("InProgress", StepExecutions=steps)) == 33
    assert ex.progress(_execution("InProgress", StepExecutions=[{"StepStatus": "Success"}])) == 95  # capped


def test_failure_reason_precedence() -> None:
    step = {"StepName": "upload", "StepStatus": "Failed", "FailureMessage": "boom"}
    assert ex.failure_reason(_execution(Outputs={"x.FailureMessage": ["from outputs"]}, StepExecutions=[step])) \
        == "from outputs"
    assert ex.failure_reason(_execution(StepExecutions=[step], FailureMessage="exec")) == "Step 'upload' failed: boom"
    assert ex.failure_reason(_execution(FailureMessage="exec")) == "exec"
    assert ex.failure_reason(_execution()) == "Unknown failure reason"


def test_kms_encrypted_bucket_adds_the_kms_permission() -> None:
    text = ("upload failed: ./eks_x.tar.gz to s3://logs-bkt/eks_x.tar.gz An error occurred (AccessDenied) when "
            "calling the PutObject operation: User: arn:aws:sts::123456789012:assumed-role/node-r/i-0abc is not "
            "authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-central-1:123456789012:key/k")
    out = _advise(_execution(StepExecutions=[{"StepName": "u", "StepStatus": "Failed", "Outputs": {"Output": [text]}}]))
    assert out.kinds == ["node_s3_access_denied"]
    assert "node-r" in out.advice[0] and "s3:PutObject" in out.advice[0] and "kms:GenerateDataKey" in out.advice[0]


def test_the_bucket_named_in_the_message_wins_over_the_configured_one() -> None:
    text = ("An error occurred (AccessDenied) when calling the PutObject operation: Access Denied "
            "(uploading to s3://other-bucket/eks_i.tar.gz)")
    out = _advise(_execution(FailureMessage=text))
    assert "arn:aws:s3:::other-bucket/*" in out.advice[0]
    assert "logs-bkt" not in out.advice[0] and "the node's instance role s3:PutObject" in out.advice[0]


def test_automation_role_problems_point_at_the_trust_policy() -> None:
    text = ("The defined assume role is unable to be assumed. (Service: AWSSimpleSystemsManagement; Error Code: "
            "AccessDenied) not authorized to perform: sts:AssumeRole on resource " + ROLE)
    out = _advise(_execution(FailureMessage=text))
    assert out.kinds == ["automation_role"]
    assert ROLE in out.advice[0] and "ssm.amazonaws.com" in out.advice[0] and "iam:PassRole" in out.advice[0]


def test_other_denials_name_the_action_and_the_role() -> None:
    text = ("User: arn:aws:sts::123456789012:assumed-role/SopgraphCollectAutomation/session is not authorized to "
            "perform: ssm:SendCommand on resource: arn:aws:ec2:eu-central-1:123456789012:instance/" + IID)
    out = _advise(_execution(FailureMessage=text))
    assert out.kinds == ["access_denied"]
    assert "ssm:SendCommand" in out.advice[0] and "SopgraphCollectAutomation" in out.advice[0]


def test_document_missing_inside_a_failed_execution() -> None:
    out = _advise(_execution(FailureMessage="InvalidDocument: Document with name AWSSupport-X does not exist."))
    assert out.kinds == ["document_unavailable"] and "eu-central-1" in out.advice[0]


def test_unrecognised_failures_point_at_the_console() -> None:
    out = _advise(_execution(FailureMessage="something nobody has seen before"))
    assert out.kinds == ["unknown"]
    assert "https://eu-central-1.console.aws.amazon.com/systems-manager/automation/execution/e-1" in out.advice[0]


def test_advice_is_not_repeated_when_several_texts_say_the_same() -> None:
    msg = f"Instances [[{IID}]] not in a valid state for account 123456789012 (Error Code: InvalidInstanceId)"
    steps = [{"StepName": "s", "StepStatus": "Failed", "FailureMessage": msg,
              "FailureDetails": {"Details": {"ErrorCode": ["InvalidInstanceId"]}}}]
    out = _advise(_execution(FailureMessage=msg, StepExecutions=steps))
    assert out.kinds == ["ssm_unreachable"] and len(out.advice) == 1


def test_a_zero_or_absent_signal_is_not_advice() -> None:
    out = _advise(_execution("Failed", StepExecutions=[{"StepName": "s", "StepStatus": "Failed",
                                                        "Outputs": {"Output": ["exit status 0"]}}]))
    assert out.kinds == ["unknown"]


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("s3", "ListObjectsV2", "s3:ListBucket"), ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "PutObject", "s3:PutObject"), ("ssm", "StartAutomationExecution", "ssm:StartAutomationExecution"),
    ("ec2", "DescribeInstances", "ec2:DescribeInstances"),
])
def test_iam_action_names(service: str, operation: str, action: str) -> None:
    assert iam_action(service, operation) == action


def test_the_denied_action_in_the_message_wins() -> None:
    msg = "User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1:role/r"
    assert denied_action(msg, "ssm", "StartAutomationExecution") == "iam:PassRole"
    assert denied_action("Access Denied", "s3", "ListObjectsV2") == "s3:ListBucket"
