"""Small JSON records kept in the collection bucket, next to the bundles they describe.

`idempotency/<instance>/<token>.json` makes a repeated collect return the execution the first one
started, across processes and machines: the record is created with a conditional put
(If-None-Match: *) *before* the automation starts, so of two concurrent collects exactly one
starts the collector and the other waits for its execution id. `execution-regions/<id>.json`
remembers where an execution runs, so `status` in another process (a resumed run) can find it.
The key layout is that of the public EKS Node Log MCP server, so both can share a bucket.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator

from tools.aws.clients import AwsClients
from tools.aws.errors import AwsCallError
from tools.registry import ToolError

_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_EXECUTION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_LOST_RACE = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound"})
_MAX_RECORD = 64 * 1024  # our records are a few hundred bytes; a larger object is not one of them


def derive_token(instance_id: str, incident: str | None, now: datetime | None = None) -> str:
    """A token for collects that did not bring one: one per instance and incident (else per UTC hour)."""
    scope = incident or (now or datetime.now(UTC)).strftime("%Y%m%dT%H")
    return "auto-" + hashlib.sha256(f"{instance_id}|{scope}".encode()).hexdigest()[:24]


def check_token(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise ToolError(
            f"idempotencyToken {token[:40]!r} is not usable",
            hint="use 1-128 letters, digits, '_', '.', ':' or '-'",
            code="invalid_args",
        )
    return token


def check_execution_id(execution_id: str) -> str:
    if not _EXECUTION_ID.fullmatch(execution_id):
        raise ToolError(
            f"executionId {execution_id[:70]!r} is not an SSM automation execution id",
            hint="use the executionId that collect returned",
            code="invalid_args",
        )
    return execution_id


class IdempotencyRecord(BaseModel):
    instanceId: str
    token: str
    # The public MCP server writes the same key without `state`; its records always hold an executionId.
    state: Literal["starting", "started"] = "started"
    createdAt: datetime
    executionId: str | None = None
    region: str | None = None

    @field_validator("createdAt")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # Another writer (the MCP server shares the layout) may omit the zone; the bucket's clock is UTC.
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class ExecutionRegion(BaseModel):
    executionId: str
    region: str
    instanceId: str
    createdAt: datetime


class BucketRecords:
    def __init__(self, aws: AwsClients, bucket: str, region: str):
        self.aws = aws
        self.bucket = bucket
        self.region = region

    # ------------------------------------------------------------------ raw objects

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            resp = self.aws.call("s3", self.region, "get_object", Bucket=self.bucket, Key=key)
        except AwsCallError as exc:
            if exc.aws_code in _ABSENT:
                return None
            raise
        try:
            data = json.loads(resp["Body"].read(_MAX_RECORD))
        except ValueError:
            return None  # a damaged record is as good as none: it is rewritten
        return data if isinstance(data, dict) else None

    def _put(self, key: str, body: BaseModel, *, create_only: bool = False) -> bool:
        extra = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self.aws.call("s3", self.region, "put_object", Bucket=self.bucket, Key=key,
                          Body=body.model_dump_json().encode(), ContentType="application/json", **extra)
        except AwsCallError as exc:
            if create_only and exc.aws_code in _LOST_RACE:
                return False
            raise
        return True

    # ------------------------------------------------------------------ idempotency

    @staticmethod
    def idempotency_key(instance_id: str, token: str) -> str:
        return f"idempotency/{instance_id}/{token}.json"

    def get_idempotency(self, instance_id: str, token: str) -> IdempotencyRecord | None:
        data = self._get(self.idempotency_key(instance_id, token))
        if data is None:
            return None
        try:
            return IdempotencyRecord.model_validate(data)
        except ValidationError:
            return None

    def claim(self, instance_id: str, token: str) -> bool:
        """Create the record in state `starting`; False when another collect holds it already."""
        record = IdempotencyRecord(instanceId=instance_id, token=token, state="starting", createdAt=datetime.now(UTC))
        return self._put(self.idempotency_key(instance_id, token), record, create_only=True)

    def started(self, instance_id: str, token: str, execution_id: str, region: str) -> None:
        record = IdempotencyRecord(instanceId=instance_id, token=token, state="started", createdAt=datetime.now(UTC),
                                   executionId=execution_id, region=region)
        self._put(self.idempotency_key(instance_id, token), record)

    def release(self, instance_id: str, token: str) -> None:
        self.aws.call("s3", self.region, "delete_object", Bucket=self.bucket,
                      Key=self.idempotency_key(instance_id, token))

    # ------------------------------------------------------------------ execution regions

    def remember_region(self, execution_id: str, region: str, instance_id: str) -> None:
        record = ExecutionRegion(executionId=execution_id, region=region, instanceId=instance_id,
                                 createdAt=datetime.now(UTC))
        self._put(f"execution-regions/{execution_id}.json", record)

    def region_of(self, execution_id: str) -> str | None:
        data = self._get(f"execution-regions/{execution_id}.json")
        if data is None:
            return None
        try:
            return ExecutionRegion.model_validate(data).region
        except ValidationError:
            return None
