"""`python -m evals.generator`: path then ground-truth JSON; bad input is exit 2 with a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evals.generator.__main__ import main


def test_cli_prints_path_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--scenario", "allowance_exceeded", "--kernel", "al2-5.10", "--out", str(tmp_path), "--tar",
                 "--allowance-eni", "secondary", "--seed", "3", "--missing", "kernel/dmesg.boot"])
    out = capsys.readouterr().out
    assert code == 0
    path, _, body = out.partition("\n")
    assert Path(path).is_file() and path.endswith("_0.7.9.tar.gz")
    truth = json.loads(body)
    assert truth["labels"] == ["aws_instance_limit"] and list(truth["allowance_exceeded"]) == ["eth1"]
    assert truth["missing"] == ["kernel/dmesg.boot"]


@pytest.mark.parametrize(("args", "message"), [
    (["--missing", "nope/nothing.txt"], "missing: 'nope/nothing.txt' is not a file or folder"),
    (["--instance-id", "bogus"], "instance_id"),
    (["--incident-time", "yesterday"], "error:"),
    (["--instance-type", "z1.tiny"], "unknown instance_type"),
])
def test_cli_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                              message: str) -> None:
    code = main(["--scenario", "healthy", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_module_entry_point(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "evals.generator", "--scenario", "near_full", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.partition("\n")[2])["labels"] == []
    bad = subprocess.run([sys.executable, "-m", "evals.generator", "--scenario", "melted", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
