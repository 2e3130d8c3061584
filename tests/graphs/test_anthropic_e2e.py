"""The Claude path end to end: the real SDK against a scripted Messages API, recorded, then replayed offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agents.cassettes import CassetteMismatch, make_vcr
from agents.providers import DEFAULT_ANTHROPIC_MODEL, make_chat_model
from tests.fakes.messages_server import MessagesServer, text_response, tool_use_response
from tests.graphs.conftest import run_offline

KEY = "sk-ant-test-SECRET-key"
_F = re.compile(r"\b[FS]-\d{3}\b")


def _texts(msg: dict[str, Any]) -> list[str]:
    content = msg.get("content")
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if block.get("type") == "text":
            out.append(block["text"])
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            out.extend([inner] if isinstance(inner, str) else [b.get("text", "") for b in inner or []])
    return out


def scripted_claude(request: dict[str, Any]) -> dict[str, Any]:
    """A model that follows the runbook the way a careful agent would, over the real wire format."""
    system = request["system"] if isinstance(request["system"], str) else " ".join(b["text"] for b in request["system"])
    phase = re.search(r"Current phase: (\w+)", system).group(1)
    msgs = request["messages"]
    text = "\n".join(t for m in msgs for t in _texts(m))
    node = re.search(r"Node\(s\) under diagnosis: (i-[0-9a-f]+)", text).group(1)
    done = [b["name"] for m in msgs if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"] if b.get("type") == "tool_use"]
    execution = re.search(r"\"executionId\":\s*\"([^\"]+)\"", text)
    ids = list(dict.fromkeys(_F.findall(text)))
    plan = {
        "Triage": [("collect", {"instanceId": node}),
                   ("status", {"executionId": execution.group(1) if execution else ""}),
                   ("errors", {"instanceId": node}),
                   ("search", {"instanceId": node, "query": "nf_conntrack.*table full|conntrack_allowance_exceeded"}),
                   ("network_diagnostics", {"instanceId": node, "sections": "kube_proxy"})],
        "Enrich": [("search", {"instanceId": node, "query": "table full"}),
                   ("search", {"instanceId": node, "query": "conntrack_allowance_exceeded"}),
                   ("correlate", {"instanceId": node, "pivotEvent": "conntrack"})],
        "Report": [("summarize", {"instanceId": node, "finding_ids": [i for i in ids if i.startswith("F-")][:5]})],
    }[phase]
    if len(done) < len(plan):
        name, args = plan[len(done)]
        return tool_use_response(name, args)
    if phase == "Report":
        return tool_use_response("submit_report", {
            "labels": ["kernel_conntrack"],
            "evidence": [{"type": "finding", "content": "kernel table full", "finding_ids": ids[:2]}],
            "reasoning": "table full lines in dmesg; count equals max",
        })
    return text_response(f"{phase} done: {', '.join(ids[:5])}")


def _model(url: str):
    return make_chat_model(f"anthropic:{DEFAULT_ANTHROPIC_MODEL}", base_url=url, max_retries=0,
                           env={"ANTHROPIC_API_KEY": KEY})


def test_claude_path_records_and_replays_without_network(tmp_path: Path, make_bundle, monkeypatch):
    gen = make_bundle(scenario="kernel_table_full", kernel="al2023-6.1")
    cassettes = tmp_path / "cassettes"
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "rec"))
    with MessagesServer(scripted_claude, api_key=KEY) as server:
        url = server.url
        with make_vcr(cassettes, record=True).use_cassette("kernel.yaml"):
            recorded = run_offline(tmp_path / "rec", [gen.path], model_override=lambda: _model(url))
        served = server.served
    assert served > 10
    assert recorded.status == "waiting_approval"
    assert recorded.report["labels"] == ["kernel_conntrack"]
    assert recorded.report["usage"]["input_tokens"] > 0
    assert all(c["satisfied"] for c in recorded.report["must_compliance"].values())
    forced = [(s["phase"], s["tool"], s["args"]) for s in recorded.report["steps"] if s["forced"] and s["phase"] != "decide"]
    assert not forced
    cassette = (cassettes / "kernel.yaml").read_text()
    assert "SECRET" not in cassette and KEY not in cassette

    # The server is gone: only the cassette can answer.
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "replay"))
    with make_vcr(cassettes, record=False).use_cassette("kernel.yaml"):
        replayed = run_offline(tmp_path / "replay", [gen.path], model_override=lambda: _model(url))
    for key in ("labels", "root_cause", "evidence", "conntrack", "must_compliance", "escalate"):
        assert replayed.report[key] == recorded.report[key], key
    assert replayed.report["usage"] == recorded.report["usage"]

    # A different incident sends different requests: a clear mismatch, never a bare connection error.
    other = make_bundle(scenario="allowance_exceeded", kernel="al2023-6.1")
    with make_vcr(cassettes, record=False).use_cassette("kernel.yaml"), pytest.raises(CassetteMismatch) as err:
        run_offline(tmp_path / "other", [other.path], model_override=lambda: _model(url))
    assert "kernel.yaml" in str(err.value) and "--record" in str(err.value)
    json.dumps(recorded.report)
