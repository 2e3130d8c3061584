"""The offline model: a deterministic policy that follows the compiled plan, as a LangChain chat model.

It exists so that everything — the graph, the gates, the guardrails, the evals — runs with no
API key and gives the same answer every time. Being a real `BaseChatModel` that emits tool calls
and a final `submit_report` call means the graph cannot tell it from Claude: there is one code
path, and the offline runs test it.

It reads only the structured context the graph attaches to the phase's first message
(`additional_kwargs["sopgraph"]`) and the artifacts of earlier tool results — never log text, so
a log line saying "ignore previous instructions" has nothing to act on.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from agents.planning import FLEET_TOOLS, CallContext, bind, targets
from runbooks.model import CompiledRunbook, Step

REPORT_TOOL = "submit_report"


def phase_context(messages: list[BaseMessage]) -> dict[str, Any]:
    for m in messages:
        if isinstance(m, HumanMessage) and isinstance(m.additional_kwargs.get("sopgraph"), dict):
            return m.additional_kwargs["sopgraph"]
    return {}


def _issued(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    calls = []
    for m in messages:
        if isinstance(m, AIMessage):
            calls.extend(m.tool_calls)
    return calls


def _wanted(step: Step, n_nodes: int) -> bool:
    if step.tool is None:
        return False
    if step.priority in ("MUST", "SHOULD"):
        return True
    if step.tool in FLEET_TOOLS:
        return n_nodes >= 2
    return step.condition is None


def _update_context(cc: CallContext, messages: list[BaseMessage]) -> None:
    """Learn execution ids and citable ids from earlier results of this phase."""
    by_id = {tc["id"]: tc for m in messages if isinstance(m, AIMessage) for tc in m.tool_calls}
    for m in messages:
        if not isinstance(m, ToolMessage) or not isinstance(m.artifact, dict):
            continue
        call = by_id.get(m.tool_call_id)
        result = m.artifact.get("result") or {}
        if call is None or not m.artifact.get("ok"):
            continue
        iid = result.get("instanceId") or call["args"].get("instanceId")
        if call["name"] == "collect" and iid and result.get("executionId"):
            cc.executions[iid] = result["executionId"]
        if call["name"] == "errors" and iid:
            ids = [f["finding_id"] for f in result.get("findings", []) if f.get("severity") in ("CRITICAL", "HIGH")]
            cc.candidate_ids.setdefault(iid, [])
            cc.candidate_ids[iid].extend(i for i in ids if i not in cc.candidate_ids[iid])
        if call["name"] == "search" and iid:
            sids = result.get("grounded_search_ids", [])
            cc.candidate_ids.setdefault(iid, [])
            cc.candidate_ids[iid].extend(i for i in sids if i not in cc.candidate_ids[iid])


class OfflinePolicyModel(BaseChatModel):
    """Plans from the compiled runbook; concludes with what the deterministic core decided."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    runbook: CompiledRunbook
    call_counter: int = 0

    @property
    def _llm_type(self) -> str:
        return "sopgraph-offline"

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflinePolicyModel:  # type: ignore[override]
        # The policy needs no schemas: it only ever calls the tools its plan names.
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        ctx = phase_context(messages)
        message = self.decide(messages, ctx)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def decide(self, messages: list[BaseMessage], ctx: dict[str, Any]) -> AIMessage:
        phase_name = ctx.get("phase")
        phase = next((p for p in self.runbook.phases if p.name == phase_name), None)
        if phase is None:
            return AIMessage(content="no phase context: nothing to do")
        cc = CallContext.model_validate(ctx.get("call_context") or {"instance_ids": []})
        _update_context(cc, messages)
        issued = _issued(messages)
        for step in phase.steps:
            if not _wanted(step, len(cc.instance_ids)):
                continue
            for node in targets(step, cc):
                args = bind(step, node, cc)
                if args is None:
                    continue
                if any(c["name"] == step.tool and c["args"] == args for c in issued):
                    continue
                self.call_counter += 1
                return AIMessage(
                    content="",
                    tool_calls=[{"name": step.tool, "args": args, "id": f"offline-{self.call_counter}",
                                 "type": "tool_call"}],
                )
        conclusions = ctx.get("conclusions")
        if conclusions is not None:
            self.call_counter += 1
            draft = draft_report(conclusions)
            return AIMessage(
                content="",
                tool_calls=[{"name": REPORT_TOOL, "args": draft, "id": f"offline-{self.call_counter}",
                             "type": "tool_call"}],
            )
        return AIMessage(content=f"{phase.name}: planned steps done ({len(issued)} call(s)).")


def draft_report(conclusions: dict[str, Any]) -> dict[str, Any]:
    """The policy's report: exactly the deterministic conclusions, cited as the core cited them."""
    evidence = []
    for node in conclusions.get("nodes", []):
        for rule in node.get("rules", []):
            if rule.get("holds") and rule.get("cited"):
                evidence.append({"type": "finding" if rule["kind"] == "counter" else "search",
                                 "content": f"{node['instance_id']}: {rule['detail']}",
                                 "finding_ids": rule["cited"]})
    return {
        "labels": list(conclusions.get("labels", [])),
        "evidence": evidence,
        "reasoning": json.dumps({"labels": conclusions.get("labels", [])}),
    }


def make_offline_model(*, runbook: CompiledRunbook, **_: Any) -> OfflinePolicyModel:
    return OfflinePolicyModel(runbook=runbook)
