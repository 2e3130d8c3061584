"""LangChain messages ⇄ Messages API, and the shapes bind_tools puts on the wire."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from agents.anthropic_chat import (
    AnthropicChatModel,
    ai_message_from_response,
    request_chars,
    to_anthropic_messages,
    to_anthropic_tool,
    to_anthropic_tool_choice,
)
from tests.agents.conftest import FAKE_KEY, MODEL


def _model() -> AnthropicChatModel:
    return AnthropicChatModel(model=MODEL, api_key=FAKE_KEY)


def test_system_human_ai_tool_round_trip_to_api_shape() -> None:
    messages = [
        SystemMessage("You diagnose nodes."),
        HumanMessage("Node i-0abc drops packets."),
        AIMessage(
            "Searching both counters.",
            tool_calls=[
                {"name": "search", "args": {"query": "table full"}, "id": "toolu_1"},
                {"name": "errors", "args": {"instanceId": "i-0abc"}, "id": "toolu_2"},
            ],
        ),
        ToolMessage("F-001 nf_conntrack: table full", tool_call_id="toolu_1"),
        ToolMessage("no bundle", tool_call_id="toolu_2", status="error"),
        HumanMessage("Now decide."),
        SystemMessage("Cite IDs."),
    ]
    system, turns = to_anthropic_messages(messages)
    assert system == "You diagnose nodes.\n\nCite IDs."
    assert turns == [
        {"role": "user", "content": "Node i-0abc drops packets."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Searching both counters."},
                {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"query": "table full"}},
                {"type": "tool_use", "id": "toolu_2", "name": "errors", "input": {"instanceId": "i-0abc"}},
            ],
        },
        {
            # Both tool results and the follow-up text share ONE user turn, results first.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "F-001 nf_conntrack: table full"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no bundle", "is_error": True},
                {"type": "text", "text": "Now decide."},
            ],
        },
    ]


def test_tool_only_ai_message_has_no_empty_text_block() -> None:
    _system, turns = to_anthropic_messages(
        [HumanMessage("go"), AIMessage("", tool_calls=[{"name": "status", "args": {}, "id": "t1"}])]
    )
    assert turns[1]["content"] == [{"type": "tool_use", "id": "t1", "name": "status", "input": {}}]


def test_tool_use_blocks_in_content_are_not_duplicated() -> None:
    ai = AIMessage(
        content=[{"type": "text", "text": "x"}, {"type": "tool_use", "id": "t1", "name": "s", "input": {}}],
        tool_calls=[{"name": "s", "args": {}, "id": "t1"}],
    )
    _system, turns = to_anthropic_messages([HumanMessage("go"), ai])
    assert [b["type"] for b in turns[1]["content"]] == ["text", "tool_use"]


def test_consecutive_human_messages_merge_into_one_turn() -> None:
    _system, turns = to_anthropic_messages([HumanMessage("a"), HumanMessage("b")])
    assert turns == [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]


def test_unsupported_messages_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported message type ChatMessage"):
        to_anthropic_messages([ChatMessage(role="critic", content="x")])
    with pytest.raises(ValueError, match="has no id"):
        to_anthropic_messages([HumanMessage("go"), AIMessage("", tool_calls=[{"name": "s", "args": {}, "id": None}])])


def test_response_converts_to_ai_message_with_usage_and_metadata() -> None:
    response = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "text", "text": "Kernel table is full."},
            {"type": "tool_use", "id": "toolu_9", "name": "summarize", "input": {"finding_ids": ["F-001"]}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 30},
    }
    message = ai_message_from_response(response)
    assert message.content == "Kernel table is full."
    assert message.tool_calls == [
        {"name": "summarize", "args": {"finding_ids": ["F-001"]}, "id": "toolu_9", "type": "tool_call"}
    ]
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 130  # cached input is input too
    assert message.usage_metadata["output_tokens"] == 20
    assert message.usage_metadata["total_tokens"] == 150
    assert message.usage_metadata.get("input_token_details") == {"cache_read": 30, "cache_creation": 0}
    assert message.response_metadata["stop_reason"] == "tool_use"
    assert message.response_metadata["model"] == MODEL
    assert message.response_metadata["id"] == "msg_1"
    # And back again: the AI turn re-serialises to the same blocks.
    _s, turns = to_anthropic_messages([HumanMessage("q"), message])
    assert turns[1]["content"] == response["content"]


def test_request_chars_counts_text_not_json_punctuation() -> None:
    system, turns = to_anthropic_messages(
        [
            SystemMessage("abc"),
            HumanMessage("hello"),
            AIMessage("", tool_calls=[{"name": "s", "args": {"q": "x"}, "id": "t"}]),
            ToolMessage("12345", tool_call_id="t"),
        ]
    )
    assert request_chars(system, turns) == len("abc") + len("hello") + len('{"q":"x"}') + len("12345")


class Evidence(BaseModel):
    content: str
    finding_ids: list[str] = Field(default_factory=list)


class SubmitReport(BaseModel):
    """Submit the final report."""

    root_cause: str = Field(description="label or inconclusive")
    evidence: list[Evidence]


@tool
def search(instanceId: str, query: str) -> str:
    """Search the node's logs with a regex."""
    return ""


