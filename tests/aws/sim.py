"""A simulated AWSSupport-CollectEKSInstanceLogs inside moto's server (moto 5.2 has no SSM Automation).

The handlers are installed on moto's SSM response class before the threaded server starts, so
boto3 talks real HTTP to 127.0.0.1 and gets real ClientErrors. The simulated document runs
InProgress for a few polls, then either uploads a generated bundle tarball to the bucket and
succeeds, or fails with the messages SSM gives for that failure (node role denied on the upload,
instance not managed by SSM, collector timed out). Start-time failures (document missing in the
region, AccessDenied for the caller, throttling) are raised as the service raises them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from evals.generator.spec import BundleSpec
from evals.generator.writer import write_bundle

ACCOUNT = "123456789012"
AMI = "ami-12c6146b"  # in moto's bundled image list
FAKE_CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

Outcome = Literal["success", "s3_denied", "not_managed", "timed_out"]


@dataclass
class Behaviour:
    outcome: Outcome = "success"
    polls: int = 2  # GetAutomationExecution answers that still say InProgress
    spec: BundleSpec | None = None  # what the node's bundle holds (default: kernel table full)
    key_style: Literal["execution", "collector"] = "execution"
    node_role: str = "eks-node-role-prod"


@dataclass
class Sim:
    bundle_dir: Path
    url: str = ""
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed: dict[str, dict[str, Any]] = field(default_factory=dict)
    document_regions: set[str] | None = None  # None: the document exists everywhere
    denied: dict[str, str] = field(default_factory=dict)  # operation → IAM action named in the denial
    throttle: Counter[str] = field(default_factory=Counter)  # operation → throttling answers left
    calls: Counter[str] = field(default_factory=Counter)
    uploaded: dict[str, str] = field(default_factory=dict)  # execution id → S3 key
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.behaviours.clear()
            self.document_regions = None
            self.denied.clear()
            self.throttle.clear()
            self.calls.clear()

    def client(self, service: str, region: str = "us-east-1") -> Any:
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=self.url, **FAKE_CREDS)

    def launch(self, *, region: str = "us-east-1", cluster: str | None = "prod-east", tag_style: str = "eks",
               managed: str | None = "Online", instance_type: str = "m5.large", nodegroup: str | None = "ng-1",
               behaviour: Behaviour | None = None) -> str:
        """A running EC2 instance tagged as a node of `cluster`, optionally registered with SSM."""
        tags = [{"Key": "Name", "Value": f"{cluster or 'lone'}-node"}]
        if cluster and tag_style == "eks":
            tags += [{"Key": "eks:cluster-name", "Value": cluster}]
            if nodegroup:
                tags += [{"Key": "eks:nodegroup-name", "Value": nodegroup}]
        if cluster and tag_style in ("eks", "kubernetes"):
            tags += [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}]
        ec2 = self.client("ec2", region)
        resp = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=instance_type,
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        iid = resp["Instances"][0]["InstanceId"]
        if managed is not None:
            self.managed[iid] = {"region": region, "PingStatus": managed}
        if behaviour is not None:
            self.behaviours[iid] = behaviour
        return iid

    def bucket(self, region: str = "us-east-1") -> str:
        name = f"sopgraph-logs-{uuid.uuid4().hex[:12]}"
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.client("s3", region).create_bucket(**kwargs)
        return name

    # ------------------------------------------------------------------ handlers' logic

    def _gate(self, operation: str, service_action: str) -> None:
        from moto.core.exceptions import JsonRESTError

        with self.lock:
            self.calls[operation] += 1
            if self.throttle[operation] > 0:
                self.throttle[operation] -= 1
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
            action = self.denied.get(operation)
        if action:
            raise JsonRESTError(
                "AccessDeniedException",
                f"User: arn:aws:iam::{ACCOUNT}:user/sopgraph is not authorized to perform: {action} on resource: "
                f"arn:aws:ssm:us-east-1:{ACCOUNT}:{service_action} because no identity-based policy allows the "
                f"{action} action",
            )

    def start(self, region: str, document: str, params: dict[str, list[str]]) -> str:
        from moto.core.exceptions import JsonRESTError

        self._gate("StartAutomationExecution", f"automation-definition/{document}:$DEFAULT")
        if self.document_regions is not None and region not in self.document_regions:
            raise JsonRESTError("InvalidDocument", f"Document with name {document} does not exist.")
        for required in ("EKSInstanceId", "LogDestination"):
            if not params.get(required):
                raise JsonRESTError("InvalidAutomationExecutionParametersException",
                                    f"Parameter {required} is required")
        eid = str(uuid.uuid4())
        with self.lock:
            self.executions[eid] = {"region": region, "document": document, "params": params, "polls": 0,
                                    "start": datetime.now(UTC), "final": None}
        return eid

    def get(self, region: str, eid: str) -> dict[str, Any]:
        from moto.core.exceptions import JsonRESTError

        self._gate("GetAutomationExecution", f"automation-execution/{eid}")
        with self.lock:
            run = self.executions.get(eid)
            if run is None or run["region"] != region:
                raise JsonRESTError("AutomationExecutionNotFoundException", f"Automation execution {eid} not found")
            iid = run["params"]["EKSInstanceId"][0]
            behaviour = self.behaviours.get(iid) or Behaviour(outcome="not_managed")
            run["polls"] += 1
            finish = run["final"] is None and not run.get("finishing") and run["polls"] > behaviour.polls
            run["finishing"] = run.get("finishing") or finish
        if finish:
            final = self._finish(eid, run, iid, behaviour)
            with self.lock:
                run["final"] = final
        return self._describe(eid, run, iid)

    def _finish(self, eid: str, run: dict[str, Any], iid: str, behaviour: Behaviour) -> dict[str, Any]:
        bucket = run["params"]["LogDestination"][0]
        stamp = datetime.now(UTC)
        if behaviour.outcome == "success":
            spec = behaviour.spec or BundleSpec(scenario="kernel_table_full")
            spec = spec.model_copy(update={"instance_id": iid})
            out = self.bundle_dir / eid
            generated = write_bundle(spec, out, "tar.gz", overwrite=True)
            key = f"eks_{iid}_{eid}.tar.gz" if behaviour.key_style == "execution" else generated.path.name
            self.client("s3", run["region"]).put_object(Bucket=bucket, Key=key, Body=generated.path.read_bytes())
            self.uploaded[eid] = key
            return {"status": "Success", "end": stamp, "steps": _steps("Success")}
        if behaviour.outcome == "s3_denied":
            name = f"eks_{iid}_{stamp:%Y-%m-%d_%H%M}-UTC_0.7.9.tar.gz"
            stderr = (
                f"upload failed: ../../var/log/{name} to s3://{bucket}/{name} An error occurred (AccessDenied) when "
                f"calling the PutObject operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/{behaviour.node_role}/{iid} "
                f"is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::{bucket}/{name}\" because no "
                "identity-based policy allows the s3:PutObject action"
            )
            failure = (f"Step fails when it is Poll action status for completion. Command failed on instance {iid} "
                       "with exit code 1. Please refer to Automation Service Troubleshooting Guide for more "
                       "diagnosis details.")
            steps = _steps("Failed", failure=failure, outputs={"Output": ["* EKS logs collected\n* Pushing to S3\n"
                                                                             + stderr]})
            return {"status": "Failed", "end": stamp, "steps": steps, "message": failure}
        if behaviour.outcome == "not_managed":
            failure = (
                "Step fails when it is Execution of RunCommand. Failed to run RunCommand. Instances "
                f"[[{iid}]] not in a valid state for account {ACCOUNT} (Service: AmazonSSM; Status Code: 400; Error "
                f"Code: InvalidInstanceId; Request ID: {uuid.uuid4()}). Please refer to Automation Service "
                "Troubleshooting Guide for more diagnosis details."
            )
            steps = _steps("Failed", failure=failure, details={"ErrorCode": ["InvalidInstanceId"]})
            return {"status": "Failed", "end": stamp, "steps": steps, "message": failure}
        failure = "Step timed out while step is verifying the command has completed."
        return {"status": "TimedOut", "end": stamp, "steps": _steps("TimedOut", failure=failure)}

    def _describe(self, eid: str, run: dict[str, Any], iid: str) -> dict[str, Any]:
        final = run["final"]
        status = final["status"] if final else "InProgress"
        steps = final["steps"] if final else _steps("InProgress")
        body: dict[str, Any] = {
            "AutomationExecutionId": eid,
            "DocumentName": run["document"],
            "DocumentVersion": "1",
            "ExecutionStartTime": run["start"].timestamp(),
            "AutomationExecutionStatus": status,
            "StepExecutions": steps,
            "Parameters": run["params"],
            "Outputs": {},
            "Mode": "Auto",
            "ExecutedBy": f"arn:aws:iam::{ACCOUNT}:user/sopgraph",
        }
        if final:
            body["ExecutionEndTime"] = final["end"].timestamp()
            if final.get("message"):
                body["FailureMessage"] = final["message"]
        return body

    def instance_information(self, region: str, ids: list[str]) -> list[dict[str, Any]]:
        self._gate("DescribeInstanceInformation", "*")
        out = []
        for iid in ids:
            info = self.managed.get(iid)
            if info and info["region"] == region:
                out.append({"InstanceId": iid, "PingStatus": info["PingStatus"], "AgentVersion": "3.3.1142.0",
                            "PlatformType": "Linux", "PlatformName": "Amazon Linux",
                            "LastPingDateTime": datetime.now(UTC).timestamp(), "ResourceType": "EC2Instance"})
        return out


_STEP_NAMES = ("getInstanceProperties", "collectEKSLogs", "uploadLogsToS3")


def _steps(state: str, *, failure: str | None = None, outputs: dict[str, list[str]] | None = None,
           details: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The document's three steps as GetAutomationExecution lists them for a run in `state`."""
    now = datetime.now(UTC).timestamp()
    steps = []
    for i, name in enumerate(_STEP_NAMES):
        step: dict[str, Any] = {"StepName": name, "Action": "aws:runCommand" if i else "aws:executeAwsApi",
                                "StepExecutionId": str(uuid.uuid4()), "ExecutionStartTime": now}
        if state == "Success" or (state in ("Failed", "TimedOut") and i < len(_STEP_NAMES) - 1) or \
                (state == "InProgress" and i == 0):
            step["StepStatus"] = "Success"
        elif state == "InProgress":
            step["StepStatus"] = "InProgress" if i == 1 else "Pending"
        else:
            step["StepStatus"] = state
            if failure:
                step["FailureMessage"] = failure
            if outputs:
                step["Outputs"] = outputs
            step["FailureDetails"] = {"FailureStage": "Invocation", "FailureType": "Verification",
                                      "Details": details or {}}
        steps.append(step)
    return steps


def install(monkeypatch: pytest.MonkeyPatch, sim: Sim) -> None:
    """Give moto's SSM the three Automation calls it lacks, backed by `sim`."""
    from moto.ssm.responses import SimpleSystemManagerResponse

    def start_automation_execution(self: Any) -> str:
        eid = sim.start(self.region, self._get_param("DocumentName"), self._get_param("Parameters") or {})
        return json.dumps({"AutomationExecutionId": eid})

    def get_automation_execution(self: Any) -> str:
        return json.dumps({"AutomationExecution": sim.get(self.region, self._get_param("AutomationExecutionId"))})

    def describe_instance_information(self: Any) -> str:
        ids: list[str] = []
        for f in self._get_param("Filters") or []:
            if f.get("Key") == "InstanceIds":
                ids += f.get("Values") or []
        return json.dumps({"InstanceInformationList": sim.instance_information(self.region, ids)})

    for name, fn in (("start_automation_execution", start_automation_execution),
                     ("get_automation_execution", get_automation_execution),
                     ("describe_instance_information", describe_instance_information)):
        monkeypatch.setattr(SimpleSystemManagerResponse, name, fn, raising=False)
