"""Choose and build the chat model behind the phase agents from a `--model` spec.

Specs: `offline` (the deterministic policy model, the default), `anthropic[:MODEL]` (the
Anthropic API, key from ANTHROPIC_API_KEY) and `bedrock:MODEL-ID` (Claude on Amazon Bedrock,
standard AWS credential chain, region from AWS_REGION / AWS_DEFAULT_REGION).

The default is `offline` unless SOPGRAPH_MODEL names another spec. Having ANTHROPIC_API_KEY in
the environment deliberately does NOT switch to paid calls: many shells export a key for other
tools, and a diagnosis that silently starts spending money (and sending log text to a remote
service) is worse than one that has to be asked to.

This module imports nothing heavy at module level: the CLI parses `--model` on every start-up,
while anthropic / langchain-core / boto3 load only when a model is actually built.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from agents.budget import TokenBudget

Provider = Literal["offline", "anthropic", "bedrock"]
PROVIDERS: tuple[Provider, ...] = ("offline", "anthropic", "bedrock")

# The newest Sonnet the installed SDK knows that is NOT in anthropic/_data/deprecated_models.py
# (a deprecated id makes the SDK emit DeprecationWarning, which fails `-W error` runs).
# tests/agents/test_providers.py re-checks this against the installed SDK.
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"

MODEL_ENV_VAR = "SOPGRAPH_MODEL"
ANTHROPIC_KEY_ENV_VAR = "ANTHROPIC_API_KEY"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 2

# Model ids and Bedrock ids / inference-profile ARNs: letters, digits and . _ : / @ + -.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")
_SPEC_HELP = "use offline, anthropic, anthropic:<model> or bedrock:<model-id>"


class ProviderError(Exception):
    """A model provider cannot be used as asked (bad spec, missing credentials, API refusal).

    The message is meant for the user verbatim: it names the spec or environment variable and
    what to do, and never contains a credential.
    """


class ModelCallError(ProviderError):
    """The provider answered a request with an error that retrying will not fix (4xx, bad auth)."""


class ModelSpec(BaseModel):
    """A parsed `--model` value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider
    model: str | None = None

    def __str__(self) -> str:
        return self.provider if self.model is None else f"{self.provider}:{self.model}"


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse `offline`, `anthropic[:MODEL]` or `bedrock:MODEL-ID`.

    Only the first colon separates provider from model, because Bedrock ids contain colons
    (`anthropic.claude-…-v1:0`, inference-profile ARNs).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ProviderError(f"empty model spec: {_SPEC_HELP}")
    text = spec.strip()
    provider_part, sep, model_part = text.partition(":")
    provider = provider_part.strip().lower()
    model = model_part.strip() if sep else None
    if provider not in PROVIDERS:
        hint = ""
        if provider.startswith("claude") or provider.startswith("anthropic."):
            hint = f" (did you mean anthropic:{text} or bedrock:{text}?)"
        raise ProviderError(f"unknown model provider {provider_part!r} in model spec {spec!r}{hint}: {_SPEC_HELP}")
    if sep and not model:
        raise ProviderError(f"model spec {spec!r} has an empty model after ':': {_SPEC_HELP}")
    if model is not None and not _MODEL_ID.fullmatch(model):
        raise ProviderError(
            f"model spec {spec!r}: {model!r} is not a valid model id "
            "(letters, digits and . _ : / @ + - only, no spaces)"
        )
    if provider == "offline":
        if model is not None:
            raise ProviderError(f"model spec {spec!r}: the offline provider takes no model name; use offline")
        return ModelSpec(provider="offline")
    if provider == "anthropic":
        return ModelSpec(provider="anthropic", model=model or DEFAULT_ANTHROPIC_MODEL)
    if model is None:
        raise ProviderError(
            f"model spec {spec!r}: bedrock needs a model id, e.g. "
            f"bedrock:us.anthropic.{DEFAULT_ANTHROPIC_MODEL}-v1:0 (see the model ids enabled in your account)"
        )
    return ModelSpec(provider="bedrock", model=model)


def default_model_spec(env: Mapping[str, str] | None = None) -> str:
    """The spec to use when `--model` is not given: SOPGRAPH_MODEL, else "offline".

    An API key alone never selects a paid provider (see the module docstring).
    """
    env = os.environ if env is None else env
    value = (env.get(MODEL_ENV_VAR) or "").strip()
    if not value:
        return "offline"
    try:
        return str(parse_model_spec(value))
    except ProviderError as exc:
        raise ProviderError(f"{MODEL_ENV_VAR}: {exc}") from None


def make_chat_model(
    spec: str | ModelSpec,
    *,
    budget: TokenBudget | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    **offline_kwargs: Any,
) -> BaseChatModel:
    """Build the LangChain chat model for `spec`.

    `max_retries` is the SDK's retry count on 429/5xx/connection errors; pass 0 when replaying
    cassettes so a mismatch fails at once instead of after backoff. `env` defaults to
    os.environ; the evals harness passes its own (e.g. a placeholder key under replay).
    For "offline", `agents.offline.make_offline_model(budget=budget, **offline_kwargs)` is called.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    env = os.environ if env is None else env
    if timeout <= 0:
        raise ProviderError(f"timeout must be positive, got {timeout}")
    if max_retries < 0:
        raise ProviderError(f"max_retries must be >= 0, got {max_retries}")
    if parsed.provider == "offline":
        return _make_offline(budget, offline_kwargs)
    from agents.budget import TokenBudget

    budget = budget if budget is not None else TokenBudget()
    if offline_kwargs:
        raise ProviderError(
            f"unexpected options for {parsed}: {', '.join(sorted(offline_kwargs))} (only the offline model takes them)"
        )
    assert parsed.model is not None  # parse_model_spec guarantees a model for paid providers
    if parsed.provider == "anthropic":
        key = (env.get(ANTHROPIC_KEY_ENV_VAR) or "").strip()
        if not key:
            raise ProviderError(
                f"model {parsed} needs an Anthropic API key: set {ANTHROPIC_KEY_ENV_VAR} "
                "(or use --model offline, which needs no key)"
            )
        from agents.anthropic_chat import AnthropicChatModel

        return AnthropicChatModel(
            model=parsed.model,
            provider="anthropic",
            api_key=key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            budget=budget,
        )
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip() or _boto_region()
    if not region:
        raise ProviderError(
            f"model {parsed} needs an AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), "
            "or configure a region in your AWS profile"
        )
    from agents.anthropic_chat import AnthropicChatModel

    return AnthropicChatModel(
        model=parsed.model,
        provider="bedrock",
        aws_region=region,
        aws_access_key=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        budget=budget,
    )


def _boto_region() -> str | None:
    """The region of the default AWS profile, the last place the standard chain looks."""
    try:
        import boto3
    except ImportError:  # pragma: no cover - boto3 is a declared dependency
        return None
    return boto3.Session().region_name


def _make_offline(budget: TokenBudget | None, kwargs: dict[str, Any]) -> BaseChatModel:
    try:
        offline = importlib.import_module("agents.offline")
    except ImportError as exc:
        if exc.name not in ("agents.offline", None):
            raise  # a real import failure inside the module: let it surface with its own name
        raise ProviderError(
            "the offline model is not available (agents/offline.py is missing from this install); "
            "use --model anthropic:<model> or bedrock:<model-id>"
        ) from None
    factory = getattr(offline, "make_offline_model", None)
    if not callable(factory):
        raise ProviderError("agents.offline has no make_offline_model(); the offline model cannot be built")
    return factory(budget=budget, **kwargs)
