"""The findings index's data model: what `errors`, `summarize`, `correlate` and the graph read.

A finding is a group of evidence lines (or one parsed counter) with a stable `F-NNN` id. Its
fields are compatible in spirit with the public EKS Node Log MCP server's index (id, severity,
pattern, file, count, sample, lines) and add what that index lacks: real timestamps, the rotated
file's logical name, and the parsed value/interface/counter of counter findings, so that
"conntrack_allowance_exceeded = 1234 on ens5" is a fact rather than a text match.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from runbooks.model import Severity

SEVERITY_ORDER: dict[str, int] = {"CRITICAL": 0, "HIGH": 1, "WARNING": 2, "INFO": 3}

# The category vocabulary. The runbook compiler maps runbook wording onto these strings; add new
# ones at the end, never rename.
CATEGORIES: tuple[str, ...] = (
    "conntrack_table_full",
    "ena_allowance",
    "dns",
    "oom",
    "ip_exhaustion",
    "kube_proxy",
    "pleg",
    "disk_pressure",
    "certificate",
    "kernel",
    "kubelet",
    "cni",
    "container_runtime",
    "network",
)

_ID = re.compile(r"^\s*[Ff]-(\d{1,6})\s*$")

FindingSource = Literal["log", "ethtool", "sysctl", "conntrack_stats"]


class Finding(BaseModel):
    """One group of evidence: every line a pattern matched in one file, or one parsed counter.

    `first_ts`/`last_ts` are the UTC times of the earliest and latest matching line that carries a
    time; when none does, they are None and `ts_note` says why (so a caller can tell "no timestamp
    in the line" from "dmesg uptime, boot time unknown"). Counter findings (`source` other than
    "log") are snapshots taken at collection time: `value` is the number read, `count` is 1.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    pattern_id: str
    category: str
    severity: Severity
    title: str
    file: str
    logical: str
    line_start: int
    line_end: int
    lines: list[int] = Field(default_factory=list)
    count: int
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    ts_note: str | None = None
    sample: str
    source: FindingSource = "log"
    value: int | None = None
    limit: int | None = None
    interface: str | None = None
    counter: str | None = None


class SkippedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    reason: str


class FindingsIndex(BaseModel):
    """Every finding of one bundle plus what was (not) read to produce them.

    The body is deterministic for a given bundle, catalog and year hint (no wall clock except
    `built_seconds`), so two builds compare equal field by field apart from that one.
    """

    model_config = ConfigDict(extra="forbid")

    index_version: int
    catalog_version: str
    digest: str | None = None
    year_hint: int | None = None
    engine: str
    total_files: int
    files_scanned: int
    bytes_scanned: int
    files_skipped: list[SkippedFile] = Field(default_factory=list)
    boot_time: datetime | None = None
    boot_time_source: str | None = None
    notes: list[str] = Field(default_factory=list)
    built_seconds: float = 0.0
    findings: list[Finding] = Field(default_factory=list)

    _by_id: dict[str, Finding] | None = PrivateAttr(default=None)

    def by_id(self, fid: str) -> Finding | None:
        """Resolve `F-NNN` (case-insensitive, surrounding space and zero padding forgiven: `f-7` is
        `F-007`); None when it does not exist — an id is never guessed."""
        if self._by_id is None:
            self._by_id = {f.id: f for f in self.findings}
        m = _ID.match(fid)
        return self._by_id.get(finding_id(int(m.group(1)))) if m else None

    def by_category(self, category: str) -> list[Finding]:
        return [f for f in self.findings if f.category == category]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for f in self.findings:
            counts[f.severity] += 1
        return counts


def finding_id(n: int) -> str:
    """`F-001` … `F-999`, then `F-1000`: the public MCP server's numbering."""
    return f"F-{n:03d}"
