"""Shared fixtures: a scripted Messages API server on 127.0.0.1 and a fake key to hunt for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.messages_server import MessagesServer

FAKE_KEY = "sk-ant-test-SECRET"
MODEL = "claude-sonnet-5-5"
BEDROCK_MODEL = "anthropic.claude-sonnet-5-5-v1:0"
FAKE_AWS = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE0000",
    "AWS_SECRET_ACCESS_KEY": "fake/aws/SECRET/key/0000000000000000000",
    "AWS_SESSION_TOKEN": "fake-session-SECRET-token",
}


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass credentials explicitly; nothing from the developer's shell may leak in."""
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "AWS_BEARER_TOKEN_BEDROCK",
        "SOPGRAPH_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server_factory() -> Iterator[Callable[..., MessagesServer]]:
    """Start servers with `server_factory(script, ...)`; all are stopped after the test."""
    started: list[MessagesServer] = []

    def make(*args: Any, **kwargs: Any) -> MessagesServer:
        server = MessagesServer(*args, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
