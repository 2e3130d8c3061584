"""results.json round-trips, JUnit and Markdown say what failed, and the baseline diff names what changed."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from evals.outputs import (
    Results,
    RunMeta,
    diff,
    junit_xml,
    load_results,
    markdown,
    print_diff,
    print_table,
    write_all,
)
from evals.scoring import CHECKS, CaseScore, Check, Cost, summarize


def _score(name: str, outcome: str, *, failed: tuple[str, ...] = (), calls: int = 10, chars: int = 1000,
           xfail: str | None = None, error: str | None = None) -> CaseScore:
    checks = {c: Check(ok=c not in failed, detail=f"{c} went wrong" if c in failed else "") for c in CHECKS}
    return CaseScore(name=name, outcome=outcome, passed=outcome in ("pass", "xpass"), xfail=xfail, error=error,  # type: ignore[arg-type]
                     labels=["kernel_conntrack"], truth_labels=["kernel_conntrack"], checks=checks,
                     cost=Cost(model_calls=calls, input_chars=chars, wall_s=1.5))


def _results(*scores: CaseScore) -> Results:
    meta = RunMeta(model="offline", graph="compiled", cases="D3/*", mode="offline", elapsed_s=3.0, workers=2)
    return Results(run=meta, summary=summarize(list(scores)), cases=list(scores))


@pytest.fixture
def mixed() -> Results:
    return _results(
        _score("kernel-a", "pass"),
        _score("kernel-b", "fail", failed=("labels", "guardrails")),
        _score("kernel-c", "xfail", failed=("labels",), xfail="reported upstream"),
        _score("kernel-d", "error", failed=tuple(CHECKS), error="case kernel-d: cassette mismatch: …"),
    )


def test_results_json_round_trips_and_lists_failed_checks(tmp_path: Path, mixed: Results) -> None:
    paths = write_all(mixed, tmp_path)
    data = json.loads(paths["results"].read_text())
    assert data["summary"]["ok"] is False
    assert data["cases"][1]["failed_checks"] == ["labels", "guardrails"]
    again = load_results(paths["results"])
    assert again.summary == mixed.summary and [c.name for c in again.cases] == [c.name for c in mixed.cases]


def test_junit_reports_failures_errors_and_expected_failures(mixed: Results) -> None:
    suite = ET.fromstring(junit_xml(mixed).split("\n", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("4", "1", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["kernel-a"].find("failure") is None
    failure = cases["kernel-b"].find("failure")
    assert failure is not None and failure.get("message") == "failed: labels, guardrails"
    assert "guardrails: guardrails went wrong" in (failure.text or "")
    assert cases["kernel-c"].find("skipped") is not None
    error = cases["kernel-d"].find("error")
    assert error is not None and "cassette mismatch" in (error.text or "")


def test_markdown_has_the_summary_the_cases_and_the_failures(mixed: Results) -> None:
    text = markdown(mixed)
    assert text.startswith("# sopgraph eval: `offline` · graph `compiled` · offline")
    assert "| passed | 1 (33.3% of the cases not marked xfail) |" in text
    assert "| kernel-b | fail | kernel_conntrack (kernel_conntrack) | labels, guardrails | 10 |" in text
    assert "- **kernel-c** — xfail (xfail: reported upstream)" in text
    assert "| kernel_conntrack | " in text  # confusion row


def test_the_terminal_table_names_each_failure(mixed: Results) -> None:
    buffer = io.StringIO()
    print_table(mixed, Console(file=buffer, width=200, color_system=None))
    out = buffer.getvalue()
    assert "kernel-b" in out and "labels, guardrails" in out
    assert "✗ kernel-d (error)" in out and "case kernel-d: cassette mismatch" in out
    assert "exact label accuracy" in out


def test_baseline_diff_names_regressions_improvements_and_cost_changes(mixed: Results) -> None:
    before = _results(_score("kernel-a", "fail", failed=("labels",)), _score("kernel-b", "pass", calls=5),
                      _score("old-case", "pass"))
    changes = diff(before, mixed, "old.json")
    assert changes.regressed == ["kernel-b"]
    assert changes.improved == ["kernel-a"]
    assert changes.new == ["kernel-c", "kernel-d"] and changes.removed == ["old-case"]
    assert changes.metrics["mean model calls"] == (before.summary.cost_mean["model_calls"], 10.0)
    buffer = io.StringIO()
    print_diff(changes, Console(file=buffer, width=200, color_system=None))
    out = buffer.getvalue()
    assert "regressed (pass → fail): kernel-b" in out and "improved (fail → pass): kernel-a" in out
    assert "pass rate:" in out and "mean model calls: 8.30 → 10.00 (+20.5%)" in out


def test_a_bad_baseline_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text('{"run": {}}')
    with pytest.raises(ValueError, match=r"old\.json: not a sopgraph eval results.json"):
        load_results(bad)
    with pytest.raises(ValueError, match=r"missing\.json: cannot read baseline"):
        load_results(tmp_path / "missing.json")


def test_the_comparison_table_has_one_column_per_run(tmp_path: Path, mixed: Results, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.compare import comparison, main

    other = _results(_score("kernel-a", "pass", calls=4))
    table = comparison([("graph", mixed), ("react", other)])
    assert table.splitlines()[0] == "| | graph | react |"
    assert "| cases passed (every check) | 1/4 (+1 xfail) | 1/1 |" in table
    assert "| model calls / case | 10 | 4 |" in table
    write_all(other, tmp_path)
    assert main([f"react={tmp_path / 'results.json'}"]) == 0
    assert "| | react |" in capsys.readouterr().out
    assert main(["no-equals-sign"]) == 2
