"""The comparison baseline (`--graph react`): one ReAct agent, every tool, the raw runbook as its prompt.

No compiled plan, no MUST gates, no deterministic rules, no approval interrupt: what a plain
tool-calling agent gets from the same tool registry. Its final answer is a JSON report with the
same keys as the graph's, so the same scorer judges both and the table shows what the compiled
graph buys.

With the offline model there is no LLM, so the agent is driven by `naive_respond`: it makes the
calls of the runbook's Examples section on every node, then labels by keyword presence in the
tool output (a matched line containing "table full" → kernel_conntrack, one containing
"conntrack_allowance_exceeded" → aws_instance_limit) — what an ungrounded agent does, and why it
loses on red herrings and on `conntrack_allowance_exceeded: 0`. The same policy answers the
scripted server when it sees a request without a phase, so the baseline can be recorded over the
wire too. Heavy imports (langgraph, langchain) stay inside the functions that need them.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evals.scripted import conversation_calls, digest, incident_nodes, system_text, tool_use
from runbooks.model import CompiledRunbook

REPORT_KEYS = ("root_cause", "labels", "evidence", "severity", "mitigation", "escalate", "escalation_reasons",
               "conntrack", "proposed_actions")
KEYWORDS: tuple[tuple[str, str], ...] = (("table full", "kernel_conntrack"),
                                          ("conntrack_allowance_exceeded", "aws_instance_limit"))
_EXAMPLE_CALL = re.compile(r"^\s*(?P<tool>\w+)\((?P<args>.*)\)\s*$")
_EXAMPLE_ARG = re.compile(r'(\w+)="([^"]*)"')
_ID = re.compile(r"\b[FS]-\d{3,}\b")
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")


# --------------------------------------------------------------------------------------------
# The naive policy (wire level: a Messages-API request in, a partial Message out)
# --------------------------------------------------------------------------------------------


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\s*$(?P<body>.*?)(?=^## |\Z)", markdown, re.M | re.S)
    return match.group("body") if match else ""


def example_calls(markdown: str) -> list[tuple[str, dict[str, str]]]:
    """The tool calls written in the runbook's Examples section, as (tool, args)."""
    calls = []
    for line in _section(markdown, "Examples").splitlines():
        m = _EXAMPLE_CALL.match(line)
        if m and not line.lstrip().startswith("#"):
            calls.append((m.group("tool"), dict(_EXAMPLE_ARG.findall(m.group("args")))))
    return calls


def common_fixes(markdown: str) -> dict[str, str]:
    """label → the Common Issues resolution whose symptom names that label's keyword."""
    fixes: dict[str, str] = {}
    body = _section(markdown, "Common Issues")
    for block in re.split(r"^- (?=symptoms:)", body, flags=re.M):
        symptom = re.search(r'symptoms:\s*"([^"]*)"', block)
        resolution = re.search(r'resolution:\s*"([^"]*)"', block)
        if not (symptom and resolution):
            continue
        for keyword, label in KEYWORDS:
            if keyword in symptom.group(1):
                fixes.setdefault(label, resolution.group(1))
    return fixes


def escalation_conditions(markdown: str) -> list[str]:
    body = _section(markdown, "Guardrails")
    block = body.split("escalation_conditions:", 1)[-1].split("safety_ratings:", 1)[0] if body else ""
    return re.findall(r'^\s*-\s*"([^"]+)"', block, re.M)


def _matched_text(result: Any) -> str:
    """What the tool returned, minus the echo of our own query (a naive agent still skips that)."""
    if isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "query"}
    return json.dumps(result, ensure_ascii=False)


def _conntrack(result: Any) -> dict[str, Any] | None:
    node: Any = result
    for key in ("diagnostics", "kube_proxy", "conntrack"):
        node = node.get(key) if isinstance(node, dict) else None
    ct = node
    if isinstance(ct, dict) and "count" in ct:
        return {k: ct.get(k) for k in ("count", "max", "utilization_pct")}
    return None


