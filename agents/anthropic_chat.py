"""A LangChain chat model over the official `anthropic` SDK (Anthropic API and Amazon Bedrock).

We do not depend on langchain-anthropic: one small class over the SDK keeps the request body
fully under our control, which is what makes cassettes replay byte-for-byte (any drift in how
a wrapper serialises messages would invalidate every recording), and lets the budget be checked
before, and charged after, every single HTTP call.

`anthropic` is imported lazily when the first request is made; building the model is cheap.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr, SecretStr

from agents.budget import TokenBudget, Usage
from agents.cassettes import CassetteMismatch, explain_cassette_miss, find_cassette_miss
from agents.providers import DEFAULT_TIMEOUT_S, ModelCallError, ProviderError

DEFAULT_MAX_TOKENS = 4096
# SDK clients are built once per model instance; creation is rare, so one lock serves all.
_CLIENT_LOCK = threading.Lock()
_TOOL_KEYS = ("name", "description", "input_schema")


# --------------------------------------------------------------------------------------------
# LangChain → Messages API
# --------------------------------------------------------------------------------------------


def _text_of(content: str | list[Any]) -> str:
    """Plain text of a message content (system prompts and tool results are text for us)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(p for p in parts if p)


def _content_blocks(content: str | list[Any], *, keep_tool_use: bool = False) -> list[dict[str, Any]]:
    """Message content as Messages-API blocks; empty text is dropped (the API rejects it)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            if block.strip():
                blocks.append({"type": "text", "text": block})
        elif isinstance(block, Mapping):
            kind = block.get("type")
            if kind == "text":
                if str(block.get("text", "")).strip():
                    blocks.append({"type": "text", "text": str(block["text"])})
            elif kind == "tool_use" and not keep_tool_use:
                continue  # carried by AIMessage.tool_calls; copying both would duplicate the call
            else:
                blocks.append(dict(block))
        else:
            raise ValueError(f"unsupported message content block of type {type(block).__name__}")
    return blocks


def to_anthropic_messages(messages: Sequence[BaseMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """Convert LangChain messages to the Messages API's `system` and `messages`.

    System messages (wherever they are) join the top-level `system`; tool calls become tool_use
    blocks; ToolMessages become tool_result blocks in a user turn. Consecutive turns of the same
    role are merged, as the API requires alternating roles (several tool results answering one
    assistant turn therefore land in a single user turn, followed by any human text).
    """
    system_parts: list[str] = []
    turns: list[dict[str, Any]] = []

    def append(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        if isinstance(message, SystemMessage):
            text = _text_of(message.content)
            if text.strip():
                system_parts.append(text)
        elif isinstance(message, HumanMessage):
            append("user", _content_blocks(message.content))
        elif isinstance(message, AIMessage):
            blocks = _content_blocks(message.content)
            for call in message.tool_calls:
                if not call.get("id"):
                    raise ValueError(f"tool call {call.get('name')!r} has no id; the Messages API needs one")
                blocks.append(
                    {"type": "tool_use", "id": call["id"], "name": call["name"], "input": dict(call["args"])}
                )
            append("assistant", blocks)
        elif isinstance(message, ToolMessage):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": _text_of(message.content),
            }
            if message.status == "error":
                block["is_error"] = True
            append("user", [block])
        else:
            raise ValueError(
                f"unsupported message type {type(message).__name__}; use System/Human/AI/Tool messages"
            )

    # Single plain-text turns are sent as strings: the shortest, most readable cassette body.
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0].get("type") == "text" and set(content[0]) == {"type", "text"}:
            turn["content"] = content[0]["text"]
    system = "\n\n".join(system_parts) if system_parts else None
    return system, turns


def to_anthropic_tool(tool: Any) -> dict[str, Any]:
    """One tool in the Messages API shape {name, description, input_schema}.

    Dicts already in that shape pass through (other keys dropped); anything LangChain can
    describe (pydantic model, function, BaseTool, OpenAI-style dict) goes through
    `convert_to_openai_tool`, whose JSON schema has $refs inlined.
    """
    if isinstance(tool, Mapping) and "input_schema" in tool and "name" in tool:
        return {k: tool[k] for k in _TOOL_KEYS if k in tool}
    from langchain_core.utils.function_calling import convert_to_openai_tool

    function = convert_to_openai_tool(tool)["function"]
    spec: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        spec["description"] = function["description"]
    spec["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return spec


def to_anthropic_tool_choice(choice: Any, tool_names: Sequence[str]) -> dict[str, Any] | None:
    """Map LangChain's tool_choice spellings to the API's {"type": auto|any|none|tool}."""
    if choice is None or choice is False:
        return None
    if isinstance(choice, Mapping):
        return dict(choice)
    if choice is True or choice in ("any", "required"):
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    if isinstance(choice, str):
        if choice not in tool_names:
            raise ValueError(f"tool_choice {choice!r} is not one of the bound tools: {', '.join(tool_names)}")
        return {"type": "tool", "name": choice}
    raise ValueError(f"unsupported tool_choice {choice!r}")


# --------------------------------------------------------------------------------------------
# Messages API → LangChain
# --------------------------------------------------------------------------------------------


def ai_message_from_response(response: Any) -> AIMessage:
    """Convert a Messages API response (SDK object or its JSON) to an AIMessage."""
    data: Mapping[str, Any] = response.model_dump(mode="json") if hasattr(response, "model_dump") else response
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in data.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            tool_calls.append(
                {"name": block["name"], "args": dict(block.get("input") or {}), "id": block["id"], "type": "tool_call"}
            )
    usage = data.get("usage") or {}
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_creation = int(usage.get("cache_creation_input_tokens") or 0)
    input_tokens = int(usage.get("input_tokens") or 0) + cache_read + cache_creation
    output_tokens = int(usage.get("output_tokens") or 0)
    usage_metadata: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cache_read or cache_creation:
        usage_metadata["input_token_details"] = {"cache_read": cache_read, "cache_creation": cache_creation}
    return AIMessage(
        content="\n".join(t for t in texts if t),
        tool_calls=tool_calls,
        usage_metadata=usage_metadata,  # type: ignore[arg-type]
        response_metadata={
            "stop_reason": data.get("stop_reason"),
            "stop_sequence": data.get("stop_sequence"),
            "model": data.get("model"),
            "id": data.get("id"),
        },
        id=data.get("id"),
    )


def request_chars(system: str | None, messages: Sequence[Mapping[str, Any]]) -> int:
    """Characters of text sent: system, text blocks, tool results and tool-call inputs.

    The report's input_chars is meant to be comparable between the offline and paid models, so it
    counts what a model reads, not JSON punctuation.
    """
    total = len(system or "")
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            total += len(content)
            continue
        for block in content:
            kind = block.get("type")
            if kind == "text":
                total += len(block.get("text", ""))
            elif kind == "tool_result":
                total += len(_text_of(block.get("content") or ""))
            elif kind == "tool_use":
                total += len(json.dumps(block.get("input") or {}, separators=(",", ":")))
    return total


def response_chars(message: AIMessage) -> int:
    text = message.content if isinstance(message.content, str) else _text_of(message.content)
    return len(text) + sum(len(json.dumps(c["args"], separators=(",", ":"))) for c in message.tool_calls)


# --------------------------------------------------------------------------------------------
# The chat model
# --------------------------------------------------------------------------------------------


class AnthropicChatModel(BaseChatModel):
    """Claude through the Anthropic API (provider="anthropic") or Amazon Bedrock ("bedrock").

    Retries on 429/5xx/connection errors are the SDK's (`max_retries`); under cassette replay use
    0 so a mismatch fails at once. Every call checks `budget` first and charges it after; the
    budget's `usage` is what the graph reports.
    """

    model: str
    provider: Literal["anthropic", "bedrock"] = "anthropic"
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, gt=0)
    timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    max_retries: int = Field(default=2, ge=0)
    base_url: str | None = None
    api_key: SecretStr | None = None
    aws_region: str | None = None
    aws_profile: str | None = None
    aws_access_key: str | None = None
    aws_secret_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    budget: TokenBudget = Field(default_factory=TokenBudget, exclude=True)

    _client: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return f"sopgraph-{self.provider}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "max_tokens": self.max_tokens}

    @property
    def usage(self) -> Usage:
        return self.budget.usage

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (dicts in API shape, pydantic models, functions or LangChain tools).

        tool_choice: "auto", "any"/"required"/True, "none", a tool name, or an API dict.
        A structured final answer is a tool too: bind e.g. a "submit_report" tool and force it
        with tool_choice="submit_report".
        """
        specs = [to_anthropic_tool(t) for t in tools]
        names = [s["name"] for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
        choice = to_anthropic_tool_choice(tool_choice, names)
        if choice is not None:
            kwargs["tool_choice"] = choice
        return self.bind(tools=specs, **kwargs)

    def build_request(
        self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The exact `messages.create` parameters for these messages (also used by tests)."""
        system, api_messages = to_anthropic_messages(messages)
        if not api_messages:
            raise ValueError("no user or assistant message to send (only system text or empty content)")
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": int(kwargs.pop("max_tokens", self.max_tokens)),
            "messages": api_messages,
        }
        if system:
            params["system"] = system
        tools = kwargs.pop("tools", None)
        if tools:
            params["tools"] = list(tools)
        tool_choice = kwargs.pop("tool_choice", None)
        if tool_choice is not None:
            if not tools:
                raise ValueError("tool_choice given without tools")
            params["tool_choice"] = tool_choice
        stop = stop or kwargs.pop("stop_sequences", None)
        if stop:
            params["stop_sequences"] = list(stop)
        if kwargs:
            raise TypeError(f"unsupported model call options: {', '.join(sorted(kwargs))}")
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self.build_request(messages, stop, **kwargs)
        self.budget.check()
        response = self._create(params)
        message = ai_message_from_response(response)
        usage_md = message.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
        self.budget.charge(
            Usage(
                model_calls=1,
                input_chars=request_chars(params.get("system"), params["messages"]),
                output_chars=response_chars(message),
                input_tokens=usage_md["input_tokens"],
                output_tokens=usage_md["output_tokens"],
            )
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model": self.model, "provider": self.provider, "usage": dict(usage_md)},
        )

    # -- SDK plumbing ---------------------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> AnthropicChatModel:
        """Copies share settings and budget and build their own SDK client (it holds sockets)."""
        clone = self.model_copy()
        clone._client = None
        return clone

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_client"] = None
        return {**state, "__pydantic_private__": private}

    def _sdk_client(self) -> Any:
        with _CLIENT_LOCK:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> Any:
        import anthropic

        common: dict[str, Any] = {"timeout": self.timeout, "max_retries": self.max_retries}
        if self.base_url:
            common["base_url"] = self.base_url
        try:
            if self.provider == "anthropic":
                if self.api_key is None:
                    raise ProviderError("no Anthropic API key given: set ANTHROPIC_API_KEY")
                return anthropic.Anthropic(api_key=self.api_key.get_secret_value(), **common)
            explicit_keys = bool(self.aws_access_key or self.aws_secret_key)
            return anthropic.AnthropicBedrock(
                aws_region=self.aws_region,
                aws_access_key=self.aws_access_key,
                aws_secret_key=self.aws_secret_key.get_secret_value() if self.aws_secret_key else None,
                aws_session_token=self.aws_session_token.get_secret_value() if self.aws_session_token else None,
                aws_profile=None if explicit_keys else self.aws_profile,
                **common,
            )
        except (anthropic.AnthropicError, ValueError) as exc:
            raise ProviderError(f"cannot configure the {self.provider} client: {exc}") from None

    def _where(self) -> str:
        if self.base_url:
            return self.base_url
        return "the Anthropic API" if self.provider == "anthropic" else f"Amazon Bedrock ({self.aws_region})"

    def _create(self, params: dict[str, Any]) -> Any:
        import anthropic

        client = self._sdk_client()
        try:
            return client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            detail = exc.api_message or str(exc)
            request_id = f" (request id {exc.request_id})" if exc.request_id else ""
            kind = f" {exc.type}" if exc.type else ""
            retried = f" after {self.max_retries} retries" if exc.status_code == 429 or exc.status_code >= 500 else ""
            raise ModelCallError(
                f"{self.provider} model {self.model}: HTTP {exc.status_code}{kind}{retried}: {detail}{request_id}"
            ) from exc
        except anthropic.APIConnectionError as exc:
            if find_cassette_miss(exc) is not None:
                raise CassetteMismatch(explain_cassette_miss(exc)) from exc
            kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "failed"
            raise ModelCallError(
                f"connection to {self._where()} {kind} after {self.max_retries} retries: {exc}"
            ) from exc
        except RuntimeError as exc:
            # botocore signing without credentials: "Could not resolve AWS credentials from session".
            if self.provider == "bedrock" and "credentials" in str(exc).lower():
                raise ProviderError(
                    f"bedrock model {self.model}: no AWS credentials found; configure the standard AWS "
                    "credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO or an "
                    "instance role)"
                ) from None
            raise
