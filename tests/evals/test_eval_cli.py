"""`sopgraph eval`: exit codes, files written, the baseline diff, bad input, and a light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graphs.cli import main

CASE = "kernel-al2-5.10"


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated bundles, shared across runs and xdist workers (the cache is process-safe)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(cache.mkdir("sopgraph-eval-bundles")) if cache else tmp_path_factory.mktemp("bundles")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SOPGRAPH_MODEL", raising=False)
    return tmp_path / "home"


def test_one_case_passes_writes_its_outputs_and_diffs_against_itself(tmp_path: Path, cache_dir: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run1"
    assert main(["eval", "--cases", CASE, "--out", str(out), "--cache", str(cache_dir), "-q"]) == 0
    printed = capsys.readouterr().out
    assert CASE in printed and "pass" in printed and "exact label accuracy" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["ok"] and data["cases"][0]["name"] == CASE and data["cases"][0]["outcome"] == "pass"
    assert data["run"]["model"] == "offline" and data["run"]["mode"] == "offline"
    assert (out / "junit.xml").read_text().count("<testcase") == 1
    assert "| kernel-al2-5.10 | pass |" in (out / "report.md").read_text()
    again = tmp_path / "run2"
    assert main(["eval", "--cases", CASE, "--out", str(again), "--cache", str(cache_dir), "-q",
                 "--baseline", str(out / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "regressed (pass → fail): none" in printed and "pass rate: 100.0% → 100.0%" in printed


def test_the_default_output_folder_is_under_sopgraph_home(home: Path, cache_dir: Path) -> None:
    assert main(["eval", "--cases", CASE, "--cache", str(cache_dir), "-q", "--graph", "react"]) == 1
    assert (home / "evals" / "offline-react" / "results.json").exists()


def test_a_failing_case_exits_1(tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No cassette in an empty library: the case fails with a message that says how to record it.
    code = main(["eval", "--model", "anthropic:claude-sonnet-5-5", "--cases", CASE, "--cassettes", str(tmp_path),
                 "--out", str(tmp_path / "out"), "--cache", str(cache_dir), "-q"])
    assert code == 1
    printed = capsys.readouterr().out
    assert f"no cassette for case {CASE}" in printed
    assert f"sopgraph eval --model anthropic:claude-sonnet-5-5 --record --cases {CASE}" in printed


@pytest.mark.parametrize(("argv", "message"), [
    (["--graph", "chain"], "--graph must be compiled or react, not 'chain'"),
    (["--executor", "fibers"], "--executor must be process or thread"),
    (["--model", "gpt:4"], "unknown model provider 'gpt'"),
    (["--record"], "--record needs an HTTP model"),
    (["--model", "anthropic:claude-sonnet-5-5", "--scripted"], "--scripted only makes sense with --record"),
    (["--cases", "no-such-case*"], "no case in "),
    (["--baseline", "/nonexistent/results.json"], "/nonexistent/results.json: cannot read baseline"),
])
def test_bad_input_exits_2_with_a_clear_message(argv: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_record_against_the_api_needs_a_key(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["eval", "--model", "anthropic:claude-sonnet-5-5", "--record", "--cases", CASE]) == 2
    assert "needs ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_loading_the_command_imports_nothing_heavy() -> None:
    code = ("import sys, evals.cli; heavy = [m for m in ('langgraph', 'anthropic', 'boto3', 'vcr', 'langchain_core') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