def naive_answer(markdown: str, calls: list[Any], nodes: list[str]) -> dict[str, Any]:
    """Keyword labels, citing whatever IDs appear in the output that contained the keyword."""
    labels: list[str] = []
    evidence: list[dict[str, Any]] = []
    per_node: dict[str, set[str]] = {}
    conntrack: dict[str, Any] = {}
    for call in calls:
        if not call.ok:
            continue
        node = str(call.args.get("instanceId") or (nodes[0] if nodes else ""))
        text = _matched_text(call.result)
        ct = _conntrack(call.result)
        if ct:
            conntrack.setdefault(node, ct)
        for keyword, label in KEYWORDS:
            if keyword in text:
                per_node.setdefault(label, set()).add(node)
                if label not in labels:
                    labels.append(label)
                evidence.append({"type": "search" if call.name == "search" else "finding",
                                 "content": f"{node}: {call.name} output mentions '{keyword}'",
                                 "finding_ids": list(dict.fromkeys(_ID.findall(text)))[:10]})
    fixes = common_fixes(markdown)
    actions = [{"action": fixes[lb], "status": "operator_action", "label": lb} for lb in labels if lb in fixes]
    conditions = escalation_conditions(markdown)
    reasons = []
    if "aws_instance_limit" in labels:
        reasons += [c for c in conditions if "instance" in c.lower()][:1]
    if len(per_node.get("kernel_conntrack", set())) >= 2:
        reasons += [c for c in conditions if "multiple nodes" in c.lower()][:1]
    escalate = bool(reasons)
    first = next(iter(conntrack.values()), {"count": None, "max": None, "utilization_pct": None})
    return {
        "root_cause": f"{' + '.join(labels)} exhaustion" if labels else "inconclusive",
        "labels": labels,
        "evidence": evidence,
        "severity": "CRITICAL" if labels else "INFO",
        "mitigation": {"immediate": " ".join(a["action"] for a in actions) or "No action needed.",
                       "long_term": "Monitor conntrack metrics, right-size instances"},
        "escalate": escalate,
        "escalation_reasons": reasons,
        "conntrack": {**first, **({"nodes": conntrack} if len(conntrack) > 1 else {})},
        "proposed_actions": actions,
    }


def naive_respond(request: Mapping[str, Any]) -> dict[str, Any]:
    """One ReAct turn: the next Examples call not made yet (one per turn), else the JSON answer."""
    markdown = system_text(request)
    messages = list(request.get("messages") or [])
    nodes = incident_nodes(messages)
    tools = {str(t.get("name")) for t in request.get("tools") or []}
    calls = conversation_calls(messages)
    done = [(c.name, c.args) for c in calls]
    salt = digest(messages)
    for node in nodes or [None]:
        for tool, args in example_calls(markdown):
            if tool not in tools:
                continue
            bound = {k: (node if k == "instanceId" and node and _INSTANCE.match(v) else v) for k, v in args.items()}
            if (tool, bound) not in done:
                return {"content": [{"type": "text", "text": f"Next: {tool}."}, tool_use(tool, bound, salt, 0)]}
    answer = naive_answer(markdown, calls, nodes)
    return {"content": [{"type": "text", "text": json.dumps(answer, indent=1)}]}


# --------------------------------------------------------------------------------------------
# The offline stand-in model and the agent
# --------------------------------------------------------------------------------------------


def make_naive_model() -> Any:
    """A LangChain chat model that answers with `naive_respond` (no network, deterministic)."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.outputs import ChatGeneration, ChatResult
    from pydantic import Field

    from agents.anthropic_chat import ai_message_from_response, to_anthropic_messages, to_anthropic_tool

    class NaiveReactModel(BaseChatModel):
        bound_tools: list[dict[str, Any]] = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "sopgraph-naive-react"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return NaiveReactModel(bound_tools=[to_anthropic_tool(t) for t in tools])

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            system, turns = to_anthropic_messages(messages)
            request = {"system": system or "", "messages": turns, "tools": self.bound_tools}
            reply = ai_message_from_response({"id": None, "content": naive_respond(request)["content"]})
            return ChatResult(generations=[ChatGeneration(message=reply)])

    return NaiveReactModel()


class ReactRun:
    """The ReAct agent's run: its report (graph-shaped) and status."""

    def __init__(self, report: dict[str, Any], status: str):
        self.report = report
        self.status = status


def _task(instance_ids: list[str], alert: str | None) -> str:
    lines = []
    if alert:
        lines.append(f"Alert: {alert}")
    lines.append(f"Node(s) under diagnosis: {', '.join(instance_ids)}.")
    lines.append("Follow the runbook (the system prompt) with the tools. When you are done, answer with only a "
                 "JSON object with the keys " + ", ".join(REPORT_KEYS) + "; evidence items are {type, content, "
                 "finding_ids}, proposed_actions items are {action, rating, status}.")
    return "\n".join(lines)


