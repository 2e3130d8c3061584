"""The service's side of graphs.runner: start a queued job's thread, or resume it where it stopped.

A job's thread id is fixed when it is queued, so whichever worker claims it — the first, or the one
that takes over after a crash — finds the same thread in the checkpointer and resumes it instead
of starting the diagnosis again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphs import runner
from graphs.service.config import ServiceConfig
from graphs.service.queue import Job, JobStatus

OnEvent = Callable[[str, dict[str, Any]], None]


def _backend(cfg: ServiceConfig) -> dict[str, Any] | None:
    if cfg.backend != "aws":
        return None
    from tools.aws.config import load_config

    return load_config().model_dump(mode="json")


def _cluster(cfg: ServiceConfig, instance_ids: list[str]) -> str | None:
    if cfg.backend != "local":
        return None
    from tools.bundle.store import BundleStore
    from tools.registry import ToolError

    store = BundleStore(cfg.resolved_store_dir())
    clusters = set()
    for iid in instance_ids:
        try:
            clusters.add(store.get(iid).manifest.cluster)
        except ToolError:
            continue
    clusters.discard(None)
    return clusters.pop() if len(clusters) == 1 else None


def _common(cfg: ServiceConfig) -> dict[str, Any]:
    return {"database_url": cfg.database_url, "state_path": cfg.resolved_state_path(), "audit_path": cfg.audit_path}


def run_job(cfg: ServiceConfig, job: Job, runbook_dirs: list[Path], on_event: OnEvent | None) -> runner.RunOutcome:
    """Resume the job's thread when it exists (a worker died mid-run), else start it."""
    from runbooks import catalog

    try:
        return runner.resume(job.thread_id, on_event=on_event, **_common(cfg))
    except runner.RunError as exc:
        if exc.code != "unknown_thread":
            raise
    compiled = catalog.load(job.runbook_id, [catalog.library_dir(), *runbook_dirs])
    return runner.start(runbook=compiled, instance_ids=list(job.instance_ids), store_dir=cfg.resolved_store_dir(),
                        model=cfg.resolved_model(), alert=str(job.alert.get("text") or "") or None,
                        cluster=_cluster(cfg, job.instance_ids), thread_id=job.thread_id, on_event=on_event,
                        backend=_backend(cfg), **_common(cfg))


def decide(cfg: ServiceConfig, job: Job, decision: dict[str, Any]) -> runner.RunOutcome:
    return runner.resume(job.thread_id, decision=decision, **_common(cfg))


def status(cfg: ServiceConfig, job: Job) -> runner.RunOutcome:
    return runner.status(job.thread_id, database_url=cfg.database_url, state_path=cfg.resolved_state_path())


PHASE_AFTER = {"waiting_approval": "approval", "done": "done"}


def job_fields(outcome: runner.RunOutcome) -> tuple[JobStatus, dict[str, Any] | None, list[dict[str, Any]]]:
    """What the jobs table keeps of an outcome, so that listing runs never rebuilds a graph."""
    pending = [p.model_dump(mode="json") for p in outcome.pending]
    if outcome.status == "done":
        return "done", outcome.report, pending
    if outcome.status == "waiting_approval":
        return "waiting_approval", outcome.report, pending
    return "failed", outcome.report, pending
