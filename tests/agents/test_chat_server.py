"""The chat model against the scripted Messages API: tool loops, retries, budget, Bedrock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from agents.budget import BudgetExceeded, TokenBudget
from agents.providers import ModelCallError, make_chat_model
from tests.agents.conftest import BEDROCK_MODEL, FAKE_AWS, FAKE_KEY, MODEL
from tests.fakes.messages_server import MessagesServer, error_response, text_response, tool_use_response

Factory = Callable[..., MessagesServer]
ENV = {"ANTHROPIC_API_KEY": FAKE_KEY}
SEARCH = {
    "name": "search",
    "description": "regex search over the bundle",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}
ERRORS = {"name": "errors", "description": "indexed findings", "input_schema": {"type": "object", "properties": {}}}


class Report(BaseModel):
    root_cause: str
    finding_ids: list[str]


def _fake_tool(name: str, args: dict[str, Any]) -> str:
    """Deterministic tool results, so the loop's later requests depend on earlier answers."""
    if name == "search":
        return f"S-001 query={args['query']} matched F-001 nf_conntrack: table full"
    return "F-001 kernel nf_conntrack table full (count 262144)"


def _run_loop(model: Any, messages: list[BaseMessage], max_turns: int = 5) -> AIMessage:
    bound = model.bind_tools([SEARCH, ERRORS])
    for _ in range(max_turns):
        reply: AIMessage = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        for call in reply.tool_calls:
            messages.append(ToolMessage(_fake_tool(call["name"], call["args"]), tool_call_id=call["id"]))
    raise AssertionError("tool loop did not finish")