def test_tool_shapes_from_dict_pydantic_and_langchain_tool() -> None:
    raw = {"name": "errors", "description": "d", "input_schema": {"type": "object"}, "cache_control": {"x": 1}}
    assert to_anthropic_tool(raw) == {"name": "errors", "description": "d", "input_schema": {"type": "object"}}

    report = to_anthropic_tool(SubmitReport)
    assert report["name"] == "SubmitReport"
    assert report["description"] == "Submit the final report."
    schema = report["input_schema"]
    assert schema["type"] == "object" and set(schema["required"]) == {"root_cause", "evidence"}
    assert "$ref" not in str(schema) and "$defs" not in schema  # nested models inlined
    assert schema["properties"]["evidence"]["items"]["properties"]["finding_ids"]["type"] == "array"

    lc = to_anthropic_tool(search)
    assert lc["name"] == "search" and lc["description"].startswith("Search the node's logs")
    assert set(lc["input_schema"]["properties"]) == {"instanceId", "query"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", {"type": "auto"}),
        ("any", {"type": "any"}),
        ("required", {"type": "any"}),
        (True, {"type": "any"}),
        ("none", {"type": "none"}),
        ("submit_report", {"type": "tool", "name": "submit_report"}),
        ({"type": "tool", "name": "x"}, {"type": "tool", "name": "x"}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any] | None) -> None:
    assert to_anthropic_tool_choice(choice, ["search", "submit_report"]) == expected


def test_tool_choice_must_name_a_bound_tool() -> None:
    with pytest.raises(ValueError, match="not one of the bound tools"):
        to_anthropic_tool_choice("upsize_instance", ["search"])


def test_bind_tools_binds_api_shaped_tools_and_choice() -> None:
    bound: Any = _model().bind_tools([search, SubmitReport], tool_choice="SubmitReport")
    assert [t["name"] for t in bound.kwargs["tools"]] == ["search", "SubmitReport"]
    assert all(set(t) <= {"name", "description", "input_schema"} for t in bound.kwargs["tools"])
    assert bound.kwargs["tool_choice"] == {"type": "tool", "name": "SubmitReport"}


def test_bind_tools_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="repeated: search"):
        _model().bind_tools([search, search])


def test_build_request_is_the_exact_api_body() -> None:
    model = _model()
    bound: Any = model.bind_tools([search], tool_choice="auto")
    params = model.build_request([SystemMessage("s"), HumanMessage("h")], ["STOP"], **bound.kwargs)
    assert params == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "h"}],
        "system": "s",
        "tools": bound.kwargs["tools"],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["STOP"],
    }
    with pytest.raises(TypeError, match="temperature"):
        model.build_request([HumanMessage("h")], temperature=0.2)
    with pytest.raises(ValueError, match="no user or assistant message"):
        model.build_request([SystemMessage("only system")])
