"""The run queue: one `jobs` table beside the checkpoints, in SQLite or Postgres.

A job is claimed with a lease (owner + expiry) that its worker's heartbeat keeps extending. A job
whose lease has run out is `running` in name only: its worker is dead or cut off, and the next
claim takes it over (the new worker resumes its thread from the checkpoint). On Postgres, claims
use `SELECT … FOR UPDATE SKIP LOCKED`, so N workers on any number of machines never take the same
job; on SQLite a `BEGIN IMMEDIATE` transaction serialises writers on the one machine.

Times are epoch seconds from the database's clock (Postgres) so that workers on machines whose
clocks disagree still agree on whose lease has expired. Every state change that belongs to a lease
is conditional on still holding it: a worker that lost its lease cannot overwrite the new owner.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "waiting_approval", "done", "failed"]
STATUSES: tuple[str, ...] = ("queued", "running", "waiting_approval", "done", "failed")

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        runbook_id TEXT NOT NULL,
        instance_ids TEXT NOT NULL,
        alert TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued','running','waiting_approval','done','failed')),
        phase TEXT,
        lease_owner TEXT,
        lease_expires_at DOUBLE PRECISION,
        heartbeat_at DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        duplicates INTEGER NOT NULL DEFAULT 0,
        thread_id TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        not_before DOUBLE PRECISION NOT NULL,
        error TEXT,
        report TEXT,
        pending TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_claim_idx ON jobs (status, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_fingerprint_idx ON jobs (fingerprint, created_at)",
]
_COLUMNS = ("id, fingerprint, runbook_id, instance_ids, alert, status, phase, lease_owner, lease_expires_at, "
            "heartbeat_at, attempts, duplicates, thread_id, created_at, updated_at, not_before, error, report, pending")


class Job(BaseModel):
    id: str
    fingerprint: str
    runbook_id: str
    instance_ids: list[str]
    alert: dict[str, Any]
    status: JobStatus
    phase: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    heartbeat_at: float | None = None
    attempts: int = 0
    duplicates: int = 0
    thread_id: str
    created_at: float
    updated_at: float
    not_before: float
    error: str | None = None
    report: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        data = dict(row)
        for key in ("instance_ids", "alert", "report", "pending"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
        return cls.model_validate(data)


class Enqueued(BaseModel):
    job: Job
    duplicate: bool


class QueueError(Exception):
    pass


class JobQueue(ABC):
    """What the service and the workers need from the table; two dialects below."""

    kind: str
    _now: str  # SQL for "now" in epoch seconds
    _skip_locked: str

    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    @contextmanager
    def _tx(self) -> Iterator[Any]: ...

    @abstractmethod
    def _lock_fingerprint(self, cur: Any, fp: str) -> None: ...

    def _sql(self, sql: str) -> str:
        return sql.replace("{now}", self._now).replace("{skip_locked}", self._skip_locked)

    def _all(self, cur: Any, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur.execute(self._sql(sql), params)
        return [dict(r) for r in cur.fetchall()]

    def _run(self, cur: Any, sql: str, params: tuple[Any, ...] = ()) -> int:
        cur.execute(self._sql(sql), params)
        return cur.rowcount

    # -- intake -----------------------------------------------------------------------------------
    def enqueue(self, *, fingerprint: str, runbook_id: str, instance_ids: list[str], alert: dict[str, Any],
                window_s: float) -> Enqueued:
        with self._tx() as cur:
            self._lock_fingerprint(cur, fingerprint)
            rows = self._all(cur, f"SELECT {_COLUMNS} FROM jobs WHERE fingerprint = %s AND created_at >= {{now}} - %s "
                                  "AND status <> 'failed' ORDER BY created_at DESC LIMIT 1", (fingerprint, window_s))
            if rows:
                self._run(cur, "UPDATE jobs SET duplicates = duplicates + 1 WHERE id = %s", (rows[0]["id"],))
                rows[0]["duplicates"] += 1
                return Enqueued(job=Job.from_row(rows[0]), duplicate=True)
            job_id = uuid.uuid4().hex
            rows = self._all(cur, f"INSERT INTO jobs (id, fingerprint, runbook_id, instance_ids, alert, status, "
                                  "thread_id, created_at, updated_at, not_before) "
                                  "VALUES (%s, %s, %s, %s, %s, 'queued', %s, {now}, {now}, {now}) "
                                  f"RETURNING {_COLUMNS}",
                             (job_id, fingerprint, runbook_id, json.dumps(instance_ids), json.dumps(alert), job_id))
            return Enqueued(job=Job.from_row(rows[0]), duplicate=False)

    # -- workers ----------------------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, max_attempts: int) -> Job | None:
        """The oldest runnable job (queued and due, or running with an expired lease), now ours."""
        with self._tx() as cur:
            self._run(cur, "UPDATE jobs SET status = 'failed', lease_owner = NULL, updated_at = {now}, "
                           "error = 'gave up: its worker was lost ' || attempts || ' times (lease expired)' "
                           "WHERE status = 'running' AND lease_expires_at < {now} AND attempts >= %s",
                      (max_attempts,))
            rows = self._all(cur, "UPDATE jobs SET status = 'running', lease_owner = %s, "
                                  "lease_expires_at = {now} + %s, heartbeat_at = {now}, attempts = attempts + 1, "
                                  "updated_at = {now} WHERE id = (SELECT id FROM jobs WHERE "
                                  "(status = 'queued' AND not_before <= {now}) OR "
                                  "(status = 'running' AND lease_expires_at < {now}) "
                                  "ORDER BY created_at LIMIT 1 {skip_locked}) "
                                  f"RETURNING {_COLUMNS}", (owner, lease_s))
        return Job.from_row(rows[0]) if rows else None

    def heartbeat(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET lease_expires_at = {now} + %s, heartbeat_at = {now} "
                                  "WHERE id = %s AND lease_owner = %s AND status = 'running'",
                             (lease_s, job_id, owner)) == 1

    def set_phase(self, job_id: str, owner: str, phase: str) -> bool:
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET phase = %s, updated_at = {now} "
                                  "WHERE id = %s AND lease_owner = %s AND status = 'running'",
                             (phase, job_id, owner)) == 1

    def finish(self, job_id: str, owner: str, *, status: JobStatus, report: dict[str, Any] | None,
               pending: list[dict[str, Any]], error: str | None = None, phase: str | None = None) -> bool:
        """Record where the run stopped and give up the lease; False when the lease was lost."""
        if status not in ("waiting_approval", "done", "failed"):
            raise QueueError(f"finish() cannot set status {status!r}")
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET status = %s, report = COALESCE(%s, report), pending = %s, "
                                  "error = %s, phase = COALESCE(%s, phase), lease_owner = NULL, "
                                  "lease_expires_at = NULL, updated_at = {now} "
                                  "WHERE id = %s AND lease_owner = %s AND status = 'running'",
                             (status, json.dumps(report) if report is not None else None, json.dumps(pending), error,
                              phase, job_id, owner)) == 1

    def retry_later(self, job_id: str, owner: str, error: str, delay_s: float) -> bool:
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                                  "not_before = {now} + %s, error = %s, updated_at = {now} "
                                  "WHERE id = %s AND lease_owner = %s AND status = 'running'",
                             (delay_s, error, job_id, owner)) == 1

    def take_for_decision(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        """waiting_approval → running under `owner`, so no worker resumes the thread meanwhile."""
        with self._tx() as cur:
            rows = self._all(cur, "UPDATE jobs SET status = 'running', lease_owner = %s, "
                                  "lease_expires_at = {now} + %s, heartbeat_at = {now}, updated_at = {now} "
                                  f"WHERE id = %s AND status = 'waiting_approval' RETURNING {_COLUMNS}",
                             (owner, lease_s, job_id))
        return Job.from_row(rows[0]) if rows else None

    def release(self, job_id: str, owner: str, status: JobStatus) -> bool:
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET status = %s, lease_owner = NULL, lease_expires_at = NULL, "
                                  "updated_at = {now} WHERE id = %s AND lease_owner = %s",
                             (status, job_id, owner)) == 1

    # -- reading ----------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._tx() as cur:
            rows = self._all(cur, f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (job_id,))
        return Job.from_row(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        with self._tx() as cur:
            if status:
                rows = self._all(cur, f"SELECT {_COLUMNS} FROM jobs WHERE status = %s ORDER BY created_at DESC "
                                      "LIMIT %s OFFSET %s", (status, limit, offset))
            else:
                rows = self._all(cur, f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT %s OFFSET %s",
                                 (limit, offset))
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._tx() as cur:
            rows = self._all(cur, "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        out = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: int(r["n"]) for r in rows})
        return out

    @abstractmethod
    def close(self) -> None: ...


class SqliteQueue(JobQueue):
    kind = "sqlite"
    _now = "((julianday('now') - 2440587.5) * 86400.0)"
    _skip_locked = ""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as cur:
            for ddl in _SCHEMA:
                cur.execute(ddl)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.cursor()
            try:
                yield _SqliteCursor(cur)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _lock_fingerprint(self, cur: Any, fp: str) -> None:
        """BEGIN IMMEDIATE already excludes every other writer."""

    def close(self) -> None:
        """Each call opens and closes its own connection: nothing is held."""


class _SqliteCursor:
    """psycopg's %s placeholders on sqlite3's qmark style: our SQL never has a literal %."""

    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._cur.execute(sql.replace("%s", "?"), params)

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class PostgresQueue(JobQueue):
    kind = "postgres"
    _now = "extract(epoch from clock_timestamp())::double precision"
    _skip_locked = "FOR UPDATE SKIP LOCKED"
    _SETUP_LOCK = 7_460_301_001  # pg_advisory lock key: one process at a time creates tables

    def __init__(self, url: str, *, max_size: int = 4):
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.url = url
        try:  # fail fast with the server's own words; the pool would retry until its timeout
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise QueueError(f"cannot connect to Postgres at {_redact(url)}: {str(exc).strip()}") from None
        self._pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False,
                                    kwargs={"autocommit": True, "row_factory": dict_row})
        try:
            self._pool.open(wait=True, timeout=15)
        except Exception as exc:
            self._pool.close()
            raise QueueError(f"cannot connect to Postgres at {_redact(url)}: {exc}") from None
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._SETUP_LOCK,))
            for ddl in _SCHEMA:
                cur.execute(ddl)

    def _connect(self) -> Any:
        return self._pool.connection()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _lock_fingerprint(self, cur: Any, fp: str) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (fp,))

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def open_queue(database_url: str | None, state_path: Path) -> JobQueue:
    """Postgres when a URL is given, else the SQLite file that also holds the checkpoints."""
    if database_url:
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise QueueError(f"SOPGRAPH_DATABASE_URL must be a postgresql:// URL, not {_redact(database_url)!r}")
        return PostgresQueue(database_url)
    return SqliteQueue(state_path)


def wall_clock() -> float:
    return time.time()
