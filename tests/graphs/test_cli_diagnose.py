"""`sopgraph diagnose` and `sopgraph approvals` end to end: exit codes, processes, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphs.audit import read_entries
from graphs.cli import main

SOPGRAPH = [sys.executable, "-m", "graphs.cli"]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SOPGRAPH_HOME"] = str(home)
    env.pop("SOPGRAPH_MODEL", None)
    return env


def test_exit_0_for_a_healthy_node(home, make_bundle, capsys):
    gen = make_bundle(scenario="healthy", kernel="al2023-6.1")
    assert main(["diagnose", "--bundle", str(gen.path), "--runbook", "D3", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["root_cause"] == "inconclusive"


def test_exit_3_waiting_then_approve_in_another_process_then_idempotent(home, make_bundle, capsys):
    gen = make_bundle(scenario="kernel_table_full", kernel="al2-5.10")
    assert main(["diagnose", "--bundle", str(gen.path), "--alert", "nf_conntrack: table full, dropping packet",
                 "-q", "--format", "yaml"]) == 3
    out = capsys.readouterr()
    import yaml

    report = yaml.safe_load(out.out)
    assert report["status"] == "waiting_approval"
    thread = report["thread_id"]
    assert report["pending_approvals"][0]["rating"] == "YELLOW"
    assert thread in out.err
    # A second process decides.
    done = subprocess.run([*SOPGRAPH, "approvals", "approve", thread, "--by", "alice", "--reason", "ok"],
                          env=_env(home), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["proposed_actions"][0]["status"] == "approved"
    assert final["approvals"][0]["by"] == "alice"
    # Approving again is a no-op that reports the recorded decision.
    again = subprocess.run([*SOPGRAPH, "approvals", "approve", thread, "--by", "alice"],
                           env=_env(home), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert "already decided" in again.stderr
    assert len([e for e in read_entries(home / "audit.log") if e["thread_id"] == thread]) == 1


def test_reject_path_from_the_cli(home, make_bundle, capsys):
    gen = make_bundle(scenario="allowance_exceeded", kernel="al2023-6.1")
    assert main(["diagnose", "--bundle", str(gen.path), "--runbook", "D3", "-q"]) == 3
    thread = json.loads(capsys.readouterr().out)["thread_id"]
    assert main(["approvals", "reject", thread, "--by", "bob", "--reason", "wait for the window"]) == 0
    final = json.loads(capsys.readouterr().out)
    assert [a["status"] for a in final["proposed_actions"]] == ["rejected"]
    assert main(["approvals", "resume", thread]) == 2  # finished: a clear error, not a silent no-op
    assert "already finished" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagnose", "--runbook", "D3"], "give --bundle"),
        (["diagnose", "--bundle", "/nonexistent/b", "--runbook", "D3"], "does not exist"),
        (["diagnose", "--bundle", "BUNDLE", "--runbook", "Z9"], "unknown runbook"),
        (["diagnose", "--bundle", "BUNDLE", "--runbook", "D3", "--model", "gpt:4"], "offline"),
        (["diagnose", "--bundle", "BUNDLE", "--runbook", "D3", "--format", "xml"], "json or yaml"),
        (["diagnose", "--bundle", "BUNDLE", "--alert", "disk is on fire"], "no runbook"),
        (["approvals", "approve", "no-such-thread"], "unknown thread"),
    ],
)
def test_exit_2_for_bad_input(home, make_bundle, capsys, argv, message):
    gen = make_bundle(scenario="healthy", kernel="al2023-6.1")
    argv = [str(gen.path) if a == "BUNDLE" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_api_key_is_bad_input(home, make_bundle, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    gen = make_bundle(scenario="healthy", kernel="al2023-6.1")
    assert main(["diagnose", "--bundle", str(gen.path), "--runbook", "D3", "--model", "anthropic:claude-sonnet-5-5",
                 "-q"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_exit_1_for_an_unexpected_failure(home, make_bundle, capsys, monkeypatch):
    from graphs import runner

    def boom(**kwargs):
        raise RuntimeError("disk vanished")

    monkeypatch.setattr(runner, "start", boom)
    gen = make_bundle(scenario="healthy", kernel="al2023-6.1")
    assert main(["diagnose", "--bundle", str(gen.path), "--runbook", "D3", "-q"]) == 1
    err = capsys.readouterr().err
    assert "disk vanished" in err and "Traceback" not in err


SLOW_ENRICH = """
import sys, time
from pathlib import Path
from tools.registry import registry
spec = registry()["correlate"]
orig = spec.run
def slow(ctx, args):
    Path(sys.argv[1]).write_text("in enrich")
    time.sleep(60)
    return orig(ctx, args)
object.__setattr__(spec, "run", slow)
from graphs.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_kill_9_during_enrich_then_resume_gives_the_same_report(home, make_bundle, tmp_path):
    gen = make_bundle(scenario="kernel_table_full", kernel="al2023-6.1")
    env = _env(home)
    reference = subprocess.run([*SOPGRAPH, "diagnose", "--bundle", str(gen.path), "--runbook", "D3", "-q",
                                "--thread", "reference"], env=env, capture_output=True, text=True, timeout=120)
    assert reference.returncode == 3, reference.stderr
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_ENRICH, str(marker), "diagnose", "--bundle", str(gen.path),
                             "--runbook", "D3", "-q", "--thread", "crashy"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the run never reached enrich"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    resumed = subprocess.run([*SOPGRAPH, "approvals", "resume", "crashy"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 3, resumed.stderr
    a, b = json.loads(reference.stdout), json.loads(resumed.stdout)
    for key in ("root_cause", "labels", "evidence", "conntrack", "escalate", "mitigation", "must_compliance"):
        assert a[key] == b[key], key
    assert [(s["phase"], s["tool"], s["args"]) for s in a["steps"]] == [
        (s["phase"], s["tool"], s["args"]) for s in b["steps"]]
    assert [(p["action"], p["rating"], p["status"]) for p in a["proposed_actions"]] == [
        (p["action"], p["rating"], p["status"]) for p in b["proposed_actions"]]