def _parse_answer(text: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        data = json.loads(text[start:end + 1])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _usage(system: str, messages: list[Any]) -> dict[str, int]:
    """Per model call: the characters it read (system + conversation so far) and wrote."""
    from langchain_core.messages import AIMessage

    usage = {"model_calls": 0, "input_chars": 0, "output_chars": 0, "input_tokens": 0, "output_tokens": 0}
    seen = len(system)
    for message in messages:
        size = len(str(message.content)) + sum(len(json.dumps(c.get("args"))) for c in
                                                getattr(message, "tool_calls", None) or [])
        if isinstance(message, AIMessage):
            meta = message.usage_metadata or {}
            usage["model_calls"] += 1
            usage["input_chars"] += seen
            usage["output_chars"] += size
            usage["input_tokens"] += int(meta.get("input_tokens", 0) or 0)
            usage["output_tokens"] += int(meta.get("output_tokens", 0) or 0)
        seen += size
    return usage


def run_react(*, runbook: CompiledRunbook, instance_ids: list[str], store_dir: Path, model_factory: Callable[[], Any],
              alert: str | None = None, cluster: str | None = None, thread_id: str = "react",
              recursion_limit: int = 80) -> ReactRun:
    """Run the baseline on an incident whose bundles are already in `store_dir`."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import StructuredTool
    from langgraph.prebuilt import create_react_agent
    from langgraph.warnings import LangGraphDeprecationWarning

    from agents.planning import ids_in
    from agents.prompts import format_tool_outcome
    from graphs.guardrails import classify
    from tools.bundle.store import BundleStore
    from tools.context import ToolContext
    from tools.registry import call_tool, registry

    if not runbook.source or not Path(runbook.source).is_file():
        raise ValueError(f"runbook {runbook.id} has no source markdown to prompt the ReAct agent with")
    markdown = Path(runbook.source).read_text(encoding="utf-8")
    ctx = ToolContext(store=BundleStore(store_dir), instance_ids=list(instance_ids), cluster=cluster)
    steps: list[dict[str, Any]] = []

    def make_tool(name: str, summary: str, schema: dict[str, Any]) -> Any:
        def run(**kwargs: Any) -> str:
            outcome = call_tool(ctx, name, kwargs)
            result = outcome.result or {}
            steps.append({"phase": "react", "tool": name, "priority": None, "args": kwargs,
                          "finding_ids": ids_in(result)[:50] if outcome.ok else [], "ok": outcome.ok,
                          "forced": False, "refused": False,
                          "instance_id": result.get("instanceId") or kwargs.get("instanceId"),
                          "error": outcome.error})
            return format_tool_outcome(outcome)

        return StructuredTool.from_function(func=run, name=name, description=summary, args_schema=schema)

    tools = []
    for name, spec in sorted(registry().items()):
        schema = spec.args_model.model_json_schema()
        schema.pop("title", None)
        tools.append(make_tool(name, spec.summary, schema))
    with warnings.catch_warnings():
        # Deprecated in favour of langchain.agents.create_agent, which is not a dependency; langgraph<2
        # is pinned, and this is the stock ReAct loop the baseline is meant to be.
        warnings.simplefilter("ignore", LangGraphDeprecationWarning)
        agent = create_react_agent(model_factory(), tools, prompt=markdown)
    result = agent.invoke({"messages": [HumanMessage(_task(instance_ids, alert))]},
                          {"recursion_limit": recursion_limit})
    messages = list(result.get("messages") or [])
    final = next((m for m in reversed(messages) if isinstance(m, AIMessage) and not m.tool_calls), None)
    answer = _parse_answer(str(final.content)) if final is not None else {}
    report: dict[str, Any] = {k: answer[k] for k in REPORT_KEYS if k in answer}
    actions = []
    for n, item in enumerate(answer.get("proposed_actions") or [], start=1):
        if not isinstance(item, dict) or not item.get("action"):
            continue
        rating, _entry = classify(str(item["action"]), runbook)
        actions.append({"action": str(item["action"]), "rating": item.get("rating") or rating,
                        "status": item.get("status") or "operator_action", "approval_id": None,
                        "label": item.get("label"), "note": f"react-{n}"})
    if "proposed_actions" in report:
        report["proposed_actions"] = actions
    report.update({
        "steps": steps, "must_compliance": {}, "approvals": [],
        "usage": {**_usage(markdown, messages), "tool_calls": len(steps)},
        "runbook": {"id": runbook.id, "title": runbook.title}, "instance_ids": list(instance_ids),
        "thread_id": thread_id, "grounding": {},
    })
    return ReactRun(report, "done")
