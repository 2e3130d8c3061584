"""`sopgraph worker`: claim a job, run (or resume) its thread, record where it stopped, repeat.

While a job runs, a heartbeat thread extends its lease every `heartbeat_s`; if the worker dies
(kill -9, a lost machine) the lease runs out and another worker takes the job over and resumes its
thread from the last checkpoint. A job that keeps failing is retried with backoff up to
`max_attempts` times, then marked failed with the error, and announced.

With SQLite only one worker may run (a file lock says so): SQLite has no SKIP LOCKED and one
machine's writers would only queue behind each other. Postgres takes any number.

SOPGRAPH_TEST_SLOW_TOOL=SECONDS makes this worker sleep after every tool call, so that tests can
kill it while a run is reliably in the middle of a phase. The graph knows nothing of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from graphs.service.config import ServiceConfig
from graphs.service.notify import Notifier, notifications_for
from graphs.service.queue import Job, JobQueue, open_queue

log = logging.getLogger("sopgraph.service.worker")
SLOW_ENV = "SOPGRAPH_TEST_SLOW_TOOL"
_SETUP_LOCK = 7_460_301_002


class WorkerError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Heartbeat:
    """Extends the lease until stopped; notes when the lease was taken by someone else."""

    def __init__(self, queue: JobQueue, job_id: str, owner: str, lease_s: float, every_s: float):
        self.queue, self.job_id, self.owner, self.lease_s, self.every_s = queue, job_id, owner, lease_s, every_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self.queue.heartbeat(self.job_id, self.owner, self.lease_s):
                    log.warning("lease on job %s was lost; another worker owns it now", self.job_id)
                    self.lost.set()
                    return
            except Exception as exc:  # a database blip: keep trying until the lease would run out
                log.warning("heartbeat for job %s failed: %s", self.job_id, exc)


class Worker:
    def __init__(self, cfg: ServiceConfig, *, worker_id: str | None = None, notifier: Notifier | None = None,
                 queue: JobQueue | None = None):
        self.cfg = cfg
        self.id = worker_id or default_worker_id()
        self.queue = queue or open_queue(cfg.database_url, cfg.resolved_state_path())
        self.notifier = notifier or Notifier(cfg.webhook_url, timeout_s=cfg.webhook_timeout_s,
                                             attempts=cfg.webhook_attempts, backoff_s=cfg.webhook_backoff_s,
                                             public_url=cfg.public_url)
        self.processed = 0
        self._lock_file: Any = None
        if self.queue.kind == "postgres":
            self._prepare_checkpointer()

    def _prepare_checkpointer(self) -> None:
        """Create LangGraph's tables once, one process at a time: concurrent first setup() calls collide.

        The lock is polled, not waited on: setup() runs CREATE INDEX CONCURRENTLY, which waits for
        every open statement in the database, a blocked pg_advisory_lock() call included.
        """
        import psycopg

        from graphs.checkpoint import open_checkpointer

        assert self.cfg.database_url
        with psycopg.connect(self.cfg.database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise WorkerError("timed out waiting for another process to set up the checkpoint tables")
                time.sleep(0.1)
            try:
                with open_checkpointer(self.cfg.database_url):
                    pass
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))

    def _single_sqlite_worker(self) -> None:
        if self.queue.kind != "sqlite":
            return
        path = Path(f"{self.cfg.resolved_state_path()}.worker.lock")
        fh = open(path, "a+")  # noqa: SIM115 (held for the worker's life)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise WorkerError(f"another worker already runs on {self.cfg.resolved_state_path()}",
                              hint="SQLite takes one worker; set SOPGRAPH_DATABASE_URL to Postgres for several") from None
        self._lock_file = fh

    def run(self, stop: threading.Event | None = None, *, once: bool = False, idle_exit_s: float | None = None) -> int:
        """Work until `stop` is set (or the queue is empty with `once`, or idle for `idle_exit_s`)."""
        stop = stop or threading.Event()
        self._single_sqlite_worker()
        idle_since = time.monotonic()
        wait = self.cfg.poll_s
        try:
            while not stop.is_set():
                job = self.queue.claim(self.id, self.cfg.lease_s, self.cfg.max_attempts)
                if job is None:
                    if once or (idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s):
                        break
                    stop.wait(wait)
                    wait = min(wait * 1.5, max(self.cfg.poll_s, 2.0))
                    continue
                wait = self.cfg.poll_s
                self.process(job)
                idle_since = time.monotonic()
        finally:
            self.notifier.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
        return self.processed

    def process(self, job: Job) -> None:
        from graphs import runner
        from graphs.service import runs
        from runbooks.errors import RunbookError

        slow = float(os.environ.get(SLOW_ENV) or 0)

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "phase":
                with contextlib.suppress(Exception):
                    self.queue.set_phase(job.id, self.id, str(data.get("phase")))
            elif kind == "tool" and slow > 0:
                time.sleep(slow)

        log.info("job %s (%s on %s) attempt %d", job.id, job.runbook_id, ",".join(job.instance_ids), job.attempts)
        # The queue is safe to share across threads (a connection pool, or a connection per call).
        with _Heartbeat(self.queue, job.id, self.id, self.cfg.lease_s, self.cfg.heartbeat_s) as hb:
            try:
                outcome = runs.run_job(self.cfg, job, self.cfg.runbook_dirs, on_event)
            except (runner.RunError, RunbookError) as exc:
                # The run cannot go on whatever we retry: a missing thread state, a broken runbook.
                self._fail(job, f"{exc}", permanent=True)
                return
            except Exception as exc:  # a provider outage, a database blip: worth another attempt
                log.exception("job %s failed", job.id)
                self._fail(job, f"{type(exc).__name__}: {exc}", permanent=False)
                return
            if outcome.status == "incomplete":
                self._fail(job, "the run stopped before finishing", permanent=False)
                return
            status, report, pending = runs.job_fields(outcome)
            if hb.lost.is_set() or not self.queue.finish(job.id, self.id, status=status, report=report,
                                                         pending=pending, phase=runs.PHASE_AFTER.get(status)):
                log.warning("job %s finished here but its lease had passed to another worker", job.id)
                return
        self.processed += 1
        self._announce(job, status, report, pending)

    def _fail(self, job: Job, error: str, *, permanent: bool) -> None:
        if not permanent and job.attempts < self.cfg.max_attempts:
            delay = min(60.0, 2.0 ** job.attempts)
            self.queue.retry_later(job.id, self.id, error, delay)
            return
        if self.queue.finish(job.id, self.id, status="failed", report=None, pending=[], error=error):
            self.processed += 1
            self._announce(job, "failed", None, [], error)

    def _announce(self, job: Job, status: str, report: dict[str, Any] | None, pending: list[dict[str, Any]],
                  error: str | None = None) -> None:
        for n in notifications_for(job.id, job.runbook_id, job.instance_ids, str(job.alert.get("title") or ""),
                                   status, report, pending, error):
            self.notifier.notify(n)
