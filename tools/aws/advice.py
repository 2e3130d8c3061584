"""From a failed collection to what the operator should do about it.

SSM reports a failed AWSSupport-CollectEKSInstanceLogs run as free text spread over the
execution's FailureMessage, its steps' messages and outputs (the collector's stderr ends up
there). The advice is chosen by what that text says, never by step names, which the document's
owners may rename: an S3 denial names the node role and the missing `s3:PutObject`, an unmanaged
instance gets the SSM agent checklist, a document missing from the region says which region.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from tools.aws import execution as ex

# Fixed, reviewed patterns over AWS's own messages (Python `re` is fine: nothing user-supplied).
_DENIED = re.compile(r"AccessDenied|Access Denied|not authorized to perform|Forbidden|\(403\)", re.I)
_S3_UPLOAD = re.compile(r"PutObject|upload failed|s3 cp|s3://|arn:aws[\w-]*:s3:::|CreateMultipartUpload", re.I)
_ASSUMED_ROLE = re.compile(r"assumed-role/([\w+=,.@-]+)/")
_BUCKET = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])|arn:aws[\w-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])")
_KMS = re.compile(r"\bkms:|KMS", re.I)
_SSM_UNREACHABLE = re.compile(
    r"InvalidInstanceId|not in a valid state|undeliverable|not (?:a )?managed|isn't managed|"
    r"is not registered|ConnectionLost|TargetNotConnected|SSM Agent|ssm agent|PingStatus",
    re.I,
)
_DOCUMENT_MISSING = re.compile(
    r"InvalidDocument|Document (?:with name )?\S* ?(?:does not exist|not found|is not available)|"
    r"document .{0,80}(?:does not exist|not found|is not available)",
    re.I,
)
_PASS_ROLE = re.compile(r"iam:PassRole|sts:AssumeRole|AutomationAssumeRole|assume (?:the )?role", re.I)
_ACTION = re.compile(r"not authorized to perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)")
_STOPPED = re.compile(r"\b(stopped|stopping|terminated|shutting-down)\b", re.I)
_TIMED_OUT = re.compile(r"timed out|TimedOut|timeout", re.I)


class Advice(BaseModel):
    """`kinds` says which failures were recognised (for callers and tests); `advice` is for people."""

    kinds: list[str] = Field(default_factory=list)
    advice: list[str] = Field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        if text not in self.advice:
            self.advice.append(text)


def console_url(execution_id: str, region: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/systems-manager/automation/execution/"
            f"{execution_id}?region={region}")


def ssm_agent_advice(instance_id: str, region: str) -> str:
    return (
        f"{instance_id} is not reachable through SSM in {region} (agent missing or stopped, or the node is not "
        "registered): install and start the agent (`sudo systemctl enable --now amazon-ssm-agent`), attach the "
        "AmazonSSMManagedInstanceCore policy to the node's instance role, and make sure the node reaches the "
        "ssm, ssmmessages and ec2messages endpoints (VPC endpoints in private subnets); "
        f"`aws ssm describe-instance-information --region {region}` must list it as Online."
    )


def document_advice(document: str, region: str) -> str:
    return (
        f"The SSM document {document} is not available in {region}: run the collection in a region where "
        f"AWS publishes it (check with `aws ssm describe-document --name {document} --region {region}`), "
        "or collect the bundle on the node with the EKS log collector and pass it with --bundle."
    )


def _node_s3_advice(text: str, bucket: str) -> str:
    role = _ASSUMED_ROLE.search(text)
    named = _BUCKET.search(text)
    target = next((g for g in named.groups() if g), bucket) if named else bucket
    who = f"the node's instance role {role.group(1)}" if role else "the node's instance role"
    advice = (
        f"The node could not upload its log bundle to s3://{target}: grant {who} s3:PutObject on "
        f"arn:aws:s3:::{target}/* (and allow it in the bucket policy), then collect again."
    )
    if _KMS.search(text):
        advice += " The bucket is KMS-encrypted: the role also needs kms:GenerateDataKey on the bucket's key."
    return advice


def advise(
    execution: dict[str, Any], *, instance_id: str, region: str, bucket: str, document: str, role_arn: str
) -> Advice:
    """Advice for a failed (or timed-out) automation execution, most specific first."""
    out = Advice()
    blobs = list(ex.texts(execution))
    _from_texts(out, blobs, instance_id=instance_id, region=region, bucket=bucket, document=document,
                role_arn=role_arn)
    if execution.get("AutomationExecutionStatus") == "TimedOut" and "timed_out" not in out.kinds:
        out.add("timed_out", _timed_out_advice(instance_id))
    if not out.advice:
        eid = str(execution.get("AutomationExecutionId") or "")
        out.add("unknown", "The failure was not recognised; read the step outputs in the SSM console: "
                + console_url(eid, region))
    return out


def _timed_out_advice(instance_id: str) -> str:
    return (f"The collector on {instance_id} did not finish in time: the node may be overloaded or its disk full; "
            "check the node, then collect again.")


def _from_texts(out: Advice, blobs: Iterable[str], *, instance_id: str, region: str, bucket: str, document: str,
                role_arn: str) -> None:
    for text in blobs:
        denied = bool(_DENIED.search(text))
        if denied and _S3_UPLOAD.search(text):
            out.add("node_s3_access_denied", _node_s3_advice(text, bucket))
            continue
        if _DOCUMENT_MISSING.search(text):
            out.add("document_unavailable", document_advice(document, region))
            continue
        if _SSM_UNREACHABLE.search(text):
            out.add("ssm_unreachable", ssm_agent_advice(instance_id, region))
            continue
        if denied and _PASS_ROLE.search(text):
            out.add("automation_role", (
                f"SSM could not use the automation role {role_arn}: its trust policy must allow "
                "ssm.amazonaws.com to assume it, and the identity running sopgraph needs iam:PassRole on it."
            ))
            continue
        action = _ACTION.search(text)
        if denied and action:
            role = _ASSUMED_ROLE.search(text)
            who = f"the role {role.group(1)}" if role else f"the automation role {role_arn}"
            out.add("access_denied", f"The automation was denied {action.group(1)}: grant it to {who}.")
            continue
        stopped = _STOPPED.search(text)
        if stopped and instance_id in text:
            out.add("instance_state", f"{instance_id} is not running ({stopped.group(1)}): "
                    "start it (or pick a running node) and collect again.")
            continue
        if _TIMED_OUT.search(text):
            out.add("timed_out", _timed_out_advice(instance_id))
