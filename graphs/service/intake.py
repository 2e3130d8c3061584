"""From a parsed alert to a queued run: pick the runbook, resolve the instances, de-duplicate.

The fingerprint is the incident, not the notification: the runbook plus the sorted instance ids.
Alertmanager re-sends a firing group every repeat_interval, a CloudWatch alarm and a Prometheus
rule may both fire for the same full conntrack table, and all of them must become one run while
it is recent (the window). A failed run does not swallow later alerts.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from graphs.service.alerts import ParsedAlert
from graphs.service.config import ServiceConfig
from graphs.service.nodes import NodeIndex
from graphs.service.queue import JobQueue
from runbooks.model import CompiledRunbook
from tools.bundle.store import BundleStore


class Accepted(BaseModel):
    index: int
    run_id: str
    status: str
    duplicate: bool
    runbook_id: str
    instance_ids: list[str]
    fingerprint: str


class Skipped(BaseModel):
    index: int
    reason: str
    kind: Literal["unmatched", "no_instance", "no_bundle", "not_firing", "unknown_runbook"]


class IntakeResult(BaseModel):
    runs: list[Accepted] = Field(default_factory=list)
    rejected: list[Skipped] = Field(default_factory=list)
    ignored: list[Skipped] = Field(default_factory=list)

    @property
    def http_status(self) -> int:
        if self.runs:
            return 202
        if self.rejected:
            return 422
        return 200


def fingerprint(runbook_id: str, instance_ids: list[str]) -> str:
    key = runbook_id.casefold() + "|" + ",".join(sorted(set(instance_ids)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def load_runbooks(cfg: ServiceConfig) -> list[CompiledRunbook]:
    """Every runbook that compiles; a broken one is left out (and `sopgraph runbooks lint` says why)."""
    from runbooks import catalog
    from runbooks.errors import RunbookError

    out = []
    for entry in catalog.list_runbooks([catalog.library_dir(), *cfg.runbook_dirs]):
        if entry.error is not None:
            continue
        try:
            out.append(catalog.load(entry.path))
        except RunbookError:
            continue
    return out


class Intake:
    def __init__(self, cfg: ServiceConfig, queue: JobQueue, store: BundleStore, runbooks: list[CompiledRunbook]):
        self.cfg = cfg
        self.queue = queue
        self.store = store
        self.runbooks = runbooks
        self.nodes = NodeIndex(store)

    def _runbook(self, alert: ParsedAlert) -> CompiledRunbook | Skipped:
        from runbooks.catalog import match_alert

        if alert.runbook:
            wanted = alert.runbook.strip().casefold()
            for rb in self.runbooks:
                if rb.id.casefold() == wanted:
                    return rb
            known = ", ".join(rb.id for rb in self.runbooks)
            return Skipped(index=alert.index, kind="unknown_runbook",
                           reason=f"unknown runbook {alert.runbook!r} (known: {known})")
        matches = match_alert(alert.text, self.runbooks)
        if not matches:
            return Skipped(index=alert.index, kind="unmatched",
                           reason="no runbook's triggers match the alert's text and labels "
                                  f"(triggers: {'; '.join(t for rb in self.runbooks for t in rb.triggers)})")
        return next(rb for rb in self.runbooks if rb.id == matches[0].runbook_id)

    def _instances(self, alert: ParsedAlert) -> list[str] | Skipped:
        ids = list(alert.instance_ids)
        unresolved = []
        if not ids:
            for name in alert.node_names:
                found = self.nodes.resolve(name)
                if found:
                    ids += [i for i in found if i not in ids]
                else:
                    unresolved.append(name)
        if not ids:
            if unresolved:
                reason = (f"node {unresolved[0]!r} is not known in the bundle store "
                          "(no stored bundle has that hostname); add an instance_id label or ingest its bundle")
            else:
                reason = "the alert names no instance: add an instance_id (or node) label, or instance_ids"
            return Skipped(index=alert.index, kind="no_instance", reason=reason)
        if self.cfg.backend == "local":
            missing = [i for i in ids if not self._has_bundle(i)]
            if missing:
                return Skipped(index=alert.index, kind="no_bundle",
                               reason=f"no bundle for instance {missing[0]} in the store "
                                      "(ingest it, or run the service with backend: aws)")
        return ids

    def _has_bundle(self, instance_id: str) -> bool:
        from tools.registry import ToolError

        try:
            self.store.get(instance_id)
        except ToolError:
            return False
        return True

    def submit(self, alerts: list[ParsedAlert]) -> IntakeResult:
        result = IntakeResult()
        for alert in alerts:
            if not alert.firing:
                result.ignored.append(Skipped(index=alert.index, kind="not_firing",
                                              reason="not firing (resolved, or the alarm left ALARM)"))
                continue
            rb = self._runbook(alert)
            if isinstance(rb, Skipped):
                result.rejected.append(rb)
                continue
            ids = self._instances(alert)
            if isinstance(ids, Skipped):
                result.rejected.append(ids)
                continue
            fp = fingerprint(rb.id, ids)
            record: dict[str, Any] = {
                "source": alert.source, "title": alert.title, "text": alert.text[:4000], "labels": alert.labels,
                "source_fingerprint": alert.source_fingerprint, "starts_at": alert.starts_at,
            }
            queued = self.queue.enqueue(fingerprint=fp, runbook_id=rb.id, instance_ids=ids, alert=record,
                                        window_s=self.cfg.dedup_window_s)
            result.runs.append(Accepted(index=alert.index, run_id=queued.job.id, status=queued.job.status,
                                        duplicate=queued.duplicate, runbook_id=rb.id, instance_ids=ids,
                                        fingerprint=fp))
        return result
