"""`sopgraph runbooks …`: output shapes and exit codes (in-process, plus one real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from graphs.cli import main

SAMPLES = Path(__file__).parent / "samples"


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"id": "D3", "title": "D3 — Conntrack Exhaustion", "severity": "CRITICAL", "phases": 3}.items() <= next(
        r for r in rows if r["id"] == "D3").items()
    assert main(["runbooks", "list"]) == 0
    assert "D3" in capsys.readouterr().out


def test_list_bad_dir_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "list", "--dir", str(SAMPLES / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "show", "D3"]) == 0
    out = capsys.readouterr().out
    assert "kernel_conntrack" in out and "Enrich" in out and "Upsize instance: RED" in out


def test_show_prints_runbook_text_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (SAMPLES / "ok/four-phases.md").read_text(encoding="utf-8")
    path = tmp_path / "D5.md"
    objective = 'objective: "Find whether DNS fails in CoreDNS, on the node, or upstream"'
    assert objective in text
    path.write_text(text.replace(objective, 'objective: "[red]x[/red]"'), encoding="utf-8")
    assert main(["runbooks", "show", str(path)]) == 0
    assert "[red]x[/red]" in capsys.readouterr().out


def test_compile_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "compile", "D3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"id", "title", "phases", "guardrails", "labels", "triggers", "rules"} <= data.keys()
    step = data["phases"][1]["steps"][0]
    assert {"tool", "priority", "args", "condition", "text", "line"} <= step.keys()
    assert (step["tool"], step["args"]) == ("search", {"query": "table full"})
    assert data["phases"][1]["steps"][2]["tool"] is None
    assert {"action": "Upsize instance", "rating": "RED", "note": "operator action, requires approval"}.items() <= (
        data["guardrails"]["safety_ratings"][-1].items())
    assert data["labels"] == ["kernel_conntrack", "aws_instance_limit"]
    assert len(data["guardrails"]["escalation_conditions"]) == 3


def test_compile_yaml_equals_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "compile", "D3"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["runbooks", "compile", "D3", "--format", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == as_json


def test_compile_by_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "compile", str(SAMPLES / "ok/four-phases.md")]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)["phases"]] == [
        "Triage", "Enrich", "Verify", "Report"]


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["runbooks", "compile", "Q7"], "unknown runbook 'Q7'; known ids: D3"),
        (["runbooks", "compile", str(SAMPLES / "broken/bad-yaml.md")], "bad-yaml.md:8: frontmatter YAML"),
        (["runbooks", "compile", "D3", "--format", "xml"], "unknown --format 'xml'"),
        (["runbooks", "show", "missing/file.md"], "missing/file.md:0: no such file"),
    ],
)
def test_bad_input_exits_2(args: list[str], stderr: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert stderr in err
    assert "Traceback" not in err


def test_lint_clean_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "lint", "D3", str(SAMPLES / "ok/first-block.md")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2 file(s): 0 error(s), 0 warning(s)" in captured.err


def test_lint_warnings_only_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / "ok/repeated-headings.md"
    assert main(["runbooks", "lint", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"{path}:23: warning: heading")


def test_lint_errors_exit_1_with_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / "broken/rating-without-colour.md"
    assert main(["runbooks", "lint", str(path), "missing.md"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{path}:22: error: safety rating has no colour (GREEN, YELLOW or RED): "
        "'Modify sysctl settings: operator action, not available via MCP tools'",
        f"{path}:24: error: safety rating names no action: ': GREEN'",
        "missing.md:0: error: no such file",
    ]
    assert "2 file(s): 3 error(s), 0 warning(s)" in captured.err


def test_lint_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "lint", str(SAMPLES / "broken")]) == 1
    out = capsys.readouterr().out
    assert "frontmatter-not-closed.md:1: error:" in out
    assert "unknown-tool.md:17: error: unknown tool 'quick_triage'" in out


def test_subprocess_exit_codes() -> None:
    code = "import sys; from graphs.cli import main; sys.exit(main(sys.argv[1:]))"
    ok = subprocess.run([sys.executable, "-c", code, "runbooks", "compile", "D3"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["id"] == "D3"
    bad = subprocess.run([sys.executable, "-c", code, "runbooks", "lint", str(SAMPLES / "broken/bad-yaml.md")],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "bad-yaml.md:8: error: frontmatter YAML does not parse" in bad.stdout
    assert "Traceback" not in bad.stderr
