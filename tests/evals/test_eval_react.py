"""The ReAct baseline: one agent, all tools, the raw runbook; scored by the same checks as the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.react import common_fixes, escalation_conditions, example_calls, naive_answer, naive_respond
from evals.run import evaluate
from evals.scripted import Call
from runbooks import catalog

RUNBOOK = Path(catalog.load("D3").source or "").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated bundles, shared across runs and xdist workers (the cache is process-safe)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(cache.mkdir("sopgraph-eval-bundles")) if cache else tmp_path_factory.mktemp("bundles")


def test_the_naive_policy_reads_the_runbook_text() -> None:
    assert [tool for tool, _ in example_calls(RUNBOOK)] == ["collect", "errors", "search", "network_diagnostics"]
    assert common_fixes(RUNBOOK)["aws_instance_limit"].startswith("Operator action: upgrade to instance type")
    assert "sysctl -w" in common_fixes(RUNBOOK)["kernel_conntrack"]
    assert escalation_conditions(RUNBOOK)[0].startswith("AWS instance-level conntrack limit")


def test_it_makes_the_example_calls_on_each_node_one_per_turn() -> None:
    request = {"system": RUNBOOK, "tools": [{"name": t} for t in ("collect", "errors", "search", "network_diagnostics")],
               "messages": [{"role": "user", "content": "Node(s) under diagnosis: i-0aaaaaaaaaaaaaaa1, i-0aaaaaaaaaaaaaaa2."}]}
    blocks = naive_respond(request)["content"]
    uses = [b for b in blocks if b["type"] == "tool_use"]
    assert [(u["name"], u["input"]) for u in uses] == [("collect", {"instanceId": "i-0aaaaaaaaaaaaaaa1"})]


def _call(name: str, args: dict[str, Any], result: Any) -> Call:
    call = Call(name, args)
    call.ok, call.result, call.answered = True, result, True
    return call


def test_keyword_labels_ignore_the_echoed_query_but_not_a_zero_counter() -> None:
    echo = _call("search", {"instanceId": "i-1", "query": "nf_conntrack.*table full|conntrack_allowance_exceeded"},
                 {"query": "nf_conntrack.*table full|conntrack_allowance_exceeded", "results": []})
    assert naive_answer(RUNBOOK, [echo], ["i-1"])["labels"] == []
    zero = _call("search", {"instanceId": "i-1"}, {"results": [{"text": "     conntrack_allowance_exceeded: 0"}]})
    answer = naive_answer(RUNBOOK, [zero], ["i-1"])
    assert answer["labels"] == ["aws_instance_limit"]  # the ungrounded mistake the compiled graph avoids
    assert answer["escalate"] and answer["proposed_actions"][0]["status"] == "operator_action"


def test_react_runs_are_scorable_and_show_what_the_graph_buys(cache_dir: Path) -> None:
    results = evaluate(model="offline", graph="react", cases="healthy-al2023", cache_dir=cache_dir, workers=1)
    (score,) = results.cases
    assert score.outcome == "fail" and score.error is None
    assert score.checks["schema"].ok  # the same report keys as the graph
    assert score.labels == ["aws_instance_limit"]  # fooled by conntrack_allowance_exceeded: 0
    assert {"labels", "must_compliance", "forbidden_claims"} <= set(score.failed_checks)
    assert score.must_phases == {"Triage": False, "Enrich": False, "Report": False}
    assert score.cost.model_calls == score.cost.tool_calls + 1 and score.cost.input_chars > 0


def test_an_agent_that_answers_in_prose_fails_schema(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.react as react

    monkeypatch.setattr(react, "naive_answer", lambda *a, **k: "the conntrack table is full, probably")
    original = react.naive_respond

    def prose(request: dict[str, Any]) -> dict[str, Any]:
        out = original(request)
        for block in out["content"]:
            if block["type"] == "text" and block["text"].startswith('"'):
                block["text"] = json.loads(block["text"])
        return out

    monkeypatch.setattr(react, "naive_respond", prose)
    results = evaluate(model="offline", graph="react", cases="kernel-al2-5.10", cache_dir=cache_dir, workers=1,
                       executor="thread")
    (score,) = results.cases
    assert "schema" in score.failed_checks
    assert "root_cause: Field required" in score.checks["schema"].detail
