"""The scripted "Claude": what it does from the request alone, its server, and record → replay of a case."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.prompts import build_phase_prompt, build_system_prompt, wrap_tool_output
from evals.cases import load_cases
from evals.harness import RunConfig, model_slug, run_case
from evals.scripted import ScriptedServer, complete, respond
from runbooks import catalog

MODEL = "anthropic:claude-sonnet-5-5"
NODES = ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"]


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated bundles, shared across runs and xdist workers (the cache is process-safe)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return Path(cache.mkdir("sopgraph-eval-bundles")) if cache else tmp_path_factory.mktemp("bundles")


def _request(phase: str, user: str | None = None, turns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rb = catalog.load("D3")
    last = phase == rb.phases[-1].name
    tools = [{"name": t, "input_schema": {"type": "object"}} for t in next(p.tools for p in rb.phases if p.name == phase)]
    if last:
        tools.append({"name": "submit_report", "input_schema": {"type": "object"}})
    opening = user or build_phase_prompt(rb, phase, [], instance_ids=NODES)
    return {"model": "claude-sonnet-5-5", "max_tokens": 100,
            "system": build_system_prompt(rb, phase, submit_tool="submit_report" if last else None),
            "messages": [{"role": "user", "content": opening}, *(turns or [])], "tools": tools}


def _uses(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(b["name"], b["input"]) for b in response["content"] if b["type"] == "tool_use"]


def _answer(response: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant turn and a user turn answering each tool_use with results[name](input)."""
    blocks = [{"type": "tool_result", "tool_use_id": b["id"],
               "content": wrap_tool_output(b["name"], json.dumps(results[b["name"]](b["input"])))}
              for b in response["content"] if b["type"] == "tool_use"]
    return [{"role": "assistant", "content": response["content"]}, {"role": "user", "content": blocks}]


def test_triage_calls_every_must_step_on_every_node_and_learns_execution_ids() -> None:
    first = respond(_request("Triage"))
    calls = _uses(first)
    assert len(calls) == 8  # several tool_use blocks per turn, at most 8
    assert [c for c in calls if c[0] == "collect"] == [("collect", {"instanceId": n}) for n in NODES]
    assert ("search", {"instanceId": NODES[0], "query": "nf_conntrack.*table full|conntrack_allowance_exceeded"}) in calls
    assert not any(name == "status" for name, _ in calls)  # no execution id yet
    results = {
        "collect": lambda a: {"instanceId": a["instanceId"], "executionId": f"exec-{a['instanceId'][-1]}"},
        "errors": lambda a: {"instanceId": a["instanceId"], "findings": []},
        "search": lambda a: {"instanceId": a["instanceId"], "grounded_search_ids": []},
        "network_diagnostics": lambda a: {"instanceId": a["instanceId"]},
    }
    second = respond(_request("Triage", turns=_answer(first, results)))
    assert ("status", {"executionId": "exec-1"}) in _uses(second)
    assert ("status", {"executionId": "exec-2"}) in _uses(second)
    assert not set(map(json.dumps, _uses(second))) & set(map(json.dumps, calls))  # nothing repeated


def test_a_phase_ends_in_prose_and_the_last_one_with_submit_report_citing_the_rules() -> None:
    rb = catalog.load("D3")
    node = NODES[0]
    opening = build_phase_prompt(rb, "Report", [], instance_ids=[node]) + (
        "\n\nThe deterministic rules concluded (from parsed bundle evidence):\n"
        f"- {node}: labels=['kernel_conntrack']; R1 holds: 'table full' matches indexed findings in "
        "kernel/dmesg.current cites ['S-006', 'F-001']; R2 does not hold: conntrack_allowance_exceeded > 0 is false "
        "(ens5=0) cites []\nEscalations: none")
    first = respond(_request("Report", user=opening))
    assert _uses(first) == [("summarize", {"instanceId": node, "finding_ids": ["S-006", "F-001"]})]
    final = respond(_request("Report", user=opening, turns=_answer(first, {"summarize": lambda a: {"ok": True}})))
    (name, draft), = _uses(final)
    assert name == "submit_report"
    assert draft["labels"] == ["kernel_conntrack"]
    assert draft["evidence"] == [{"type": "search", "content": f"{node}: 'table full' matches indexed findings in "
                                  "kernel/dmesg.current", "finding_ids": ["S-006", "F-001"]}]


def test_a_healthy_node_summarizes_the_searches_that_read_its_counts() -> None:
    rb = catalog.load("D3")
    node = NODES[0]
    evidence = [{"tool": "search", "ok": True, "phase": "Triage", "args": {"query": "nf_conntrack_max|nf_conntrack_count",
                                                                           "instanceId": node},
                 "result": {"finding_ids": ["S-002", "S-003"]}},
                {"tool": "search", "ok": True, "phase": "Triage", "args": {"query": "table full", "instanceId": node},
                 "result": {"finding_ids": ["S-001"]}}]
    opening = build_phase_prompt(rb, "Report", evidence, instance_ids=[node]) + (
        f"\n\nThe deterministic rules concluded (from parsed bundle evidence):\n- {node}: labels=[]; R1 does not hold: "
        "'table full': no match cites []")
    assert _uses(respond(_request("Report", user=opening))) == [
        ("summarize", {"instanceId": node, "finding_ids": ["S-002", "S-003"]})]


def test_answers_are_a_pure_function_of_the_request() -> None:
    request = _request("Triage")
    assert complete(respond(request), request) == complete(respond(request), request)
    answer = complete(respond(request), request)
    assert answer["stop_reason"] == "tool_use" and answer["usage"]["input_tokens"] > 0
    assert answer["model"] == "claude-sonnet-5-5"


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_server_answers_messages_and_refuses_what_it_cannot_serve() -> None:
    with ScriptedServer() as server:
        status, body = _post(server.url + "/v1/messages", json.dumps(_request("Enrich")).encode())
        assert status == 200 and body["type"] == "message" and body["content"]
        assert _post(server.url + "/v1/other", b"{}")[0] == 404
        assert _post(server.url + "/v1/messages", b"not json")[0] == 400
        status, body = _post(server.url + "/v1/messages", json.dumps({"model": "m"}).encode())
        assert status == 400 and "messages are required" in body["error"]["message"]
        assert server.served == 1


def test_record_a_case_then_replay_it_with_the_server_stopped(tmp_path: Path, cache_dir: Path) -> None:
    case = load_cases("allowance-secondary-eni")[0]
    with ScriptedServer() as server:
        recorded = run_case(case, RunConfig(model=MODEL, record=True, base_url=server.url, cassette_root=tmp_path,
                                            cache_dir=cache_dir))
        served = server.served
    assert recorded.error is None, recorded.error
    cassette = tmp_path / model_slug(MODEL) / f"{case.name}.yaml"
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    assert len(interactions) == served == recorded.report["usage"]["model_calls"]  # type: ignore[index]
    assert "sk-ant-" not in cassette.read_text()
    replayed = run_case(case, RunConfig(model=MODEL, cassette_root=tmp_path, cache_dir=cache_dir))
    assert replayed.error is None, replayed.error
    for key in ("labels", "evidence", "escalate", "conntrack", "usage"):
        assert replayed.report[key] == recorded.report[key], key  # type: ignore[index]
    assert replayed.report["labels"] == ["aws_instance_limit"]  # type: ignore[index]
