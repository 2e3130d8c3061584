"""The graph's state: JSON primitives and LangChain messages only.

Everything here round-trips through the checkpointer without custom serializers (no pydantic
objects hidden under Any), which is what lets a run resume in another process.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


def merge_dict(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(left or {})
    out.update(right or {})
    return out


class RunState(TypedDict, total=False):
    thread_id: str
    runbook: dict[str, Any]          # CompiledRunbook, dumped
    instance_ids: list[str]
    store_dir: str | None
    backend: dict[str, Any] | None   # AWS backend settings (no secrets), None for local bundles
    cluster: str | None
    model: str
    alert: str | None
    messages: Annotated[list[AnyMessage], add_messages]
    phase_start: int                 # index in messages where the current phase began
    rounds: int                      # agent turns in the current phase
    reasked: Annotated[dict[str, Any], merge_dict]
    calls: Annotated[list[dict[str, Any]], operator.add]
    search_memory: Annotated[dict[str, Any], merge_dict]
    executions: Annotated[dict[str, Any], merge_dict]
    compliance: Annotated[dict[str, Any], merge_dict]
    evidence: dict[str, Any] | None
    draft: dict[str, Any] | None
    report: dict[str, Any] | None
    actions: list[dict[str, Any]]
    approvals: Annotated[list[dict[str, Any]], operator.add]
    usage: Annotated[dict[str, Any], merge_dict]
    refused: Annotated[list[dict[str, Any]], operator.add]
