"""Starting, continuing and deciding runs: what the CLI and the service call.

A thread carries everything needed to rebuild its graph (the compiled runbook, the model spec, the
store), so any process with the checkpointer can continue it. LangGraph silently restarts an
unknown thread and silently no-ops a finished one; every entry point here checks the saved state
first and says which case it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from graphs.audit import default_audit_path
from graphs.checkpoint import open_checkpointer
from runbooks.model import CompiledRunbook


class RunError(Exception):
    """A run cannot be started or continued as asked. `code` lets callers branch without parsing text."""

    def __init__(self, message: str, hint: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class PendingApproval(BaseModel):
    approval_id: str
    action: str
    rating: str
    label: str | None = None
    approvers: list[str] = Field(default_factory=list)
    evidence: list[dict[str, Any]] = Field(default_factory=list)


class RunOutcome(BaseModel):
    thread_id: str
    status: Literal["done", "waiting_approval", "incomplete"]
    report: dict[str, Any] | None
    pending: list[PendingApproval] = Field(default_factory=list)


def _model_factory(spec: str, runbook: CompiledRunbook, spent: dict[str, Any] | None = None) -> Callable[[], Any]:
    def make() -> Any:
        from agents.budget import TokenBudget, Usage
        from agents.providers import make_chat_model

        # The budget is per run, not per process: a run resumed after an approval or a crash keeps
        # spending from what its state says it already used.
        used = Usage(**{k: int(v) for k, v in (spent or {}).items() if k in Usage.model_fields})
        budget = TokenBudget(
            max_input_tokens=int(os.environ.get("SOPGRAPH_MAX_INPUT_TOKENS", "400000")),
            max_output_tokens=int(os.environ.get("SOPGRAPH_MAX_OUTPUT_TOKENS", "40000")),
            spent=used,
        )
        extra = {"runbook": runbook} if spec.split(":", 1)[0] == "offline" else {}
        return make_chat_model(spec, budget=budget, **extra)

    return make


def _runtime(state: dict[str, Any], on_event: Callable[[str, dict[str, Any]], None] | None,
             audit_path: Path | None, model_override: Callable[[], Any] | None = None):
    from graphs.builder import Runtime

    runbook = CompiledRunbook.model_validate(state["runbook"])
    store_dir = Path(state["store_dir"]) if state.get("store_dir") else None
    factory = model_override or _model_factory(state.get("model") or "offline", runbook, state.get("usage"))
    return Runtime(runbook, factory, store_dir=store_dir, audit_path=audit_path or default_audit_path(),
                   on_event=on_event)


def _outcome(graph: Any, cfg: dict[str, Any]) -> RunOutcome:
    snap = graph.get_state(cfg)
    values = snap.values or {}
    pending = [PendingApproval.model_validate(i.value) for i in (snap.interrupts or ())
               if isinstance(i.value, dict) and "approval_id" in i.value]
    if pending:
        status = "waiting_approval"
    elif not snap.next and (values.get("report") or {}).get("usage") is not None:
        status = "done"
    else:
        status = "incomplete"
    return RunOutcome(thread_id=cfg["configurable"]["thread_id"], status=status, report=values.get("report"),
                      pending=pending)


def start(*, runbook: CompiledRunbook, instance_ids: list[str], store_dir: Path | None, model: str,
          alert: str | None = None, cluster: str | None = None, thread_id: str | None = None,
          on_event: Callable[[str, dict[str, Any]], None] | None = None, audit_path: Path | None = None,
          model_override: Callable[[], Any] | None = None, database_url: str | None = None,
          state_path: Path | None = None, backend: dict[str, Any] | None = None) -> RunOutcome:
    from graphs.builder import build_graph, new_thread_id

    thread = thread_id or new_thread_id()
    state = {
        "thread_id": thread, "runbook": runbook.model_dump(mode="json"), "instance_ids": instance_ids,
        "store_dir": str(store_dir) if store_dir else None, "backend": backend, "cluster": cluster, "model": model, "alert": alert,
        "messages": [], "calls": [], "approvals": [], "refused": [],
    }
    with open_checkpointer(database_url, state_path) as saver:
        cfg = {"configurable": {"thread_id": thread}, "recursion_limit": 400}
        if saver.get_tuple(cfg) is not None:
            raise RunError(f"thread {thread} already exists", hint="use `sopgraph approvals resume` to continue it",
                           code="exists")
        graph = build_graph(_runtime(state, on_event, audit_path, model_override), checkpointer=saver)
        # "sync": a checkpoint is on disk before the next step starts, so kill -9 loses at most the
        # step that was running (LangGraph's default writes checkpoints in the background).
        graph.invoke(state, cfg, durability="sync")
        return _outcome(graph, cfg)


def _load(saver: Any, thread_id: str) -> dict[str, Any]:
    cfg = {"configurable": {"thread_id": thread_id}}
    tup = saver.get_tuple(cfg)
    if tup is None:
        raise RunError(f"unknown thread {thread_id}", hint="`sopgraph approvals list` shows the threads",
                       code="unknown_thread")
    values = tup.checkpoint.get("channel_values") or {}
    if "runbook" not in values:
        raise RunError(f"thread {thread_id} has no run state", hint="it was never started by sopgraph")
    return values


def status(thread_id: str, *, database_url: str | None = None, state_path: Path | None = None) -> RunOutcome:
    from graphs.builder import build_graph

    with open_checkpointer(database_url, state_path) as saver:
        values = _load(saver, thread_id)
        graph = build_graph(_runtime(values, None, None), checkpointer=saver)
        return _outcome(graph, {"configurable": {"thread_id": thread_id}})


def resume(thread_id: str, *, decision: dict[str, Any] | None = None,
           on_event: Callable[[str, dict[str, Any]], None] | None = None, audit_path: Path | None = None,
           model_override: Callable[[], Any] | None = None, database_url: str | None = None,
           state_path: Path | None = None, allow_finished: bool = False) -> RunOutcome:
    """Continue a thread: answer its pending approval, or re-run from the last checkpoint after a crash."""
    from langgraph.types import Command

    from graphs.builder import build_graph

    with open_checkpointer(database_url, state_path) as saver:
        values = _load(saver, thread_id)
        graph = build_graph(_runtime(values, on_event, audit_path, model_override), checkpointer=saver)
        cfg = {"configurable": {"thread_id": thread_id}, "recursion_limit": 400}
        before = _outcome(graph, cfg)
        if before.status == "done":
            if allow_finished and decision is None:
                return before
            raise RunError(f"thread {thread_id} has already finished; there is nothing to resume",
                           hint="`sopgraph approvals list --all` shows its status", code="finished")
        if before.status == "waiting_approval":
            if decision is None:
                return before
            graph.invoke(Command(resume=decision), cfg, durability="sync")
        else:
            if decision is not None:
                raise RunError(f"thread {thread_id} is not waiting for approval",
                               hint=f"run `sopgraph approvals resume {thread_id}` to finish it first")
            graph.invoke(None, cfg, durability="sync")
        return _outcome(graph, cfg)


def list_threads(*, database_url: str | None = None, state_path: Path | None = None) -> list[RunOutcome]:
    from graphs.builder import build_graph

    out: list[RunOutcome] = []
    with open_checkpointer(database_url, state_path) as saver:
        # Collect ids first: the saver holds its lock while its list() generator is open.
        latest: dict[str, dict[str, Any]] = {}
        for tup in saver.list(None):
            tid = tup.config["configurable"]["thread_id"]
            if tid not in latest:
                latest[tid] = tup.checkpoint.get("channel_values") or {}
        for tid, values in latest.items():
            if "runbook" not in values:
                continue
            graph = build_graph(_runtime(values, None, None), checkpointer=saver)
            out.append(_outcome(graph, {"configurable": {"thread_id": tid}}))
    return out
