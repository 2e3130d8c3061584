"""Record model traffic against the scripted server, then replay it with nothing listening."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agents.cassettes import (
    MATCH_ON,
    CassetteMismatch,
    drop_failed_and_scrub,
    explain_cassette_miss,
    find_cassette_miss,
    make_vcr,
    replay_env,
)
from agents.providers import ModelCallError, ProviderError, make_chat_model
from tests.agents.conftest import BEDROCK_MODEL, FAKE_AWS, FAKE_KEY, MODEL
from tests.fakes.messages_server import MessagesServer, text_response, tool_use_response

Factory = Callable[..., MessagesServer]
ENV = {"ANTHROPIC_API_KEY": FAKE_KEY}
SEARCH = {
    "name": "search",
    "description": "regex search",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
}


def _conversation(model: Any, prompt: str = "Node i-0abc drops packets.") -> list[AIMessage]:
    """A two-turn tool loop; returns the model's replies."""
    bound = model.bind_tools([SEARCH])
    messages: list[BaseMessage] = [SystemMessage("Diagnose."), HumanMessage(prompt)]
    replies: list[AIMessage] = []
    for _ in range(3):
        reply = bound.invoke(messages)
        replies.append(reply)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(ToolMessage(f"F-001 matched {call['args']['query']}", tool_call_id=call["id"]))
    return replies


def _script() -> list[dict[str, Any]]:
    return [tool_use_response("search", {"query": "table full"}), text_response("kernel_conntrack exhaustion")]


def _record(server_factory: Factory, cassette_dir: Path, *, fail_first: int | None = None) -> tuple[str, list[AIMessage]]:
    server = server_factory(_script(), api_key=FAKE_KEY)
    if fail_first:
        server.fail_next(fail_first)
    with make_vcr(cassette_dir, record=True).use_cassette("d3.yaml"):
        model = make_chat_model(f"anthropic:{MODEL}", base_url=server.url, max_retries=2, env=ENV)
        replies = _conversation(model)
    url = server.url
    server.stop()
    return url, replies


