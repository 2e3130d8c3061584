"""A person's approve/reject on a pending action: who may, and carrying it out exactly once.

The job is taken out of `waiting_approval` under a short lease before the thread resumes, so two
clicks (or a worker) never continue the same thread at once; the second gets a 409. The identity
goes to the runner as `by`, and the runner's approval node writes it to the audit log.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from graphs.service.auth import may_decide
from graphs.service.config import Identity, ServiceConfig
from graphs.service.notify import Notifier, notifications_for
from graphs.service.queue import Job, JobQueue

DECISION_LEASE_S = 300.0


class DecisionError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=2000)


def _pending(job: Job, approval_id: str) -> dict[str, Any]:
    for p in job.pending:
        if p.get("approval_id") == approval_id:
            return p
    decided = [a for a in (job.report or {}).get("approvals", []) if a.get("approval_id") == approval_id]
    if decided:
        d = decided[-1]
        raise DecisionError(409, f"approval {approval_id} was already decided: {d.get('decision')} by {d.get('by')}")
    if job.status != "waiting_approval":
        raise DecisionError(409, f"run {job.id} is not waiting for approval (status: {job.status})")
    raise DecisionError(404, f"run {job.id} has no pending approval {approval_id}")


def decide(cfg: ServiceConfig, queue: JobQueue, notifier: Notifier, run_id: str, approval_id: str,
           body: DecisionIn, identity: Identity) -> Job:
    from graphs import runner
    from graphs.service import runs

    job = queue.get(run_id)
    if job is None:
        raise DecisionError(404, f"no run {run_id}")
    pending = _pending(job, approval_id)
    allowed = may_decide(identity, str(pending.get("rating", "")), list(pending.get("approvers") or []))
    if not allowed.allowed:
        raise DecisionError(403, allowed.reason)
    owner = f"api:{socket.gethostname()}:{os.getpid()}"
    taken = queue.take_for_decision(run_id, owner, DECISION_LEASE_S)
    if taken is None:
        raise DecisionError(409, f"run {run_id} is busy or no longer waiting for approval; reload and try again")
    try:
        live = runs.status(cfg, taken)
        if not any(p.approval_id == approval_id for p in live.pending):
            raise DecisionError(409, f"run {run_id} is not waiting on approval {approval_id} any more")
        decision = {"decision": body.decision, "by": identity.name, "reason": body.reason,
                    "at": datetime.now(UTC).isoformat()}
        outcome = runs.decide(cfg, taken, decision)
    except runner.RunError as exc:
        queue.release(run_id, owner, "waiting_approval")
        raise DecisionError(409, exc.message) from None
    except DecisionError:
        queue.release(run_id, owner, "waiting_approval")
        raise
    # Any other failure leaves the lease to expire: a worker then resumes the thread from its
    # checkpoint, with the decision if it was recorded, or back to waiting for one.
    status, report, pend = runs.job_fields(outcome)
    queue.finish(run_id, owner, status=status, report=report, pending=pend, phase=runs.PHASE_AFTER.get(status))
    for n in notifications_for(job.id, job.runbook_id, job.instance_ids, str(job.alert.get("title") or ""),
                               status, report, pend, escalation=False):
        notifier.notify(n)
    final = queue.get(run_id)
    assert final is not None
    return final
