#!/usr/bin/env python3
"""The 200-alert burst: `sopgraph serve` + N `sopgraph worker` processes on one Postgres.

Generates one bundle per distinct incident, posts ALERTS alerts (Alertmanager v4, EventBridge
CloudWatch alarms and generic ones, many of them duplicates of the same incident, some naming the
node rather than the instance) from 8 threads at once, and waits until every distinct run has
stopped: `done`, or `waiting_approval` with its report when the bundle shows conntrack exhaustion
(a person must approve the sysctl change). Then it checks, from the jobs table and LangGraph's
checkpoints, that none was lost and none ran twice, and prints runs per minute.

    .venv/bin/python scripts/burst_bench.py                    # starts a throwaway cluster (scripts/pg.sh)
    .venv/bin/python scripts/burst_bench.py --database-url postgresql://…/db --workers 4 --alerts 200

tests/service/test_postgres.py runs the same function (fewer distinct incidents, same checks).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SOPGRAPH = [sys.executable, "-c", "from graphs.cli import entry; entry()"]
TOKEN = "burst-bench-alerts-and-ops-token"
# Scenario → where its run stops on its own.
EXPECTED = {"healthy": "done", "near_full": "done", "linklocal_dns": "done", "kernel_table_full": "waiting_approval"}


@dataclass
class BurstResult:
    alerts: int
    distinct: int
    workers: int
    elapsed_s: float
    runs_per_minute: float
    lost: list[str]
    duplicated: list[str]
    wrong_status: list[str]
    statuses: dict[str, int]
    http_codes: dict[int, int]
    jobs_by_worker: dict[str, int] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong_status)

    def summary(self) -> str:
        return (f"{self.alerts} alerts, {self.distinct} distinct runs, {self.workers} workers: "
                f"{self.elapsed_s:.1f} s, {self.runs_per_minute:.0f} runs/minute; "
                f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, wrong status {len(self.wrong_status)}; "
                f"statuses {self.statuses}; runs per worker {sorted(self.jobs_by_worker.values(), reverse=True)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _instance_id(n: int) -> str:
    return f"i-0{n:016x}"


def make_bundles(workdir: Path, distinct: int, seed: int) -> list[tuple[str, str, Path]]:
    """(instance id, scenario, bundle path) per incident, ingested into workdir/home/bundles."""
    from evals.generator import BundleSpec, write_bundle
    from tools.bundle.store import BundleStore

    scenarios = list(EXPECTED)
    store = BundleStore(workdir / "home" / "bundles")
    out = []
    for n in range(distinct):
        scenario = scenarios[n % len(scenarios)]
        iid = _instance_id(0xB0000 + n)
        res = write_bundle(BundleSpec(scenario=scenario, instance_id=iid, seed=seed + n), workdir / "bundles" / str(n))
        store.ingest(res.path)
        out.append((iid, scenario, res.path))
    return out


def make_alerts(incidents: list[tuple[str, str, Path]], total: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """`total` (path, payload) pairs: every incident at least once, the rest duplicates, shuffled."""
    rng = random.Random(seed)
    picks = list(range(len(incidents))) + [rng.randrange(len(incidents)) for _ in range(total - len(incidents))]
    rng.shuffle(picks)
    out = []
    for k, n in enumerate(picks):
        iid, _scenario, path = incidents[n]
        host = (path / "kernel" / "uname.txt").read_text().split()[1]
        shape = k % 4
        if shape == 0:
            labels = {"alertname": "NodeConntrackTableFull", "severity": "critical", "instance_id": iid}
            out.append(("/v1/alerts/alertmanager", _am(labels, "nf_conntrack: table full, dropping packet")))
        elif shape == 1:
            labels = {"alertname": "NodeConntrackTableFull", "severity": "critical", "node": host,
                      "instance": f"{host}:9100"}
            out.append(("/v1/alerts/alertmanager", _am(labels, "nf_conntrack: table full, dropping packet")))
        elif shape == 2:
            out.append(("/v1/alerts/eventbridge", _eb(iid)))
        else:
            out.append(("/v1/alerts", {"text": "conntrack_allowance_exceeded rising", "instance_ids": [iid]}))
    return out


def _am(labels: dict[str, str], description: str) -> dict[str, Any]:
    return {"version": "4", "groupKey": "{}:{alertname=\"NodeConntrackTableFull\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "sopgraph", "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": {"alertname": labels["alertname"]}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"summary": "Conntrack table full", "description": description},
                        "startsAt": "2026-07-30T14:02:11Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus:9090/graph", "fingerprint": labels.get("instance_id", "x")}]}


def _eb(iid: str) -> dict[str, Any]:
    return {"version": "0", "id": f"evt-{iid}", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-07-30T14:03:27Z",
            "region": "us-east-1", "resources": [],
            "detail": {"alarmName": f"conntrack-allowance-{iid}",
                       "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": "2026-07-30T14:03:27Z"},
                       "configuration": {"description": "ENA conntrack_allowance_exceeded > 0", "metrics": [
                           {"id": "m1", "metricStat": {"metric": {
                               "namespace": "CWAgent", "name": "ethtool_conntrack_allowance_exceeded",
                               "dimensions": {"InstanceId": iid, "interface": "eth0"}}, "period": 60,
                               "stat": "Maximum"}}]}}}


def _post(base: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(base + path, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _wait_http(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sopgraph serve exited with {proc.returncode}")
        try:
            with opener.open(base + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sopgraph serve did not answer in time")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen([*SOPGRAPH, *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO))


def run_burst(database_url: str, workdir: Path, *, alerts: int = 200, distinct: int = 50, workers: int = 4,
              seed: int = 11, timeout_s: float = 600) -> BurstResult:
    import psycopg

    incidents = make_bundles(workdir, distinct, seed)
    payloads = make_alerts(incidents, alerts, seed)
    home = workdir / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPGRAPH_", "HTTP_PROXY", "HTTPS_PROXY"))}
    env.update({
        "SOPGRAPH_HOME": str(home), "SOPGRAPH_DATABASE_URL": database_url, "NO_PROXY": "127.0.0.1,localhost",
        "SOPGRAPH_TOKENS": json.dumps([{"name": "burst", "roles": ["operator"], "token": TOKEN}]),
        "SOPGRAPH_POLL_S": "0.1", "SOPGRAPH_LEASE_S": "30", "SOPGRAPH_HEARTBEAT_S": "5", "PYTHONUNBUFFERED": "1",
    })
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        server = _spawn(["serve", "--port", str(port), "--log-level", "warning"], env, logs / "serve.log")
        procs.append(server)
        for w in range(workers):
            procs.append(_spawn(["worker", "--id", f"w{w}", "--log-level", "warning"], env, logs / f"worker{w}.log"))
        _wait_http(base, server, 60)
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda a: _post(base, *a), payloads))
        codes: dict[int, int] = {}
        for code, _ in answers:
            codes[code] = codes.get(code, 0) + 1
        run_of = {}
        for _code, body in answers:
            for r in body.get("runs", []):
                run_of.setdefault(r["instance_ids"][0], set()).add(r["run_id"])
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                busy = conn.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]
                if busy == 0:
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a service process died during the burst; see " + str(logs))
                time.sleep(0.1)
            elapsed = time.monotonic() - t0
            jobs = conn.execute("SELECT id, instance_ids, status, attempts, thread_id, lease_owner, report::text "
                                "FROM jobs").fetchall()
            # LangGraph writes one 'input' checkpoint when a thread starts; a run started twice has two.
            starts = dict(conn.execute(
                "SELECT thread_id, count(*) FROM checkpoints WHERE checkpoint_ns = '' "
                "AND metadata->>'source' = 'input' GROUP BY thread_id").fetchall())
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    expected = {iid: EXPECTED[scenario] for iid, scenario, _ in incidents}
    by_instance: dict[str, list[Any]] = {}
    for row in jobs:
        by_instance.setdefault(json.loads(row[1])[0], []).append(row)
    lost = [iid for iid in expected if not by_instance.get(iid)
            or all(r[2] in ("queued", "running", "failed") for r in by_instance[iid])]
    duplicated = [iid for iid, rows in by_instance.items() if len(rows) > 1 or len(run_of.get(iid, ())) > 1]
    duplicated += [r[0] for r in jobs if starts.get(r[4], 0) != 1 or r[3] != 1]
    wrong = [f"{iid}: {rows[0][2]} (expected {expected.get(iid)})" for iid, rows in by_instance.items()
             if rows[0][2] != expected.get(iid) or not json.loads(rows[0][6] or "null")]
    statuses: dict[str, int] = {}
    for r in jobs:
        statuses[r[2]] = statuses.get(r[2], 0) + 1
    per_worker: dict[str, int] = {}
    for w in range(workers):
        text = (logs / f"worker{w}.log").read_text(errors="replace")
        per_worker[f"w{w}"] = int(text.rsplit("stopped after ", 1)[1].split()[0]) if "stopped after " in text else -1
    return BurstResult(alerts=len(payloads), distinct=len(expected), workers=workers, elapsed_s=elapsed,
                       runs_per_minute=len(expected) / elapsed * 60 if elapsed else 0.0, lost=lost,
                       duplicated=sorted(set(duplicated)), wrong_status=wrong, statuses=statuses, http_codes=codes,
                       jobs_by_worker=per_worker,
                       logs={p.name: p.read_text(errors="replace")[-3000:] for p in sorted(logs.iterdir())})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="Postgres to use (default: a throwaway cluster from scripts/pg.sh)")
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--distinct", type=int, default=50, help="distinct incidents among the alerts")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sopgraph-burst-"))
    pg_dir = None
    url = args.database_url
    try:
        if url is None:
            pg_dir = tempfile.mkdtemp(prefix="sopgraph-burst-pg-")
            out = subprocess.run(["bash", str(REPO / "scripts" / "pg.sh"), "start", pg_dir], capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            url = out.stdout.strip().splitlines()[-1]
        result = run_burst(url, workdir, alerts=args.alerts, distinct=args.distinct, workers=args.workers,
                           seed=args.seed)
        print(result.summary())
        print(f"http: {result.http_codes}")
        if not result.ok:
            print(json.dumps({"lost": result.lost, "duplicated": result.duplicated, "wrong": result.wrong_status},
                             indent=2), file=sys.stderr)
            return 1
        return 0
    finally:
        if pg_dir:
            subprocess.run(["bash", str(REPO / "scripts" / "pg.sh"), "stop", pg_dir], capture_output=True, check=False)
            shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
