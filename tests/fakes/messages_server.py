"""A scripted stand-in for the Anthropic Messages API (and Bedrock's invoke) on 127.0.0.1.

Tests drive the real SDK against it, so request bodies, retries, SigV4 signing and vcrpy
recording are all exercised for real. It validates requests the way the real API does (roles
alternate, every tool_use answered by a tool_result in the next turn, no stray tool_result ids,
tool_choice names a bound tool) and answers 400 otherwise, so a conversion bug fails a test
instead of passing against a lenient fake.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from evals.scripted import LoopbackServer

Response = Mapping[str, Any]
Script = Sequence[Response] | Callable[[dict[str, Any]], Response]

_BEDROCK_PATH = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
STATUS_KEY = "_status"  # a scripted response with this key is sent as an HTTP error


def text_response(text: str, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], **extra}


def tool_use_response(name: str, tool_input: Mapping[str, Any], *, text: str | None = None,
                      tool_id: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    block: dict[str, Any] = {"type": "tool_use", "name": name, "input": dict(tool_input)}
    if tool_id:
        block["id"] = tool_id
    blocks.append(block)
    return {"content": blocks}


def error_response(status: int, error_type: str, message: str) -> dict[str, Any]:
    return {STATUS_KEY: status, "type": "error", "error": {"type": error_type, "message": message}}


class RequestInvalid(Exception):
    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    api: str = "anthropic"  # or "bedrock"

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


@dataclass
class _Failure:
    status: int
    retry_after_ms: int


@dataclass
class _State:
    served: int = 0
    failures: list[_Failure] = field(default_factory=list)


class MessagesServer(LoopbackServer):
    """Serve POST /v1/messages and POST /model/<id>/invoke from `script`.

    `script` is a list of (possibly partial) Message JSON objects served in order, or a callable
    from the request JSON (Bedrock's path model copied into "model") to one. Missing fields are
    filled in (id, type, role, model, stop_reason, usage estimated at 4 characters a token).
    `api_key`, when set, must arrive as x-api-key or a Bearer Authorization header (else 401).
    """

    thread_name = "fake-messages-api"

    def __init__(self, script: Script, *, api_key: str | None = None):
        self._script = script
        self._api_key = api_key
        self._lock = threading.Lock()
        self._state = _State()
        self.requests: list[ReceivedRequest] = []
        super().__init__()

    def fail_next(self, status: int = 429, times: int = 1, retry_after_ms: int = 5) -> None:
        """Answer the next `times` valid requests with `status` (429 rate limit, 529 overloaded…)."""
        with self._lock:
            self._state.failures.extend(_Failure(status, retry_after_ms) for _ in range(times))

    @property
    def served(self) -> int:
        """How many scripted (successful) responses were sent."""
        with self._lock:
            return self._state.served

    # -- request handling --------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = handler.path.split("?", 1)[0]
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = ReceivedRequest(handler.command, handler.path, headers, body)
        with self._lock:
            self.requests.append(record)
        try:
            match = _BEDROCK_PATH.match(path)
            if match:
                record.api = "bedrock"
                request = self._check_bedrock(headers, body, unquote(match.group("model")))
            elif path == "/v1/messages":
                request = self._check_anthropic(headers, body)
            else:
                raise RequestInvalid(404, "not_found_error", f"no route for POST {path}")
            validate_messages_request(request)
        except RequestInvalid as exc:
            self._send_error(handler, record, exc.status, exc.error_type, exc.message)
            return
        with self._lock:
            failure = self._state.failures.pop(0) if self._state.failures else None
        if failure is not None:
            kind = "rate_limit_error" if failure.status == 429 else "overloaded_error"
            self._send_error(handler, record, failure.status, kind, f"scripted {failure.status}",
                             {"retry-after-ms": str(failure.retry_after_ms)})
            return
        try:
            response = self._next_response(request)
        except IndexError:
            self._send_error(handler, record, 500, "api_error",
                             f"fake server script exhausted after {self.served} responses",
                             {"x-should-retry": "false"})
            return
        if STATUS_KEY in response:
            status = int(response[STATUS_KEY])
            payload = {k: v for k, v in response.items() if k != STATUS_KEY}
            self._send(handler, record, status, payload, {"x-should-retry": "false"})
            return
        self._send(handler, record, 200, complete_response(response, request, self.served))

    def _next_response(self, request: dict[str, Any]) -> Response:
        with self._lock:
            index = self._state.served
            if callable(self._script):
                response = self._script(request)
            else:
                if index >= len(self._script):
                    raise IndexError(index)
                response = self._script[index]
            self._state.served += 1
        return response

    def _check_anthropic(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        # anthropic 2.x sends the key as "Authorization: Bearer"; older clients used x-api-key.
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if self._api_key is not None and sent != self._api_key:
            raise RequestInvalid(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise RequestInvalid(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            raise RequestInvalid(400, "invalid_request_error", "request body must be a JSON object")
        return dict(body)

    def _check_bedrock(self, headers: dict[str, str], body: Any, model: str) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential=") or "x-amz-date" not in headers:
            raise RequestInvalid(403, "permission_error", "missing or malformed SigV4 Authorization header")
        if not isinstance(body, dict):
            raise RequestInvalid(400, "invalid_request_error", "request body must be a JSON object")
        if "model" in body:
            raise RequestInvalid(400, "invalid_request_error", "model: Extra inputs are not permitted")
        if not body.get("anthropic_version"):
            raise RequestInvalid(400, "invalid_request_error", "anthropic_version: Field required")
        return {**body, "model": model}

    def _send_error(self, handler: BaseHTTPRequestHandler, record: ReceivedRequest, status: int,
                    error_type: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._send(handler, record, status, payload, headers)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, record: ReceivedRequest, status: int, payload: Any,
              headers: Mapping[str, str] | None = None) -> None:
        record.status = status
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        # Headers the real API sends that identify the account/request: cassettes must scrub them.
        handler.send_header("request-id", f"req_fake_{len(data)}")
        handler.send_header("anthropic-organization-id", "org-fake-0000")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)


def complete_response(partial: Response, request: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Fill in what a scripted response leaves out, the way the real API would answer."""
    response = json.loads(json.dumps(dict(partial)))
    content = response.setdefault("content", [])
    for position, block in enumerate(content):
        if block.get("type") == "tool_use":
            block.setdefault("id", f"toolu_fake_{index:03d}_{position}")
            block.setdefault("input", {})
    response.setdefault("id", f"msg_fake_{index:04d}")
    response.setdefault("type", "message")
    response.setdefault("role", "assistant")
    response.setdefault("model", request.get("model"))
    has_tool_use = any(b.get("type") == "tool_use" for b in content)
    response.setdefault("stop_reason", "tool_use" if has_tool_use else "end_turn")
    response.setdefault("stop_sequence", None)
    response.setdefault(
        "usage",
        {
            "input_tokens": math.ceil(len(json.dumps(request)) / 4),
            "output_tokens": max(1, math.ceil(len(json.dumps(content)) / 4)),
        },
    )
    return response


def validate_messages_request(body: Mapping[str, Any]) -> None:
    """Raise RequestInvalid (400) for what the real Messages API rejects."""

    def bad(message: str) -> RequestInvalid:
        return RequestInvalid(400, "invalid_request_error", message)

    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise bad("max_tokens: Field required (a positive integer)")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise bad("system: must be a string or a list of text blocks")
    tools = body.get("tools") or []
    tool_names: list[str] = []
    for index, tool in enumerate(tools):
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise bad(f"tools.{index}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise bad(f"tools.{index}.input_schema.type: Input should be 'object'")
        tool_names.append(name)
    if len(set(tool_names)) != len(tool_names):
        raise bad("tools: Tool names must be unique.")
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            raise bad("tool_choice may only be specified while providing tools.")
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise bad(f"tool_choice.type: unknown type {choice.get('type')!r}")
        if choice.get("type") == "tool" and choice.get("name") not in tool_names:
            raise bad(f"tool_choice.name: tool {choice.get('name')!r} not found in tools")

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages: at least one message is required")
    pending_tool_use: set[str] = set()
    previous_role: str | None = None
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise bad(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if index == 0 and role != "user":
            raise bad("messages: first message must use the \"user\" role")
        if role == previous_role:
            raise bad("messages: roles must alternate between \"user\" and \"assistant\"")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            raise bad(f"messages.{index}: all messages must have non-empty content")
        tool_results: set[str] = set()
        tool_uses: set[str] = set()
        for position, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            where = f"messages.{index}.content.{position}"
            if kind == "text":
                if not str(block.get("text", "")).strip():
                    raise bad(f"{where}: text content blocks must be non-empty")
            elif kind == "tool_use":
                if role != "assistant":
                    raise bad(f"{where}: tool_use blocks may only appear in assistant messages")
                if not block.get("id") or block.get("name") not in tool_names:
                    raise bad(f"{where}: tool_use must have an id and name one of the provided tools")
                if not isinstance(block.get("input"), dict):
                    raise bad(f"{where}.input: Input should be a valid dictionary")
                tool_uses.add(block["id"])
            elif kind == "tool_result":
                if role != "user":
                    raise bad(f"{where}: tool_result blocks may only appear in user messages")
                tool_use_id = block.get("tool_use_id")
                if tool_use_id not in pending_tool_use:
                    raise bad(
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. "
                        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    )
                tool_results.add(tool_use_id)
            elif kind is None:
                raise bad(f"{where}.type: Field required")
        if pending_tool_use and role == "user":
            missing = pending_tool_use - tool_results
            if missing:
                raise bad(
                    f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(sorted(missing))}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
        pending_tool_use = tool_uses if role == "assistant" else set()
        previous_role = role
