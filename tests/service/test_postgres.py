"""The queue and workers on a real PostgreSQL: SKIP LOCKED claims, dedup under concurrency, leases,
a worker killed mid-run, and the 200-alert burst against 4 worker processes."""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from graphs.service.queue import PostgresQueue
from tests.service.conftest import INSTANCES, REPO, child_env, spawn, stop


def _wait(predicate, timeout: float, what: str, procs=()) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    logs = "\n".join(p.output()[-2000:] for p in procs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_concurrent_claims_never_share_a_job(pg_url: str) -> None:
    q = PostgresQueue(pg_url, max_size=8)
    try:
        ids = {q.enqueue(fingerprint=f"fp{n}", runbook_id="D3", instance_ids=[f"i-0{n:016x}"], alert={},
                         window_s=60).job.id for n in range(30)}
        claimed: list[str] = []
        lock = threading.Lock()

        def grab(owner: str) -> None:
            while (job := q.claim(owner, 30, 3)) is not None:
                with lock:
                    claimed.append(job.id)

        threads = [threading.Thread(target=grab, args=(f"w{n}",)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claimed) == sorted(ids)  # every job once, none twice
        assert q.counts()["running"] == 30
    finally:
        q.close()


def test_concurrent_duplicate_alerts_make_one_job(pg_url: str) -> None:
    q = PostgresQueue(pg_url, max_size=8)
    try:
        results: list[Any] = []
        lock = threading.Lock()

        def send() -> None:
            r = q.enqueue(fingerprint="same-incident", runbook_id="D3", instance_ids=["i-0123456789abcdef0"],
                          alert={"n": 1}, window_s=600)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=send) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({r.job.id for r in results}) == 1
        assert sorted(r.duplicate for r in results) == [False] + [True] * 11
        assert q.get(results[0].job.id).duplicates == 11
    finally:
        q.close()


def test_expired_lease_passes_to_another_worker_and_fences_the_old_one(pg_url: str) -> None:
    q = PostgresQueue(pg_url)
    try:
        job = q.enqueue(fingerprint="fp", runbook_id="D3", instance_ids=["i-0123456789abcdef0"], alert={},
                        window_s=60).job
        first = q.claim("dead-worker", 5, 3)
        assert first is not None and first.id == job.id and first.attempts == 1
        assert q.claim("other", 30, 3) is None  # the lease still holds
        assert q.heartbeat(job.id, "dead-worker", 0.2)  # its last heartbeat, then it dies
        time.sleep(0.4)
        second = q.claim("other", 30, 3)
        assert second is not None and second.id == job.id and second.attempts == 2 and second.lease_owner == "other"
        # The old owner can no longer touch it.
        assert not q.heartbeat(job.id, "dead-worker", 30)
        assert not q.finish(job.id, "dead-worker", status="done", report={"x": 1}, pending=[])
        assert q.finish(job.id, "other", status="done", report={"x": 2}, pending=[])
        assert q.get(job.id).report == {"x": 2}
    finally:
        q.close()


def test_a_job_whose_workers_keep_dying_is_failed_after_max_attempts(pg_url: str) -> None:
    q = PostgresQueue(pg_url)
    try:
        job = q.enqueue(fingerprint="fp", runbook_id="D3", instance_ids=["i-0123456789abcdef0"], alert={},
                        window_s=60).job
        for n in range(2):
            assert q.claim(f"w{n}", 0.05, 2) is not None
            time.sleep(0.1)
        assert q.claim("w9", 30, 2) is None
        failed = q.get(job.id)
        assert failed.status == "failed" and "lost 2 times" in (failed.error or "")
    finally:
        q.close()


def _checkpoint_starts(url: str, thread_id: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' "
                            "AND metadata->>'source' = 'input'", (thread_id,)).fetchone()[0]


def test_killed_worker_run_is_resumed_from_its_checkpoint_by_another(pg_url: str, store, home: Path,
                                                                      tmp_path: Path) -> None:
    from graphs import runner
    from graphs.service.queue import PostgresQueue
    from runbooks import catalog

    # The reference: the same diagnosis, uninterrupted, in this process (SQLite).
    reference = runner.start(runbook=catalog.load("D3"), instance_ids=[INSTANCES["healthy"]], store_dir=store.home,
                             model="offline", alert="conntrack_allowance_exceeded", state_path=tmp_path / "ref.db",
                             audit_path=tmp_path / "ref-audit.log")
    q = PostgresQueue(pg_url)
    job = q.enqueue(fingerprint="fp", runbook_id="D3", instance_ids=[INSTANCES["healthy"]],
                    alert={"text": "conntrack_allowance_exceeded", "title": "t"}, window_s=60).job
    env = child_env(home, SOPGRAPH_DATABASE_URL=pg_url, SOPGRAPH_LEASE_S="2", SOPGRAPH_HEARTBEAT_S="0.5",
                    SOPGRAPH_POLL_S="0.1")
    slow = spawn(["worker", "--id", "doomed"], {**env, "SOPGRAPH_TEST_SLOW_TOOL": "0.3"}, tmp_path / "doomed.log")
    procs = [slow]
    try:
        # Mid-run: the second phase has begun, so the first phase's checkpoints are written.
        _wait(lambda: (j := q.get(job.id)) and j.lease_owner == "doomed" and j.phase == "Enrich", 60,
              "the doomed worker to reach phase Enrich", procs)
        slow.popen.send_signal(signal.SIGKILL)
        slow.popen.wait(timeout=10)
        orphan = q.get(job.id)
        assert orphan.status == "running" and orphan.lease_owner == "doomed" and orphan.attempts == 1
        rescuer = spawn(["worker", "--id", "rescuer"], env, tmp_path / "rescuer.log")
        procs.append(rescuer)
        done = _wait(lambda: (j := q.get(job.id)) and j.status == "done" and j, 60, "the rescuer to finish", procs)
    finally:
        stop(procs)
        q.close()
    assert done.attempts == 2 and done.lease_owner is None
    assert "attempt 2" in rescuer.output()
    # Resumed, not restarted: one start in the checkpoints, and no step run twice.
    assert _checkpoint_starts(pg_url, job.thread_id) == 1
    steps = [(s["phase"], s["tool"], json.dumps(s["args"], sort_keys=True)) for s in done.report["steps"]]
    ref_steps = [(s["phase"], s["tool"], json.dumps(s["args"], sort_keys=True)) for s in reference.report["steps"]]
    assert steps == ref_steps
    assert done.report["root_cause"] == reference.report["root_cause"]


def _burst_module() -> Any:
    spec = importlib.util.spec_from_file_location("burst_bench", REPO / "scripts" / "burst_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_200_alert_burst_on_4_workers_loses_and_duplicates_nothing(pg_url: str, tmp_path: Path, home: Path) -> None:
    bench = _burst_module()
    result = bench.run_burst(pg_url, tmp_path / "burst", alerts=200, distinct=24, workers=4, timeout_s=300)
    assert result.http_codes == {202: 200}, result.logs
    assert result.distinct == 24
    assert result.lost == [] and result.duplicated == [] and result.wrong_status == [], result.summary()
    assert sum(result.statuses.values()) == 24
    # Every worker process exited cleanly and reported what it ran; together, each run once.
    assert all(n >= 0 for n in result.jobs_by_worker.values()), result.logs
    assert sum(result.jobs_by_worker.values()) == 24


@pytest.mark.parametrize("bad", ["mysql://x@127.0.0.1/db", "postgresql://nobody@127.0.0.1:1/none"])
def test_bad_database_url_is_a_clear_error(bad: str, home: Path) -> None:
    from graphs.service.queue import QueueError, open_queue

    with pytest.raises(QueueError) as err:
        open_queue(bad, home / "state.db")
    assert "postgres" in str(err.value).lower()