def _interactions(cassette_dir: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((cassette_dir / "d3.yaml").read_text())["interactions"]


def test_record_then_replay_with_the_server_stopped(server_factory: Factory, tmp_path: Path) -> None:
    url, recorded = _record(server_factory, tmp_path)
    assert len(_interactions(tmp_path)) == 2

    # Nothing listens on the recorded port any more: a call outside the cassette fails to connect.
    with pytest.raises(ModelCallError, match="failed after 0 retries"):
        make_chat_model("anthropic", base_url=url, max_retries=0, env=ENV).invoke([HumanMessage("x")])

    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml") as cassette:
        model = make_chat_model(f"anthropic:{MODEL}", base_url=url, max_retries=0, env=ENV)
        replayed = _conversation(model)
        assert cassette.play_count == 2
    assert [(r.id, r.content, r.tool_calls) for r in replayed] == [(r.id, r.content, r.tool_calls) for r in recorded]
    assert replayed[0].tool_calls[0]["args"] == {"query": "table full"}


def test_cassette_holds_no_credentials_or_account_headers(server_factory: Factory, tmp_path: Path) -> None:
    _record(server_factory, tmp_path)
    text = (tmp_path / "d3.yaml").read_text()
    assert "SECRET" not in text and FAKE_KEY not in text
    for interaction in _interactions(tmp_path):
        request_headers = {k.lower() for k in interaction["request"]["headers"]}
        assert not request_headers & {"authorization", "x-api-key"}
        response_headers = {k.lower() for k in interaction["response"]["headers"]}
        assert not response_headers & {"anthropic-organization-id", "request-id", "set-cookie"}
    assert "org-fake" not in text
    # Bodies are stored as readable JSON text, not base64.
    assert "!!binary" not in text


def test_rate_limited_attempt_is_not_kept(server_factory: Factory, tmp_path: Path) -> None:
    url, recorded = _record(server_factory, tmp_path, fail_first=429)
    interactions = _interactions(tmp_path)
    assert [i["response"]["status"]["code"] for i in interactions] == [200, 200]
    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml"):
        replayed = _conversation(make_chat_model("anthropic", base_url=url, max_retries=0, env=ENV))
    assert [r.content for r in replayed] == [r.content for r in recorded]


def test_changed_prompt_raises_cassette_mismatch_with_a_helpful_message(
    server_factory: Factory, tmp_path: Path
) -> None:
    url, _ = _record(server_factory, tmp_path)
    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml"):
        model = make_chat_model(f"anthropic:{MODEL}", base_url=url, max_retries=0, env=ENV)
        with pytest.raises(CassetteMismatch) as info:
            _conversation(model, prompt="Node i-0abc drops DNS packets.")
    message = str(info.value)
    assert isinstance(info.value, ProviderError)
    assert str(tmp_path / "d3.yaml") in message
    assert "POST /v1/messages" in message
    assert "body sha256:" in message and f"model {MODEL}" in message
    assert "differs in: body" in message
    assert "body.messages[0].content" in message and "drops DNS" in message
    assert f"sopgraph eval --model anthropic:{MODEL} --record" in message
    assert find_cassette_miss(info.value) is not None  # the vcr cause stays chained


def test_more_calls_than_recorded_is_explained(server_factory: Factory, tmp_path: Path) -> None:
    url, _ = _record(server_factory, tmp_path)
    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml"):
        model = make_chat_model(f"anthropic:{MODEL}", base_url=url, max_retries=0, env=ENV)
        _conversation(model)
        with pytest.raises(CassetteMismatch, match="more model calls than the recording"):
            _conversation(model)


def test_missing_cassette_is_explained(tmp_path: Path) -> None:
    with make_vcr(tmp_path, record=False).use_cassette("absent.yaml"):
        model = make_chat_model("anthropic", base_url="http://127.0.0.1:9", max_retries=0, env=ENV)
        with pytest.raises(CassetteMismatch, match="the cassette does not exist"):
            model.invoke([HumanMessage("x")])


def test_bedrock_record_and_replay(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory(_script())
    with make_vcr(tmp_path, record=True).use_cassette("d3.yaml"):
        recorded = _conversation(
            make_chat_model(f"bedrock:{BEDROCK_MODEL}", base_url=server.url, max_retries=0, env=FAKE_AWS)
        )
    url = server.url
    server.stop()
    text = (tmp_path / "d3.yaml").read_text()
    assert "SECRET" not in text and "AKIA" not in text
    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml"):
        model = make_chat_model(f"bedrock:{BEDROCK_MODEL}", base_url=url, max_retries=0, env=FAKE_AWS)
        assert [r.content for r in _conversation(model)] == [r.content for r in recorded]
        with pytest.raises(CassetteMismatch, match=f"sopgraph eval --model bedrock:{BEDROCK_MODEL} --record"):
            _conversation(model, prompt="something else")


def test_vcr_settings() -> None:
    replay = make_vcr("/tmp/unused", record=False)
    assert replay.record_mode == "none"
    assert "headers" not in replay.match_on and set(MATCH_ON) == set(replay.match_on)
    assert replay.decode_compressed_response is True
    assert "boto3" in replay.skip_patchers and "httpx2" not in replay.skip_patchers
    assert {"x-api-key", "authorization", "x-amz-date", "x-amz-security-token"} <= set(replay.filter_headers)
    record = make_vcr("/tmp/unused", record=True)
    assert record.record_mode == "all" and record.drop_unused_requests is True


def test_before_record_response_drops_failures_and_scrubs_headers() -> None:
    ok = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Request-Id": ["r"], "anthropic-organization-id": ["o"], "content-type": ["json"]},
        "body": {"string": "{}"},
    }
    assert drop_failed_and_scrub(ok)["headers"] == {"content-type": ["json"]}  # type: ignore[index]
    for code in (429, 500, 529):
        assert drop_failed_and_scrub({"status": {"code": code}, "headers": {}}) is None
    assert drop_failed_and_scrub({"status": {"code": 400}, "headers": {}}) is not None


def test_explain_without_a_cassette_cause_is_generic() -> None:
    assert find_cassette_miss(RuntimeError("boom")) is None
    assert "boom" in explain_cassette_miss(RuntimeError("boom"))


def test_boto3_traffic_passes_through_a_replaying_cassette(server_factory: Factory, tmp_path: Path) -> None:
    """AWS tool calls (boto3 → moto on 127.0.0.1) must not be captured by the model cassette."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.parsers import ResponseParserError

    server = server_factory([text_response("unused")])
    client = boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAFAKE",
        aws_secret_access_key="fake",
        config=Config(retries={"total_max_attempts": 1}),
    )
    replay = make_vcr(tmp_path, record=False)
    # The fake answers STS with JSON, which botocore cannot parse: proof the request really went out.
    with replay.use_cassette("empty.yaml"), pytest.raises(ResponseParserError):
        client.get_caller_identity()
    assert [r.path for r in server.requests] == ["/"]
    # Without skip_patchers the same call is swallowed by the cassette and never reaches the server.
    with replay.use_cassette("empty.yaml", skip_patchers=()), pytest.raises(BotoCoreError, match="Can't play back"):
        client.get_caller_identity()
    assert len(server.requests) == 1


def test_replay_needs_no_real_credentials(server_factory: Factory, tmp_path: Path) -> None:
    url, recorded = _record(server_factory, tmp_path)
    env = replay_env({})
    assert FAKE_KEY not in env.values()
    with make_vcr(tmp_path, record=False).use_cassette("d3.yaml"):
        replayed = _conversation(make_chat_model(f"anthropic:{MODEL}", base_url=url, max_retries=0, env=env))
    assert [r.content for r in replayed] == [r.content for r in recorded]


def test_replay_env_keeps_real_values() -> None:
    env = replay_env({"ANTHROPIC_API_KEY": FAKE_KEY, "AWS_DEFAULT_REGION": "eu-west-1"})
    assert env["ANTHROPIC_API_KEY"] == FAKE_KEY
    assert "AWS_REGION" not in env and env["AWS_ACCESS_KEY_ID"].startswith("AKIA")
