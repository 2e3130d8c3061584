"""Model specs, the offline-by-default rule, credentials errors and the lazy offline hook."""

from __future__ import annotations

import subprocess
import sys
import types
import typing
from typing import Any

import pytest

from agents.budget import TokenBudget
from agents.providers import (
    DEFAULT_ANTHROPIC_MODEL,
    ModelSpec,
    ProviderError,
    default_model_spec,
    make_chat_model,
    parse_model_spec,
)
from tests.agents.conftest import FAKE_KEY


@pytest.mark.parametrize(
    ("spec", "provider", "model"),
    [
        ("offline", "offline", None),
        ("  OFFLINE ", "offline", None),
        ("anthropic", "anthropic", DEFAULT_ANTHROPIC_MODEL),
        ("anthropic:claude-haiku-5-5", "anthropic", "claude-haiku-5-5"),
        ("Anthropic: claude-opus-5-5 ", "anthropic", "claude-opus-5-5"),
        # Bedrock ids contain colons: only the first one separates the provider.
        ("bedrock:anthropic.claude-sonnet-5-5-v1:0", "bedrock", "anthropic.claude-sonnet-5-5-v1:0"),
        (
            "bedrock:arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x-v1:0",
            "bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x-v1:0",
        ),
    ],
)
def test_parse_valid_specs(spec: str, provider: str, model: str | None) -> None:
    parsed = parse_model_spec(spec)
    assert parsed == ModelSpec(provider=provider, model=model)  # type: ignore[arg-type]
    assert parse_model_spec(str(parsed)) == parsed  # str() round-trips


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty model spec"),
        ("   ", "empty model spec"),
        ("openai:gpt-9", "unknown model provider 'openai'"),
        ("anthropic:", "empty model after ':'"),
        ("bedrock", "bedrock needs a model id"),
        ("offline:fast", "offline provider takes no model"),
        ("anthropic:claude sonnet", "not a valid model id"),
        ("claude-sonnet-5-5", "did you mean anthropic:claude-sonnet-5-5"),
    ],
)
def test_parse_invalid_specs_give_clear_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ProviderError) as info:
        parse_model_spec(spec)
    assert fragment in str(info.value)


def test_default_is_offline_even_with_an_api_key() -> None:
    assert default_model_spec({}) == "offline"
    assert default_model_spec({"ANTHROPIC_API_KEY": FAKE_KEY}) == "offline"
    assert default_model_spec({"SOPGRAPH_MODEL": "  "}) == "offline"


def test_sopgraph_model_selects_the_provider() -> None:
    assert default_model_spec({"SOPGRAPH_MODEL": "anthropic"}) == f"anthropic:{DEFAULT_ANTHROPIC_MODEL}"
    assert default_model_spec({"SOPGRAPH_MODEL": "bedrock:x.y-v1:0"}) == "bedrock:x.y-v1:0"


def test_bad_sopgraph_model_names_the_variable() -> None:
    with pytest.raises(ProviderError, match=r"^SOPGRAPH_MODEL: unknown model provider 'gpt'"):
        default_model_spec({"SOPGRAPH_MODEL": "gpt:4"})


def test_default_model_is_known_to_the_sdk_and_not_deprecated() -> None:
    from anthropic._data import DEPRECATED_MODELS
    from anthropic.types.model_param import ModelParam

    known = typing.get_args(typing.get_args(ModelParam)[0])
    assert DEFAULT_ANTHROPIC_MODEL in known
    assert DEFAULT_ANTHROPIC_MODEL not in DEPRECATED_MODELS


@pytest.mark.parametrize("env", [{}, {"ANTHROPIC_API_KEY": ""}, {"ANTHROPIC_API_KEY": "   "}])
def test_missing_api_key_is_a_provider_error_naming_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ProviderError) as info:
        make_chat_model("anthropic", env=env)
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert info.value.__cause__ is None


def test_the_key_never_shows_in_the_model_repr() -> None:
    model = make_chat_model("anthropic", env={"ANTHROPIC_API_KEY": FAKE_KEY})
    assert FAKE_KEY not in repr(model)
    assert FAKE_KEY not in str(model.model_dump())


def test_anthropic_model_gets_the_requested_settings() -> None:
    budget = TokenBudget(max_input_tokens=10)
    model: Any = make_chat_model(
        "anthropic:claude-haiku-5-5",
        budget=budget,
        timeout=7.5,
        max_retries=0,
        base_url="http://127.0.0.1:9",
        env={"ANTHROPIC_API_KEY": FAKE_KEY},
    )
    assert (model.model, model.provider, model.timeout, model.max_retries) == ("claude-haiku-5-5", "anthropic", 7.5, 0)
    assert model.budget is budget
    assert model.base_url == "http://127.0.0.1:9"


def test_options_meant_for_the_offline_model_are_refused_for_paid_ones() -> None:
    with pytest.raises(ProviderError, match="only the offline model"):
        make_chat_model("anthropic", env={"ANTHROPIC_API_KEY": FAKE_KEY}, seed=3)


@pytest.mark.parametrize(("kw", "value"), [("timeout", 0), ("max_retries", -1)])
def test_bad_timeouts_and_retries_are_refused(kw: str, value: float) -> None:
    with pytest.raises(ProviderError, match=kw):
        make_chat_model("anthropic", env={"ANTHROPIC_API_KEY": FAKE_KEY}, **{kw: value})


def test_bedrock_without_a_region_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Make boto3's last resort (the shared config file) empty too.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderError, match="AWS_REGION"):
        make_chat_model("bedrock:anthropic.claude-x-v1:0", env={})


def test_bedrock_takes_region_and_keys_from_env() -> None:
    model: Any = make_chat_model(
        "bedrock:anthropic.claude-x-v1:0",
        env={"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "s3cr3t"},
    )
    assert (model.provider, model.model, model.aws_region) == ("bedrock", "anthropic.claude-x-v1:0", "eu-west-1")
    assert "s3cr3t" not in repr(model)


def test_offline_missing_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "agents.offline", None)  # makes the import fail
    with pytest.raises(ProviderError, match="offline model is not available"):
        make_chat_model("offline")


def test_offline_factory_is_called_lazily_with_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    sentinel = object()

    def make_offline_model(**kwargs: Any) -> object:
        calls.append(kwargs)
        return sentinel

    fake = types.ModuleType("agents.offline")
    fake.make_offline_model = make_offline_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agents.offline", fake)
    budget = TokenBudget()
    assert make_chat_model("offline", budget=budget, policy="strict") is sentinel
    assert calls == [{"budget": budget, "policy": "strict"}]


def test_offline_module_without_factory_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "agents.offline", types.ModuleType("agents.offline"))
    with pytest.raises(ProviderError, match="no make_offline_model"):
        make_chat_model("offline")


def test_light_modules_import_no_heavy_library() -> None:
    code = (
        "import sys, agents.providers, agents.budget, agents.cassettes, agents.prompts;"
        "heavy = ('anthropic', 'vcr', 'langchain_core', 'langgraph', 'boto3', 'botocore', 'httpx2');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_chat_module_does_not_import_the_sdk_until_a_call() -> None:
    code = (
        "import sys, agents.anthropic_chat;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('anthropic', 'vcr', 'boto3')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