def test_multi_turn_tool_loop(server_factory: Factory) -> None:
    script = [
        tool_use_response("search", {"query": "table full"}, text="Checking the kernel table."),
        {
            "content": [
                {"type": "tool_use", "name": "errors", "input": {}},
                {"type": "tool_use", "name": "search", "input": {"query": "conntrack_allowance_exceeded"}},
            ]
        },
        text_response("kernel_conntrack exhaustion: F-001, S-001."),
    ]
    server = server_factory(script, api_key=FAKE_KEY)
    budget = TokenBudget()
    model = make_chat_model(f"anthropic:{MODEL}", budget=budget, base_url=server.url, max_retries=0, env=ENV)
    messages: list[BaseMessage] = [SystemMessage("Diagnose."), HumanMessage("Node i-0abc drops packets.")]
    final = _run_loop(model, messages)

    assert final.content == "kernel_conntrack exhaustion: F-001, S-001."
    assert [r.status for r in server.requests] == [200, 200, 200]  # the fake validated every request
    third = server.requests[2].body
    assert third["system"] == "Diagnose."
    assert [m["role"] for m in third["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    results = [b for b in third["messages"][4]["content"] if b["type"] == "tool_result"]
    assert [b["content"].split()[0] for b in results] == ["F-001", "S-001"]  # both answers, one turn
    assert results[1]["content"].startswith("S-001 query=conntrack_allowance_exceeded")

    usage = budget.usage
    assert usage.model_calls == 3
    server_usage = [m.usage_metadata for m in messages if isinstance(m, AIMessage)]
    assert usage.input_tokens == sum(u["input_tokens"] for u in server_usage if u)
    assert usage.output_tokens == sum(u["output_tokens"] for u in server_usage if u)
    assert usage.input_chars > 0 and usage.output_chars > 0


def test_structured_final_answer_via_forced_tool(server_factory: Factory) -> None:
    server = server_factory(
        [tool_use_response("Report", {"root_cause": "kernel_conntrack exhaustion", "finding_ids": ["F-001"]})],
        api_key=FAKE_KEY,
    )
    model = make_chat_model("anthropic", base_url=server.url, max_retries=0, env=ENV)
    report = model.with_structured_output(Report).invoke([HumanMessage("report now")])
    assert report == Report(root_cause="kernel_conntrack exhaustion", finding_ids=["F-001"])
    sent = server.requests[0].body
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["tools"][0]["name"] == "Report"


def test_submit_report_tool_choice_on_the_wire(server_factory: Factory) -> None:
    submit = {"name": "submit_report", "description": "final", "input_schema": {"type": "object"}}
    server = server_factory([tool_use_response("submit_report", {"root_cause": "inconclusive"})], api_key=FAKE_KEY)
    model = make_chat_model("anthropic", base_url=server.url, max_retries=0, env=ENV)
    reply = model.bind_tools([SEARCH, submit], tool_choice="submit_report").invoke([HumanMessage("x")])
    assert reply.tool_calls[0]["args"] == {"root_cause": "inconclusive"}
    assert server.requests[0].body["tool_choice"] == {"type": "tool", "name": "submit_report"}


def test_rate_limit_then_success_is_retried(server_factory: Factory) -> None:
    server = server_factory([text_response("ok")], api_key=FAKE_KEY)
    server.fail_next(429)
    server.fail_next(529)
    model = make_chat_model("anthropic", base_url=server.url, max_retries=2, env=ENV)
    assert model.invoke([HumanMessage("x")]).content == "ok"
    assert [r.status for r in server.requests] == [429, 529, 200]
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1", "2"]


def test_retries_exhausted_is_a_model_call_error(server_factory: Factory) -> None:
    server = server_factory([text_response("never")], api_key=FAKE_KEY)
    server.fail_next(529, times=2)
    model = make_chat_model("anthropic", base_url=server.url, max_retries=1, env=ENV)
    with pytest.raises(ModelCallError, match=r"HTTP 529 overloaded_error after 1 retries"):
        model.invoke([HumanMessage("x")])
    assert server.served == 0


def test_invalid_request_is_reported_not_retried(server_factory: Factory) -> None:
    server = server_factory([text_response("never")], api_key=FAKE_KEY)
    model = make_chat_model("anthropic", base_url=server.url, max_retries=2, env=ENV)
    orphan = [
        HumanMessage("x"),
        AIMessage("", tool_calls=[{"name": "search", "args": {"query": "q"}, "id": "toolu_A"}]),
        ToolMessage("result", tool_call_id="toolu_B"),  # answers a call that was never made
    ]
    with pytest.raises(ModelCallError, match=r"HTTP 400 invalid_request_error: .*unexpected `tool_use_id`"):
        model.bind_tools([SEARCH]).invoke(orphan)
    assert len(server.requests) == 1  # a 400 is not retried


def test_scripted_error_response_surfaces_the_api_message(server_factory: Factory) -> None:
    server = server_factory([error_response(400, "invalid_request_error", "prompt is too long")], api_key=FAKE_KEY)
    model = make_chat_model("anthropic", base_url=server.url, max_retries=0, env=ENV)
    with pytest.raises(ModelCallError, match="prompt is too long"):
        model.invoke([HumanMessage("x")])


def test_wrong_key_error_does_not_contain_the_key(server_factory: Factory) -> None:
    server = server_factory([text_response("never")], api_key="sk-ant-the-right-one")
    model = make_chat_model("anthropic", base_url=server.url, max_retries=0, env=ENV)
    with pytest.raises(ModelCallError) as info:
        model.invoke([HumanMessage("x")])
    assert "HTTP 401 authentication_error" in str(info.value)
    assert FAKE_KEY not in str(info.value) and "SECRET" not in str(info.value)


def test_budget_stops_the_call_before_it_is_sent(server_factory: Factory) -> None:
    server = server_factory([text_response("first"), text_response("second")], api_key=FAKE_KEY)
    budget = TokenBudget(max_output_tokens=1)
    model = make_chat_model("anthropic", budget=budget, base_url=server.url, max_retries=0, env=ENV)
    assert model.invoke([HumanMessage("x")]).content == "first"
    assert budget.usage.output_tokens >= 1
    with pytest.raises(BudgetExceeded, match="output tokens"):
        model.invoke([HumanMessage("again")])
    assert len(server.requests) == 1  # nothing was sent for the refused call
    assert budget.usage.model_calls == 1


def test_connection_refused_is_a_model_call_error(server_factory: Factory) -> None:
    server = server_factory([text_response("x")])
    url = server.url
    server.stop()
    model = make_chat_model("anthropic", base_url=url, max_retries=0, env=ENV)
    with pytest.raises(ModelCallError, match=f"connection to {url} failed after 0 retries"):
        model.invoke([HumanMessage("x")])


def test_bedrock_invoke_through_the_fake(server_factory: Factory) -> None:
    server = server_factory([tool_use_response("search", {"query": "table full"}), text_response("done")])
    budget = TokenBudget()
    model = make_chat_model(
        f"bedrock:{BEDROCK_MODEL}", budget=budget, base_url=server.url, max_retries=0, env=FAKE_AWS
    )
    messages: list[BaseMessage] = [HumanMessage("Node i-0abc drops packets.")]
    final = _run_loop(model, messages)
    assert final.content == "done"
    first = server.requests[0]
    assert first.api == "bedrock" and first.status == 200
    assert first.path == f"/model/{BEDROCK_MODEL}/invoke"
    assert "model" not in first.body and first.body["anthropic_version"]
    assert first.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE0000/")
    assert "/us-east-1/bedrock/" in first.headers["authorization"]
    assert first.headers["x-amz-security-token"] == FAKE_AWS["AWS_SESSION_TOKEN"]
    assert messages[1].response_metadata["model"] == BEDROCK_MODEL
    assert budget.usage.model_calls == 2


def test_async_invoke_and_copies_share_the_budget(server_factory: Factory) -> None:
    import asyncio
    import copy

    server = server_factory([text_response("one"), text_response("two")], api_key=FAKE_KEY)
    budget = TokenBudget()
    model = make_chat_model("anthropic", budget=budget, base_url=server.url, max_retries=0, env=ENV)
    assert asyncio.run(model.ainvoke([HumanMessage("x")])).content == "one"
    twin = copy.deepcopy(model)
    assert twin.invoke([HumanMessage("y")]).content == "two"
    assert budget.usage.model_calls == 2
