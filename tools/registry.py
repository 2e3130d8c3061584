"""One registry of diagnostic tools, shared by the agents, the CLI and the runbook linter.

A tool is a read-only function from a pydantic args model to a pydantic result model. The
registry validates arguments, turns expected failures (`ToolError`) into a structured error
result instead of an exception, and bounds the size of what goes back to a caller, so an agent
loop never dies on a bad tool call and never receives a whole file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

# Results larger than this are refused by the registry: tools must paginate instead.
MAX_RESULT_CHARS = 64_000


class ToolError(Exception):
    """An expected failure a caller can act on (bad argument, unknown ID, missing bundle).

    `hint` says what to do next; it reaches the user or the model verbatim.
    """

    def __init__(self, message: str, *, hint: str | None = None, code: str = "bad_request"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


@dataclass(frozen=True)
class ToolSpec:
    name: str
    summary: str
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    run: Callable[[Any, BaseModel], BaseModel]
    read_only: bool = True

    def json_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()


class ToolOutcome(BaseModel):
    """What every call returns: the tool's result, or a structured error. Never raises."""

    tool: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None
    code: str | None = None
    args: dict[str, Any] = {}


_REGISTRY: dict[str, ToolSpec] = {}


def register(spec: ToolSpec) -> ToolSpec:
    if spec.name in _REGISTRY:
        raise RuntimeError(f"tool {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def tool(
    name: str, *, summary: str, args: type[BaseModel], result: type[BaseModel], read_only: bool = True
) -> Callable[[Callable[[Any, Any], BaseModel]], Callable[[Any, Any], BaseModel]]:
    """Decorator form of `register` for tool implementation modules."""

    def deco(fn: Callable[[Any, Any], BaseModel]) -> Callable[[Any, Any], BaseModel]:
        register(ToolSpec(name, summary, args, result, fn, read_only))
        return fn

    return deco


def _load_builtin_tools() -> None:
    # Importing the implementation package registers every built-in tool exactly once.
    from tools import builtin  # noqa: F401


def registry() -> dict[str, ToolSpec]:
    _load_builtin_tools()
    return dict(_REGISTRY)


def tool_names() -> list[str]:
    return sorted(registry())


def get_tool(name: str) -> ToolSpec:
    specs = registry()
    if name not in specs:
        raise ToolError(
            f"unknown tool {name!r}",
            hint="known tools: " + ", ".join(sorted(specs)),
            code="unknown_tool",
        )
    return specs[name]


@dataclass
class CallRecord:
    """One entry of a context's call log; the graph's MUST gates read this."""

    tool: str
    args: dict[str, Any]
    ok: bool
    finding_ids: list[str] = field(default_factory=list)


def call_tool(ctx: Any, name: str, raw_args: dict[str, Any] | None = None) -> ToolOutcome:
    """Validate, run and bound one tool call. Expected failures come back as ok=False."""
    raw_args = dict(raw_args or {})
    try:
        spec = get_tool(name)
    except ToolError as exc:
        return ToolOutcome(tool=name, ok=False, error=exc.message, hint=exc.hint, code=exc.code, args=raw_args)
    try:
        args = spec.args_model.model_validate(raw_args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
        )
        return ToolOutcome(
            tool=name,
            ok=False,
            error=f"invalid arguments for {name}: {problems}",
            hint=f"parameters: {', '.join(spec.args_model.model_fields)}",
            code="invalid_args",
            args=raw_args,
        )
    try:
        result = spec.run(ctx, args)
    except ToolError as exc:
        return ToolOutcome(tool=name, ok=False, error=exc.message, hint=exc.hint, code=exc.code, args=raw_args)
    except Exception as exc:  # a tool bug must not kill an agent loop; it is reported, not hidden
        return ToolOutcome(
            tool=name, ok=False, error=f"{name} failed: {type(exc).__name__}: {exc}", code="internal", args=raw_args
        )
    payload = result.model_dump(mode="json")
    size = len(json.dumps(payload))
    if size > MAX_RESULT_CHARS:
        return ToolOutcome(
            tool=name,
            ok=False,
            error=f"{name} result is {size} characters, over the {MAX_RESULT_CHARS} limit",
            hint="narrow the query or request a smaller page",
            code="too_large",
            args=raw_args,
        )
    return ToolOutcome(tool=name, ok=True, result=payload, args=raw_args)
