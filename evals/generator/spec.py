"""What a generated bundle should contain (`BundleSpec`) and what it actually contains (`GroundTruth`).

The spec is the only input of the generator and everything in a bundle follows from it and its
seed, so an eval case is reproducible from a few lines of YAML. The ground truth is computed from
the bytes that were written (after files were omitted or truncated), because that is what a
diagnosis can be scored against: a count that was cut out of the bundle cannot be expected.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scenario = Literal[
    "kernel_table_full", "allowance_exceeded", "both", "healthy", "near_full", "linklocal_dns", "red_herring"
]
Kernel = Literal["al2-4.14", "al2-5.10", "al2023-6.1", "al2023-6.12"]
Label = Literal["kernel_conntrack", "aws_instance_limit"]

SCENARIOS: tuple[Scenario, ...] = (
    "kernel_table_full", "allowance_exceeded", "both", "healthy", "near_full", "linklocal_dns", "red_herring"
)
KERNELS: tuple[Kernel, ...] = ("al2-4.14", "al2-5.10", "al2023-6.1", "al2023-6.12")

# Scenarios in which the kernel table overflows / the EC2 conntrack allowance is exceeded.
KERNEL_FULL_SCENARIOS = frozenset({"kernel_table_full", "both"})
ALLOWANCE_SCENARIOS = frozenset({"allowance_exceeded", "both"})

# Without `full_table_listing`, `conntrack -L` writes at most this many entries: a full table of a
# 96-vCPU node would be millions of lines, and the sysctl count is the authoritative number anyway.
DEFAULT_LISTING_LIMIT = 5000

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
_REL_PATH = re.compile(r"^[A-Za-z0-9_.@:+-]+(/[A-Za-z0-9_.@:+-]+)*/?$")


class BundleSpec(BaseModel):
    """One node, one incident. Unknown keys are refused so that a typo in an eval case fails loudly."""

    model_config = ConfigDict(extra="forbid")

    scenario: Scenario
    kernel: Kernel = "al2023-6.1"
    instance_id: str = "i-0abc123def4567890"
    cluster: str = "prod-east"
    region: str = "us-east-1"
    az: str = "us-east-1a"
    seed: int = 0
    incident_time: datetime = datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)
    instance_type: str = "m5.large"
    allowance_eni: Literal["primary", "secondary"] = "primary"
    netns_message: bool = False
    printk_caller: bool = False
    kernel_log: Literal["dmesg", "messages_only", "both"] = "both"
    rotated: bool = False
    red_herrings: bool = False
    missing: list[str] = Field(default_factory=list)
    truncate: list[str] = Field(default_factory=list)
    dns_failures: bool | None = None
    filler_mb: float = Field(default=0.0, ge=0.0, le=100_000.0)
    table_full_lines: int | None = Field(default=None, ge=0, le=1_000_000)
    # Write every entry of the table in `conntrack -L` (count lines) instead of a bounded sample.
    full_table_listing: bool = False
    listing_limit: int = Field(default=DEFAULT_LISTING_LIMIT, ge=0, le=10_000_000)

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str) -> str:
        if not _INSTANCE_ID.match(value):
            raise ValueError(f"instance_id {value!r} is not an EC2 instance id like i-0abc123def4567890")
        return value

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", value):
            raise ValueError(f"cluster {value!r} is not a valid EKS cluster name")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", value):
            raise ValueError(f"region {value!r} is not an AWS region like us-east-1")
        return value

    @field_validator("incident_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("incident_time needs a timezone (nodes log in UTC), e.g. 2026-07-30T14:02:11Z")
        return value.astimezone(UTC)

    @field_validator("missing", "truncate")
    @classmethod
    def _rel_paths(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _REL_PATH.match(value) or ".." in value.split("/"):
                raise ValueError(f"{value!r} is not a bundle-relative path like sysctls/sysctl_all.txt")
        return values

    @model_validator(mode="after")
    def _consistent(self) -> BundleSpec:
        if not self.az.startswith(self.region):
            raise ValueError(f"availability zone {self.az!r} is not in region {self.region!r}")
        if self.table_full_lines and self.scenario not in KERNEL_FULL_SCENARIOS:
            raise ValueError(
                f"table_full_lines={self.table_full_lines} only applies to kernel_table_full and both, "
                f"not {self.scenario}"
            )
        return self

    @property
    def kernel_full(self) -> bool:
        return self.scenario in KERNEL_FULL_SCENARIOS

    @property
    def allowance(self) -> bool:
        return self.scenario in ALLOWANCE_SCENARIOS

    @property
    def with_dns_failures(self) -> bool:
        """DNS timeouts are the first symptom users notice when new flows are dropped by the kernel."""
        if self.dns_failures is not None:
            return self.dns_failures
        return self.scenario in ("linklocal_dns", "kernel_table_full", "both")

    @property
    def with_red_herrings(self) -> bool:
        return self.red_herrings or self.scenario == "red_herring"


class GroundTruth(BaseModel):
    """What the written bundle says, parsed back with fixed patterns.

    Counting rules: only complete (newline-terminated) lines count, so a line cut by truncation is
    not evidence; counts cover every file (the same kernel message in dmesg.current,
    dmesg.human.current and var_log/messages counts three times; the per-file split is in
    `evidence_files`). Labels follow the evidence, not the scenario name: `kernel_conntrack` when a
    kernel "table full" line or a `drop=` > 0 in `conntrack -S` survived, `aws_instance_limit` when
    some interface shows `conntrack_allowance_exceeded` > 0. A bundle whose evidence was removed
    therefore has fewer labels than its scenario suggests, which is the right expectation.
    """

    labels: list[Label]
    conntrack_count: int | None
    conntrack_max: int | None
    conntrack_buckets: int | None
    table_full_lines: int
    allowance_exceeded: dict[str, dict[str, int]]
    conntrack_available: dict[str, int]
    dns_errors: int
    kube_proxy_conntrack_max: int | None
    instance_id: str
    kernel_release: str
    missing: list[str]
    truncated: list[str]
    # Optional extras (additions to the contract in the brief).
    scenario: Scenario | None = None
    kernel: Kernel | None = None
    incident_time: datetime | None = None
    collection_time: datetime | None = None
    stats_drop: int | None = None  # sum of drop= over the CPUs of `conntrack -S`
    stats_early_drop: int | None = None
    stats_insert_failed: int | None = None
    listing_entries: int | None = None  # entries written after `*** Output of conntrack -L ***`
    connection_errors: int = 0  # "dial tcp ...: i/o timeout" style failures in kubelet/var_log
    red_herring_lines: int = 0  # lines that contain the runbook's query words but are not evidence
    evidence_files: dict[str, dict[str, int]] = Field(default_factory=dict)  # kind -> file -> count
