"""Fixtures for the service: generated bundles, a private SOPGRAPH_HOME, tokens, a real PostgreSQL.

PostgreSQL comes from the machine's Debian package via scripts/pg.sh (started once per test
process, one fresh database per test). Without it the Postgres tests skip locally and fail in CI
(CI=true), where scripts/ci-deps.sh must have installed it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evals.generator import BundleSpec, write_bundle
from graphs.service.config import ServiceConfig, load_config
from tools.bundle.store import BundleStore

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"

TOKENS = {
    "alice": ("alice-operator-token-0001", ["operator"]),
    "root": ("root-admin-token-00000001", ["admin"]),
    "vic": ("vic-viewer-token-00000001", ["viewer"]),
    "am": ("alertmanager-token-000001", ["alerts"]),
    "sre-lead": ("sre-lead-token-0000000001", ["viewer"]),
}
# Scenario → instance id of its bundle (ids are ours; the generator writes them into the bundle).
INSTANCES = {
    "both": "i-0b0700000000000aa",
    "kernel_table_full": "i-0a1100000000000bb",
    "healthy": "i-0c2200000000000cc",
}
_ENV = ("SOPGRAPH_DATABASE_URL", "SOPGRAPH_TOKENS", "SOPGRAPH_MODEL", "SOPGRAPH_STATE_DB", "SOPGRAPH_AUDIT_LOG",
        "SOPGRAPH_WEBHOOK_URL", "SOPGRAPH_PUBLIC_URL", "SOPGRAPH_SERVICE_CONFIG", "SOPGRAPH_TEST_SLOW_TOOL",
        "SOPGRAPH_STORE", "SOPGRAPH_LEASE_S", "SOPGRAPH_HEARTBEAT_S", "SOPGRAPH_POLL_S", "SOPGRAPH_DEDUP_WINDOW_S",
        "SOPGRAPH_MAX_ATTEMPTS", "SOPGRAPH_PUBLIC_READS", "ANTHROPIC_API_KEY", "HTTP_PROXY", "HTTPS_PROXY",
        "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def token_entries() -> list[dict[str, Any]]:
    return [{"name": n, "token": t, "roles": r} for n, (t, r) in TOKENS.items()]


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated bundle per scenario, shared by the whole session (read-only)."""
    out = tmp_path_factory.mktemp("service-bundles")
    return {sc: write_bundle(BundleSpec(scenario=sc, instance_id=iid, seed=7 + n), out / sc).path
            for n, (sc, iid) in enumerate(INSTANCES.items())}


def hostname_in(bundle: Path) -> str:
    return (bundle / "kernel" / "uname.txt").read_text().split()[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("SOPGRAPH_HOME", str(h))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return h


@pytest.fixture
def store(home: Path, bundles: dict[str, Path]) -> BundleStore:
    s = BundleStore(home / "bundles")
    for path in bundles.values():
        s.ingest(path)
    return s


@pytest.fixture
def make_cfg(home: Path, store: BundleStore) -> Callable[..., ServiceConfig]:
    def make(**overrides: Any) -> ServiceConfig:
        base: dict[str, Any] = {"tokens": token_entries(), "store_dir": str(store.home), "poll_s": 0.05}
        base.update(overrides)
        return load_config(env={"SOPGRAPH_HOME": str(home)}, overrides=base)

    return make


@pytest.fixture
def client_for(make_cfg: Callable[..., ServiceConfig]) -> Iterator[Callable[..., Any]]:
    from starlette.testclient import TestClient

    from graphs.service.app import create_app

    opened: list[Any] = []

    def make(cfg: ServiceConfig | None = None, **overrides: Any) -> Any:
        c = TestClient(create_app(cfg or make_cfg(**overrides)), base_url="http://127.0.0.1")
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


# -- realistic alert payloads ---------------------------------------------------------------------
def alertmanager_payload(*, instance_id: str | None = None, node: str | None = None, status: str = "firing",
                         alertname: str = "NodeConntrackTableFull", summary: str | None = None,
                         description: str = "Kernel log on the node shows: nf_conntrack: table full, dropping packet",
                         fingerprint: str = "3f1c9a0b2d4e5f60") -> dict[str, Any]:
    labels = {"alertname": alertname, "cluster": "prod-east", "severity": "critical", "job": "node-exporter",
              "namespace": "monitoring"}
    if instance_id:
        labels["instance_id"] = instance_id
    if node:
        labels["node"] = node
        labels["instance"] = f"{node}:9100"
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="' + alertname + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "sopgraph",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.monitoring.svc:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": summary or "Conntrack table full on node", "description": description,
                            "runbook_url": "https://wiki.example.com/runbooks/D3"},
            "startsAt": "2026-07-30T14:02:11.000Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-07-30T14:30:00.000Z",
            "generatorURL": "http://prometheus.monitoring.svc:9090/graph?g0.expr=node_nf_conntrack_entries",
            "fingerprint": fingerprint,
        }],
    }


def eventbridge_payload(*, instance_id: str, state: str = "ALARM") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-07-30T14:03:27Z",
        "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:eks-conntrack-allowance-exceeded"],
        "detail": {
            "alarmName": "eks-conntrack-allowance-exceeded",
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [37058.0 (30/07/26 14:02:00)] was "
                          "greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
                "reasonData": '{"version":"1.0","queryDate":"2026-07-30T14:03:27.612+0000",'
                              '"recentDatapoints":[37058.0],"threshold":0.0}',
                "timestamp": "2026-07-30T14:03:27.614+0000",
            },
            "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": "2026-07-29T09:00:00.000+0000"},
            "configuration": {
                "description": "ENA conntrack_allowance_exceeded > 0 on an EKS worker node",
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": {"namespace": "CWAgent", "name": "ethtool_conntrack_allowance_exceeded",
                                   "dimensions": {"InstanceId": instance_id, "driver": "ena", "interface": "eth0"}},
                        "period": 60,
                        "stat": "Maximum",
                    },
                    "returnData": True,
                }],
            },
        },
    }


# -- PostgreSQL -----------------------------------------------------------------------------------
def _have_postgres() -> bool:
    return bool(os.environ.get("PG_BIN") or glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))


def need(what: str, present: bool, install: str) -> None:
    """Skip locally when a system dependency is absent; in CI its absence is a failure."""
    if present:
        return
    message = f"{what} is not installed ({install}; scripts/ci-deps.sh does it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    need("PostgreSQL server", _have_postgres(), "apt-get install postgresql")
    data = tempfile.mkdtemp(prefix="sopgraph-pg-")
    out = subprocess.run(["bash", str(SCRIPTS / "pg.sh"), "start", data], capture_output=True, text=True,
                         timeout=180, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(f"scripts/pg.sh start failed: {out.stderr.strip()}")
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPTS / "pg.sh"), "stop", data], capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(data + ".initdb.log", ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database on the session's server, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- processes ------------------------------------------------------------------------------------
SOPGRAPH = [sys.executable, "-c", "from graphs.cli import entry; entry()"]


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(args: list[str], env: dict[str, str], log: Path) -> Proc:
    fh = open(log, "wb")  # noqa: SIM115 (the child owns it)
    try:
        p = subprocess.Popen([*SOPGRAPH, *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=str(REPO))
    finally:
        fh.close()
    return Proc(p, log)


def stop(procs: list[Proc], timeout: float = 20) -> None:
    import signal

    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait(timeout=10)


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env.update({"SOPGRAPH_HOME": str(home), "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env
