"""The AWS backend behind collect, status and cluster_health.

collect starts AWSSupport-CollectEKSInstanceLogs on the node (in the node's region, found with
DescribeInstances when not given), deduplicated through an idempotency record in the bucket;
status polls the execution until it ends (the runbook says "poll until collection completes"),
then fetches the tarball into the local store, or explains the failure. The results are the
local tools' own models, so the graph, the gates and the report cannot tell where a bundle came
from; only `ctx.backend` differs.

boto3 is imported inside the functions that call AWS: `tools` is imported at CLI start-up.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from tools.aws import execution as ex
from tools.aws.advice import advise, console_url, document_advice
from tools.aws.clients import AwsClients
from tools.aws.cluster import cluster_health as _cluster_health
from tools.aws.config import AwsConfig
from tools.aws.errors import AwsCallError
from tools.aws.fetch import fetch_into_store, find_bundle, ingested
from tools.aws.records import BucketRecords, IdempotencyRecord, check_execution_id, check_token, derive_token
from tools.builtin.collection import CollectArgs, CollectResult, StatusArgs, StatusResult, Task
from tools.builtin.common import human_size
from tools.builtin.fleet import ClusterHealthArgs, ClusterHealthResult
from tools.bundle.store import BundleRecord, BundleStore, is_instance_id
from tools.context import ToolContext
from tools.registry import ToolError

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_NOT_COLLECTABLE_STATES = frozenset({"stopped", "stopping", "terminated", "shutting-down"})
_NOT_FOUND = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
# A `starting` idempotency record older than this belongs to a collect that died before SSM answered.
_STALE_CLAIM = timedelta(minutes=5)
_CLAIM_WAIT_S = 30.0
_ESTIMATE = "the collector usually takes 3-5 minutes"


class AwsBackend:
    def __init__(
        self,
        cfg: AwsConfig,
        store: BundleStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.cfg = cfg
        self.store = store
        self.aws = AwsClients(cfg)
        self.records = BucketRecords(self.aws, cfg.bucket, cfg.regions[0])
        self._sleep = sleep
        self._monotonic = monotonic
        self._instance_regions: dict[str, str] = {}
        self._execution_regions: dict[str, str] = {}

    # ------------------------------------------------------------------ instances

    def locate(self, instance_id: str, region: str | None = None) -> tuple[str, dict[str, Any]]:
        """The instance's region and its DescribeInstances entry; the region is searched when not given."""
        if not is_instance_id(instance_id):
            raise ToolError(f"{instance_id!r} is not an EC2 instance id", hint="instance ids look like i-0123456789abcdef0",
                            code="invalid_args")
        if region is not None and not _REGION.fullmatch(region):
            raise ToolError(f"{region!r} is not an AWS region name", hint="e.g. us-east-1", code="invalid_args")
        if region:
            candidates = [region]
        else:
            known = self._instance_regions.get(instance_id)
            candidates = list(dict.fromkeys([*([known] if known else []), *self.cfg.regions]))
        for r in candidates:
            try:
                resp = self.aws.call("ec2", r, "describe_instances", InstanceIds=[instance_id])
            except AwsCallError as exc:
                if exc.aws_code in _NOT_FOUND:
                    continue
                raise
            for reservation in resp.get("Reservations") or []:
                for inst in reservation.get("Instances") or []:
                    if inst.get("InstanceId") == instance_id:
                        self._instance_regions[instance_id] = r
                        return r, inst
        raise ToolError(
            f"instance {instance_id} not found in {', '.join(candidates)}",
            hint="check the instance id, or pass the region it runs in (--region, or region=… on the tool call)",
            code="not_found",
        )

    # ------------------------------------------------------------------ collect

    def collect(self, ctx: ToolContext, args: CollectArgs) -> CollectResult:
        if args.bundle:
            raise ToolError("the AWS backend collects from the node itself; `bundle` is for local runs",
                            hint="drop bundle=…, or run with --backend local", code="invalid_args")
        iid = ctx.resolve_instance(args.instanceId)
        region, inst = self.locate(iid, args.region)
        state = (inst.get("State") or {}).get("Name", "unknown")
        if state in _NOT_COLLECTABLE_STATES:
            raise ToolError(f"instance {iid} is {state}: the collector runs only on a running instance",
                            hint="start the instance first" if state in ("stopped", "stopping") else
                            "pick another node of the incident", code="instance_state")
        token = check_token(args.idempotencyToken) if args.idempotencyToken else derive_token(iid, self.cfg.incident)
        for _ in range(3):
            existing = self.records.get_idempotency(iid, token)
            if existing is not None:
                reused = self._reuse(ctx, existing)
                if reused is not None:
                    return reused
                continue
            if self.records.claim(iid, token):
                break
        else:
            raise ToolError(f"another collect for {iid} (token {token}) keeps racing this one",
                            hint="call collect again in a minute", code="conflict")
        try:
            resp = self.aws.call(
                "ssm", region, "start_automation_execution",
                DocumentName=self.cfg.document_name,
                Parameters={"EKSInstanceId": [iid], "LogDestination": [self.cfg.bucket],
                            "AutomationAssumeRole": [self.cfg.role_arn]},
            )
        except AwsCallError as exc:
            with contextlib.suppress(AwsCallError):
                self.records.release(iid, token)
            raise self._start_error(exc, region) from None
        eid = str(resp["AutomationExecutionId"])
        self._execution_regions[eid] = region
        message = f"EKS log collection started in {region}: poll status with executionId {eid} ({_ESTIMATE})"
        try:
            self.records.started(iid, token, eid, region)
            self.records.remember_region(eid, region, iid)
        except AwsCallError as exc:
            # The collector is already running: report it rather than fail a collect that worked.
            message += f"; warning: it could not be recorded in the bucket, so a repeat may not be deduplicated " \
                       f"({exc.message})"
        if iid not in ctx.instance_ids:
            ctx.instance_ids.append(iid)
        return self._collect_result(iid, eid, "Pending", message, idempotent=False, region=region)

    def _reuse(self, ctx: ToolContext, existing: IdempotencyRecord) -> CollectResult | None:
        """The execution an earlier collect started for this token; None when it is gone, stale or failed."""
        record = existing
        deadline = self._monotonic() + _CLAIM_WAIT_S
        while record.state == "starting" or not record.executionId:
            if datetime.now(UTC) - record.createdAt > _STALE_CLAIM:
                self.records.release(record.instanceId, record.token)
                return None
            if self._monotonic() >= deadline:
                raise ToolError(f"another collect for {record.instanceId} is still starting (token {record.token})",
                                hint="call collect again in a minute", code="conflict")
            self._sleep(min(1.0, self.cfg.poll_interval_s))
            fresh = self.records.get_idempotency(record.instanceId, record.token)
            if fresh is None:
                return None
            record = fresh
        region = record.region or self.cfg.regions[0]
        try:
            execution = self._get(record.executionId, region)
        except AwsCallError as exc:
            if exc.aws_code != "AutomationExecutionNotFoundException":
                raise
            # SSM forgets executions after a while; the token then starts a fresh collection.
            self.records.release(record.instanceId, record.token)
            return None
        if execution.get("AutomationExecutionStatus") in ex.FAILED:
            # Deduplication is for collections that are running or worked: after a failure (say the
            # node role was fixed since), the same incident must be able to collect again.
            self.records.release(record.instanceId, record.token)
            return None
        self._execution_regions[record.executionId] = region
        iid = record.instanceId
        if iid not in ctx.instance_ids:
            ctx.instance_ids.append(iid)
        status = str(execution.get("AutomationExecutionStatus", "Pending"))
        return self._collect_result(iid, record.executionId, status, "Returning existing execution (idempotent)",
                                    idempotent=True, region=region, execution=execution)

    def _collect_result(self, iid: str, eid: str, status: str, message: str, *, idempotent: bool, region: str,
                        execution: dict[str, Any] | None = None) -> CollectResult:
        bundle = ingested(self.store, iid, eid)
        progress = ex.progress(execution) if execution else 0
        return CollectResult(
            message=message,
            executionId=eid,
            instanceId=iid,
            status=status,
            task=Task(taskId=eid, state=ex.task_state(status), message=f"SSM status: {status} ({region})",
                      progress=progress),
            # Empty until status has fetched the bundle: there is no content to digest before that.
            digest=bundle.digest if bundle else "",
            collected_at=bundle.manifest.collected_at.isoformat() if bundle and bundle.manifest.collected_at else None,
            files=len(bundle.manifest.files) if bundle else 0,
            idempotent=idempotent,
        )

    def _start_error(self, exc: AwsCallError, region: str) -> ToolError:
        if exc.aws_code == "InvalidDocument":
            return ToolError(
                f"SSM document {self.cfg.document_name} is not available in {region}: {exc.message}",
                hint=document_advice(self.cfg.document_name, region), code="document_unavailable",
            )
        return exc

    # ------------------------------------------------------------------ status

    def _get(self, eid: str, region: str) -> dict[str, Any]:
        resp = self.aws.call("ssm", region, "get_automation_execution", AutomationExecutionId=eid)
        return resp["AutomationExecution"]

    def _find_execution(self, eid: str, region: str | None) -> tuple[str, dict[str, Any]]:
        if region is not None and not _REGION.fullmatch(region):
            raise ToolError(f"{region!r} is not an AWS region name", hint="e.g. us-east-1", code="invalid_args")
        remembered = self._execution_regions.get(eid) or self.records.region_of(eid)
        candidates = list(dict.fromkeys(r for r in (remembered, region, *self.cfg.regions) if r))
        for r in candidates:
            try:
                execution = self._get(eid, r)
            except AwsCallError as exc:
                if exc.aws_code == "AutomationExecutionNotFoundException":
                    continue
                raise
            self._execution_regions[eid] = r
            return r, execution
        raise ToolError(f"unknown executionId {eid!r} (looked in {', '.join(candidates)})",
                        hint="use the executionId that collect returned, or pass region=…", code="not_found")

    def status(self, ctx: ToolContext, args: StatusArgs) -> StatusResult:
        eid = check_execution_id(args.executionId)
        region, execution = self._find_execution(eid, args.region)
        deadline = self._monotonic() + self.cfg.wait_timeout_s
        while execution.get("AutomationExecutionStatus") not in ex.TERMINAL:
            if self._monotonic() + self.cfg.poll_interval_s > deadline:
                break
            self._sleep(self.cfg.poll_interval_s)
            execution = self._get(eid, region)
        status = str(execution.get("AutomationExecutionStatus", "Pending"))
        iid = ex.instance_of(execution)
        if not iid or not is_instance_id(iid):
            raise ToolError(f"execution {eid} is not a log collection (no EKSInstanceId parameter)",
                            hint="use the executionId that collect returned", code="invalid_args")
        if status in ex.SUCCESS:
            return self._fetched(ctx, eid, region, iid, execution, status)
        if status in ex.FAILED:
            advice = advise(execution, instance_id=iid, region=region, bucket=self.cfg.bucket,
                            document=str(execution.get("DocumentName") or self.cfg.document_name),
                            role_arn=self.cfg.role_arn)
            reason = ex.failure_reason(execution)
            return StatusResult(
                executionId=eid, instanceId=iid, status=status, progress=ex.progress(execution),
                task=Task(taskId=eid, state=ex.task_state(status), message=reason, progress=ex.progress(execution)),
                failureReason=reason, advice=advice.advice,
            )
        steps = ""
        if args.includeStepDetails and execution.get("StepExecutions"):
            steps = " (" + ", ".join(f"{s.stepName}={s.status}" for s in ex.step_details(execution)) + ")"
        return StatusResult(
            executionId=eid, instanceId=iid, status=status, progress=ex.progress(execution),
            task=Task(taskId=eid, state=ex.task_state(status), message=f"SSM status: {status}{steps}",
                      progress=ex.progress(execution)),
            advice=[f"still {status} after waiting {self.cfg.wait_timeout_s:g}s ({_ESTIMATE}): call status again; "
                    f"progress in the console: {console_url(eid, region)}"],
        )

    def _fetched(self, ctx: ToolContext, eid: str, region: str, iid: str, execution: dict[str, Any],
                 status: str) -> StatusResult:
        record = ingested(self.store, iid, eid)
        if record is not None:  # an earlier status fetched it; the bucket may have expired it since
            return self._success(ctx, eid, iid, status, record, "bundle of this collection already in the store")
        s3_region = self.cfg.regions[0]
        started = execution.get("ExecutionStartTime")
        obj = find_bundle(self.aws, s3_region, self.cfg.bucket, iid, eid, started if isinstance(started, datetime) else None)
        if obj is None:
            raise ToolError(
                f"collection {eid} succeeded but s3://{self.cfg.bucket} holds no eks_{iid}_….tar.gz uploaded since it "
                "started",
                hint="the node may have uploaded elsewhere: check the execution's outputs in the console "
                     + console_url(eid, region),
                code="bundle_missing",
            )
        record = fetch_into_store(self.aws, s3_region, self.cfg.bucket, obj, self.store, iid, eid,
                                  attempts=self.cfg.download_attempts, max_bytes=self.cfg.max_download_bytes,
                                  sleep=self._sleep)
        return self._success(ctx, eid, iid, status, record,
                             f"s3://{self.cfg.bucket}/{obj.key} ({human_size(obj.size)}) ingested")

    def _success(self, ctx: ToolContext, eid: str, iid: str, status: str, record: BundleRecord,
                 what: str) -> StatusResult:
        if iid not in ctx.instance_ids:
            ctx.instance_ids.append(iid)
        message = (f"SSM status: {status}; {what}: {len(record.manifest.files)} files, "
                   f"digest {record.digest[:12]}")
        return StatusResult(
            executionId=eid, instanceId=iid, status=status, progress=100,
            task=Task(taskId=eid, state="completed", message=message, progress=100),
        )

    # ------------------------------------------------------------------ cluster_health

    def cluster_health(self, ctx: ToolContext, args: ClusterHealthArgs) -> ClusterHealthResult:
        return _cluster_health(self.aws, ctx, args, default_region=self.cfg.regions[0], locate=self.locate)


def make_backend(settings: dict[str, Any], store: BundleStore) -> AwsBackend:
    """The backend for a run, from the settings dict stored in its checkpoint (see `AwsConfig`)."""
    try:
        cfg = AwsConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ToolError(f"invalid AWS backend settings: {problems}",
                        hint="start the run again with --backend aws and valid flags", code="aws_config") from None
    return AwsBackend(cfg, store)
