"""Service config errors name file and line; the CLI commands; the SQLite single-worker rule; failures."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from graphs.service.auth import Authenticator
from graphs.service.config import ConfigError, load_config
from graphs.service.queue import SqliteQueue
from graphs.service.worker import Worker, WorkerError
from tests.service.conftest import SOPGRAPH, child_env


def test_yaml_file_and_env_tokens(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"file-token-0123456789").hexdigest()
    cfg_file = tmp_path / "service.yaml"
    cfg_file.write_text(f"tokens:\n  - name: ops\n    roles: [operator]\n    token_sha256: {digest}\n"
                        "dedup_window_s: 60\nwebhook_url: https://hooks.slack.com/services/T/B/X\n")
    env = {"SOPGRAPH_HOME": str(tmp_path),
           "SOPGRAPH_TOKENS": json.dumps({"env-token-0123456789": {"name": "bot", "roles": ["alerts"]}})}
    cfg = load_config(env=env)
    auth = Authenticator(cfg.tokens)
    assert auth.identify("file-token-0123456789").name == "ops"
    assert auth.identify("env-token-0123456789").roles == ["alerts"]
    assert auth.identify("file-token-012345678") is None and auth.identify("") is None
    assert cfg.dedup_window_s == 60


@pytest.mark.parametrize("text, needle", [
    ("tokens:\n  - name: x\n    roles: [operator]\n    token: short\n", "service.yaml:2: tokens.0: Value error, token is too short"),
    ("lease_s: 10\nheartbeat_s: 8\n", "lease_s (10.0) must be at least twice heartbeat_s"),
    ("tokens:\n  - name: x\n    roles: [superuser]\n    token: long-enough-token-0001\n", "service.yaml:3: tokens.0.roles"),
    ("webhook_url: ftp://example.com/x\n", "service.yaml:1: webhook_url"),
    ("dedup_window: 5\n", "service.yaml:1: dedup_window: Extra inputs are not permitted"),
    ("tokens: [\n", "service.yaml:2: not valid YAML"),
])
def test_config_errors_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "service.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(env={"SOPGRAPH_HOME": str(tmp_path)})
    assert needle in err.value.message
    assert "long-enough-token-0001" not in err.value.message  # secrets are never echoed


def test_bad_env_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SOPGRAPH_TOKENS is not JSON"):
        load_config(env={"SOPGRAPH_HOME": str(tmp_path), "SOPGRAPH_TOKENS": "{nope"})


def test_cli_help_and_bad_config_exit_2(tmp_path: Path, home: Path) -> None:
    for cmd in ("serve", "worker"):
        out = subprocess.run([*SOPGRAPH, cmd, "--help"], capture_output=True, text=True, timeout=60,
                             env=child_env(home))
        assert out.returncode == 0 and "--config" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("poll_s: -1\n")
    out = subprocess.run([*SOPGRAPH, "worker", "--config", str(bad)], capture_output=True, text=True, timeout=60,
                         env=child_env(home))
    assert out.returncode == 2
    assert f"{bad}:1: poll_s" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*SOPGRAPH, "serve", "--config", str(tmp_path / "missing.yaml")], capture_output=True,
                         text=True, timeout=60, env=child_env(home))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_sqlite_allows_one_worker(make_cfg) -> None:
    cfg = make_cfg()
    first = Worker(cfg)
    first._single_sqlite_worker()
    try:
        with pytest.raises(WorkerError, match="another worker already runs"):
            Worker(cfg).run(once=True)
    finally:
        first._lock_file.close()
    assert Worker(cfg).run(once=True) == 0  # the lock is free again


def test_unrunnable_job_fails_with_its_reason_and_transient_errors_retry(make_cfg, home: Path) -> None:
    cfg = make_cfg(max_attempts=2)
    q = SqliteQueue(cfg.resolved_state_path())
    job = q.enqueue(fingerprint="fp", runbook_id="NO-SUCH-RUNBOOK", instance_ids=["i-0c2200000000000cc"],
                    alert={"text": "x", "title": "t"}, window_s=60).job
    Worker(cfg, queue=q).run(once=True)
    failed = q.get(job.id)
    assert failed.status == "failed" and "unknown runbook 'NO-SUCH-RUNBOOK'" in (failed.error or "")
    assert failed.attempts == 1  # a broken runbook is not retried
    # Anything else (here the model provider fails) is retried later, then failed after max_attempts.
    other = q.enqueue(fingerprint="fp2", runbook_id="D3", instance_ids=["i-0c2200000000000cc"],
                      alert={"text": "x", "title": "t"}, window_s=60).job
    broken = cfg.model_copy(update={"model": "nonexistent-provider:model"})
    Worker(broken, queue=q).run(once=True)
    again = q.get(other.id)
    assert again.status == "queued" and again.attempts == 1 and again.error
    assert again.not_before >= again.updated_at + 1  # backoff: not claimable at once
    assert Worker(broken, queue=q).run(once=True) == 0
