"""The graph compiled from a runbook, assembled in one place.

For every phase: enter → agent ⇄ tools → gate. The gate holds the phase until each MUST tool step
has run (on every node of the incident): it asks the agent once with what is missing, then runs
the missing calls itself and records them as forced. Before the last (report) phase the
deterministic core decides labels and escalations; after it, the report is assembled and every
proposed action passes the guardrails, where anything not GREEN waits in an approval node
(`interrupt()`) until a person decides. Loops are bounded by construction: each phase has a
round limit and a single re-ask.
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agents.evidence import evaluate
from agents.offline import REPORT_TOOL
from agents.planning import CallContext, bind, ids_in, missing_must
from agents.prompts import build_phase_prompt, build_system_prompt, format_tool_outcome, submit_tool_spec
from graphs.audit import append_decision
from graphs.guardrails import classify, tool_rating
from graphs.report import (
    Evidence,
    ProposedAction,
    Report,
    mitigation,
    propose_actions,
    root_cause_text,
)
from graphs.state import RunState
from runbooks.model import CompiledRunbook, Step
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import ToolError, call_tool, get_tool

MAX_ROUNDS = 24  # agent turns per phase before the gate takes over
MAX_CALLS_PER_TURN = 8


# Schema of the model's final `submit_report` call. Validated loosely: the core grounds it.
DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}},
        "evidence": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["finding", "search"]},
                    "content": {"type": "string"},
                    "finding_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["type", "content", "finding_ids"],
            },
        },
        "proposed_actions": {"type": "array", "items": {"type": "string"}},
        "reasoning": {"type": "string"},
    },
    "required": ["labels", "evidence"],
}


class Runtime:
    """What nodes need that is not state: the model, the store, the audit log. Rebuilt per process."""

    def __init__(self, runbook: CompiledRunbook, model_factory: Callable[[], Any], *, store_dir: Path | None,
                 audit_path: Path, on_event: Callable[[str, dict[str, Any]], None] | None = None,
                 runbook_paths: list[Path] | None = None):
        self.runbook = runbook
        self._model_factory = model_factory
        self._model: Any = None
        self.store = BundleStore(store_dir)
        self.audit_path = audit_path
        self.on_event = on_event or (lambda kind, data: None)
        self.runbook_paths = list(runbook_paths or [])
        self._ctx: ToolContext | None = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._model_factory()
        return self._model

    def ctx(self, state: RunState) -> ToolContext:
        if self._ctx is None:
            self._ctx = ToolContext(store=self.store, runbook_paths=self.runbook_paths)
        ctx = self._ctx
        if ctx.backend is None and state.get("backend"):
            # Lazy: boto3 loads only for runs that collect from AWS.
            from tools.aws.backend import make_backend

            ctx.backend = make_backend(state["backend"], self.store)
        ctx.instance_ids = list(state.get("instance_ids") or [])
        ctx.cluster = state.get("cluster")
        ctx.search_memory = dict(state.get("search_memory") or {})
        return ctx


def _call_context(state: RunState) -> CallContext:
    candidate: dict[str, list[str]] = {}
    everything: dict[str, list[str]] = {}
    for c in state.get("calls") or []:
        iid = c.get("instance_id")
        if not iid or not c.get("ok"):
            continue
        ids = candidate.setdefault(iid, [])
        for i in c.get("citable_ids", []):
            if i not in ids:
                ids.append(i)
        seen = everything.setdefault(iid, [])
        seen.extend(i for i in c.get("finding_ids", []) if i not in seen)
    # A healthy node has no headline finding; what it does have (e.g. the sysctl search) is still
    # worth summarizing, so the report's MUST summarize has real ids to resolve.
    for iid, ids in everything.items():
        if not candidate.get(iid):
            candidate[iid] = ids[:20]
    return CallContext(
        instance_ids=list(state.get("instance_ids") or []),
        cluster=state.get("cluster"),
        executions=dict(state.get("executions") or {}),
        candidate_ids=candidate,
    )


def _step_for(phase_steps: list[Step], tool: str, args: dict[str, Any]) -> Step | None:
    """The plan step a call carries out: same tool and every literal argument equal."""
    best = None
    for step in phase_steps:
        if step.tool != tool:
            continue
        lits = {k: v for k, v in step.args.items() if v is not None}
        if all(str(args.get(k)) == v for k, v in lits.items()) and (
            best is None or len(lits) > len({k for k, v in best.args.items() if v is not None})
        ):
            best = step
    return best


def _citable(tool: str, result: dict[str, Any]) -> list[str]:
    """IDs worth summarizing from a result: headline findings and grounded search groups."""
    if tool == "errors":
        return [f["finding_id"] for f in result.get("findings", []) if f.get("severity") in ("CRITICAL", "HIGH")]
    if tool == "search":
        return list(result.get("grounded_search_ids", []))
    return []


def run_tool(rt: Runtime, state: RunState, phase: str, phase_steps: list[Step], allowed: set[str],
             name: str, args: dict[str, Any], *, forced: bool = False) -> tuple[dict[str, Any], Any]:
    """Execute one call (or refuse it) and return its log record and the registry outcome.

    `state` is the caller's working copy: the call's new search ids and execution ids are merged
    into it, so the next call in the same node sees them (S-NNN numbering, status after collect).
    """
    ctx = rt.ctx(state)
    before = set(ctx.search_memory)
    if name not in allowed:
        from tools.registry import ToolOutcome

        outcome = ToolOutcome(tool=name, ok=False, error=f"tool {name!r} is not part of phase {phase}",
                              hint="allowed here: " + ", ".join(sorted(allowed)), code="refused", args=args)
    else:
        outcome = call_tool(ctx, name, args)
    result = outcome.result or {}
    step = _step_for(phase_steps, name, args)
    record = {
        "phase": phase,
        "tool": name,
        "priority": step.priority if step else None,
        "args": args,
        "instance_id": result.get("instanceId") or args.get("instanceId"),
        "ok": outcome.ok,
        "error": outcome.error,
        "finding_ids": ids_in(result)[:50] if outcome.ok else [],
        "citable_ids": _citable(name, result) if outcome.ok else [],
        "forced": forced,
        "refused": outcome.code == "refused",
        "rating": tool_rating(name, rt.runbook),
        "at": datetime.now(UTC).isoformat(),
    }
    if result.get("failureReason") or result.get("advice"):
        # A failed collection's reason and the operator advice must reach the report.
        record["failureReason"] = result.get("failureReason")
        record["advice"] = list(result.get("advice") or [])
    new_memory = {k: v for k, v in ctx.search_memory.items() if k not in before}
    record["_new_memory"] = new_memory
    state["search_memory"] = {**(state.get("search_memory") or {}), **new_memory}
    if name == "collect" and outcome.ok:
        record["_execution"] = {result["instanceId"]: result["executionId"]}
        state["executions"] = {**(state.get("executions") or {}), **record["_execution"]}
    rt.on_event("tool", {"phase": phase, "tool": name, "ok": outcome.ok, "forced": forced,
                         "ids": record["finding_ids"][:5], "error": outcome.error})
    return record, outcome


def _split_side_data(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    memory: dict[str, Any] = {}
    executions: dict[str, Any] = {}
    clean = []
    for r in records:
        memory.update(r.pop("_new_memory", {}))
        executions.update(r.pop("_execution", {}))
        clean.append(r)
    return clean, memory, executions


def build_graph(rt: Runtime, checkpointer: Any = None):
    runbook = rt.runbook
    phases = runbook.phases
    last = len(phases) - 1
    g = StateGraph(RunState)

    def enter(i: int):
        phase = phases[i]

        def node(state: RunState) -> dict[str, Any]:
            rt.on_event("phase", {"phase": phase.name, "index": i + 1, "of": len(phases)})
            cc = _call_context(state)
            extra: dict[str, Any] = {"phase": phase.name, "call_context": cc.model_dump()}
            if i == last:
                extra["conclusions"] = state.get("evidence") or {}
            evidence = [c for c in (state.get("calls") or []) if c.get("ok")][-12:]
            text = build_phase_prompt(runbook, phase.name, [
                {"tool": c["tool"], "ok": c["ok"], "args": c["args"], "phase": c["phase"],
                 "result": {"finding_ids": c["finding_ids"][:20]}} for c in evidence
            ], instance_ids=state.get("instance_ids") or [], alert=state.get("alert"))
            if i == last and state.get("evidence"):
                ev = state["evidence"]
                text += "\n\nThe deterministic rules concluded (from parsed bundle evidence):\n" + "\n".join(
                    f"- {n['instance_id']}: labels={n['labels']}; " + "; ".join(
                        f"{r['rule_id']} {'holds' if r['holds'] else 'does not hold'}: {r['detail']} cites {r['cited']}"
                        for r in n["rules"]) for n in ev.get("nodes", [])
                ) + "\nEscalations: " + "; ".join(f"{e['condition']}: {e['holds']}" for e in ev.get("escalations", []))
            msg = HumanMessage(content=text, additional_kwargs={"sopgraph": extra})
            return {"messages": [msg], "phase_start": len(state.get("messages") or []), "rounds": 0}

        return node

    def agent(i: int):
        phase = phases[i]

        def node(state: RunState) -> dict[str, Any]:
            msgs = list(state.get("messages") or [])[state.get("phase_start", 0):]
            system = build_system_prompt(runbook, phase.name, submit_tool=REPORT_TOOL if i == last else None)
            tools = [copy.deepcopy(_tool_schema(t)) for t in phase.tools if _known(t)]
            if i == last:
                tools.append(submit_tool_spec(DRAFT_SCHEMA, name=REPORT_TOOL))
            model = rt.model.bind_tools(tools) if tools else rt.model
            reply = model.invoke([SystemMessage(content=system), *msgs])
            usage = dict(state.get("usage") or {})
            meta = getattr(reply, "usage_metadata", None) or {}
            usage["model_calls"] = usage.get("model_calls", 0) + 1
            usage["input_chars"] = usage.get("input_chars", 0) + len(system) + sum(len(str(m.content)) for m in msgs)
            usage["output_chars"] = usage.get("output_chars", 0) + len(str(reply.content)) + sum(
                len(str(tc.get("args"))) for tc in getattr(reply, "tool_calls", []) or [])
            usage["input_tokens"] = usage.get("input_tokens", 0) + int(meta.get("input_tokens", 0) or 0)
            usage["output_tokens"] = usage.get("output_tokens", 0) + int(meta.get("output_tokens", 0) or 0)
            return {"messages": [reply], "rounds": state.get("rounds", 0) + 1, "usage": usage}

        return node

    def after_agent(i: int):
        def route(state: RunState) -> str:
            last_msg = (state.get("messages") or [])[-1]
            calls = getattr(last_msg, "tool_calls", None) or []
            if not calls or state.get("rounds", 0) >= MAX_ROUNDS:
                return f"gate_{i}"
            return f"tools_{i}"

        return route

    def tools_node(i: int):
        phase = phases[i]
        allowed = set(phase.tools)

        def node(state: RunState) -> dict[str, Any]:
            last_msg = (state.get("messages") or [])[-1]
            out_msgs: list[Any] = []
            records: list[dict[str, Any]] = []
            update: dict[str, Any] = {}
            working = dict(state)
            for tc in (getattr(last_msg, "tool_calls", None) or [])[:MAX_CALLS_PER_TURN]:
                if i == last and tc["name"] == REPORT_TOOL:
                    update["draft"] = tc.get("args") or {}
                    out_msgs.append(ToolMessage(content="report received", tool_call_id=tc["id"], name=REPORT_TOOL,
                                                artifact={"ok": True, "result": {}}))
                    continue
                record, outcome = run_tool(rt, working, phase.name, phase.steps, allowed, tc["name"],
                                           dict(tc.get("args") or {}))
                records.append(record)
                out_msgs.append(ToolMessage(
                    content=format_tool_outcome(outcome), tool_call_id=tc["id"], name=tc["name"],
                    artifact={"ok": outcome.ok, "result": outcome.result},
                ))
            for tc in (getattr(last_msg, "tool_calls", None) or [])[MAX_CALLS_PER_TURN:]:
                out_msgs.append(ToolMessage(content=f"not run: at most {MAX_CALLS_PER_TURN} calls per turn",
                                            tool_call_id=tc["id"], name=tc["name"], status="error"))
            clean, memory, executions = _split_side_data(records)
            update.update({"messages": out_msgs, "calls": clean, "search_memory": memory, "executions": executions,
                           "refused": [r for r in clean if r["refused"]]})
            return update

        return node

    def after_tools(i: int):
        def route(state: RunState) -> str:
            if i == last and state.get("draft") is not None:
                return f"gate_{i}"
            return f"agent_{i}"

        return route

    def gate(i: int):
        phase = phases[i]
        allowed = set(phase.tools)

        def node(state: RunState) -> dict[str, Any]:
            cc = _call_context(state)
            required = phase.gate.required
            missing = missing_must(required, state.get("calls") or [], cc)
            key = phase.name
            asked = (state.get("reasked") or {}).get(key, 0)
            if missing and asked < 1 and state.get("rounds", 0) < MAX_ROUNDS:
                names = "; ".join(f"{s.tool}({', '.join(f'{k}={v}' for k, v in s.args.items() if v)})"
                                  + (f" on {n}" if n else "") for s, n in missing)
                rt.on_event("gate", {"phase": key, "missing": names, "action": "re-ask"})
                msg = HumanMessage(content=f"The gate of phase {key} is not satisfied. Still required (MUST): {names}. "
                                           "Call these tools now.")
                return {"messages": [msg], "reasked": {key: asked + 1}, "draft": None if i == last else state.get("draft")}
            records: list[dict[str, Any]] = []
            working = dict(state)
            forced_names = []
            not_applicable: list[tuple[Step, str | None]] = []
            for step, node_id in missing:
                cc = _call_context({**working, "calls": [*(working.get("calls") or []), *records]})
                args = bind(step, node_id, cc)
                if args is None and step.tool == "summarize" and node_id:
                    ctx = rt.ctx(working)
                    try:
                        idx = ctx.index(ctx.record(node_id))
                    except ToolError:
                        continue
                    headline = [f.id for f in idx.findings if f.severity in ("CRITICAL", "HIGH")]
                    ids = (headline or [f.id for f in idx.findings])[:20]
                    args = {"instanceId": node_id, "finding_ids": ids} if ids else None
                    if args is None:
                        not_applicable.append((step, node_id))  # a node with no finding at all
                        continue
                if args is None:
                    continue
                record, _outcome = run_tool(rt, working, phase.name, phase.steps, allowed, step.tool or "", args,
                                            forced=True)
                records.append(record)
                forced_names.append(step.tool)
            clean, memory, executions = _split_side_data(records)
            all_calls = [*(state.get("calls") or []), *clean]
            still = missing_must(required, all_calls, _call_context({**state, "calls": all_calls,
                                                                     "executions": {**(state.get("executions") or {}), **executions}}))
            # Summarizing a node that has no finding and no search hit at all is vacuous: the step is
            # reported as not applicable there, never as run.
            still = [m for m in still if m not in not_applicable]
            rt.on_event("gate", {"phase": key, "forced": forced_names, "missing": len(still)})
            comp = {key: {
                "satisfied": not still,
                "missing": [f"{s.tool}" + (f"@{n}" if n else "") for s, n in still],
                "not_applicable": [f"{s.tool}@{n}: nothing to summarize on this node" for s, n in not_applicable],
                "forced": [f"{r['tool']}@{r['instance_id']}" if r.get("instance_id") else r["tool"] for r in clean],
                "reasked": asked,
                "reasoning_steps": [s.text for s in phase.gate.reasoning],
            }}
            return {"calls": clean, "search_memory": memory, "executions": executions, "compliance": comp}

        return node

    def after_gate(i: int):
        def route(state: RunState) -> str:
            if phases[i].name not in (state.get("compliance") or {}):
                return f"agent_{i}"
            if i == last:
                return "finalize"
            if i + 1 == last:
                return "decide"
            return f"enter_{i + 1}"

        return route

    def decide(state: RunState) -> dict[str, Any]:
        ctx = rt.ctx(state)
        ev = evaluate(ctx, runbook, list(state.get("instance_ids") or []))
        rt.on_event("decide", {"labels": ev.labels, "escalate": ev.escalate})
        new = {k: v for k, v in ctx.search_memory.items() if k not in (state.get("search_memory") or {})}
        # Searches the rules needed and no agent ran are logged like any other call.
        grouped: dict[tuple[str, str], list[str]] = {}
        for sid, hit in new.items():
            grouped.setdefault((hit["instance_id"], hit["query"]), []).append(sid)
        calls = []
        for (iid, query), sids in grouped.items():
            ids = [i for sid in sids for i in [sid, *new[sid].get("finding_ids", [])]]
            calls.append({"phase": "decide", "tool": "search", "priority": None,
                          "args": {"instanceId": iid, "query": query}, "instance_id": iid, "ok": True,
                          "error": None, "finding_ids": list(dict.fromkeys(ids)), "citable_ids": [],
                          "forced": True, "refused": False, "rating": tool_rating("search", runbook),
                          "at": datetime.now(UTC).isoformat()})
        return {"evidence": ev.model_dump(), "search_memory": new, "calls": calls}

    def finalize(state: RunState) -> dict[str, Any]:
        report = assemble_report(rt, state)
        return {"report": report, "actions": report["proposed_actions"]}

    def route_actions(state: RunState) -> str:
        for a in state.get("actions") or []:
            if a["status"] == "pending_approval":
                return "approve_red" if a["rating"] == "RED" else "approve_yellow"
        return "finish"

    def approval(rating: str):
        def node(state: RunState) -> dict[str, Any]:
            actions = [dict(a) for a in state.get("actions") or []]
            pending = next((a for a in actions if a["status"] == "pending_approval" and
                            (a["rating"] == "RED") == (rating == "RED")), None)
            if pending is None:
                return {}
            approvers = list(runbook.guardrails.approvers)
            payload = {
                "approval_id": pending["approval_id"], "action": pending["action"], "rating": pending["rating"],
                "label": pending.get("label"), "thread_id": state.get("thread_id"),
                "evidence": [e for e in (state.get("report") or {}).get("evidence", [])][:8],
                "approvers": approvers or ["any operator"],
            }
            decision = interrupt(payload)
            # Everything below runs only once a person has answered (and re-runs safely on resume).
            d = decision if isinstance(decision, dict) else {"decision": str(decision)}
            verdict = str(d.get("decision", "")).lower()
            if verdict not in ("approve", "approved", "reject", "rejected"):
                verdict = "reject"
            approved = verdict.startswith("approve")
            entry = {
                "thread_id": state.get("thread_id"),
                "approval_id": pending["approval_id"],
                "action": pending["action"],
                "rating": pending["rating"],
                "decision": "approved" if approved else "rejected",
                "by": str(d.get("by") or "unknown"),
                "reason": str(d.get("reason") or ""),
                "at": str(d.get("at") or datetime.now(UTC).isoformat()),
            }
            append_decision(rt.audit_path, entry)
            for a in actions:
                if a["approval_id"] == pending["approval_id"]:
                    a["status"] = "approved" if approved else "rejected"
                    a["note"] = ("approved, operator to carry out (no executor configured)" if approved
                                 else f"rejected by {entry['by']}")
            rt.on_event("approval", entry)
            return {"actions": actions, "approvals": [entry]}

        return node

    def finish(state: RunState) -> dict[str, Any]:
        report = dict(state.get("report") or {})
        report["proposed_actions"] = state.get("actions") or []
        report["approvals"] = list(state.get("approvals") or [])
        report["usage"] = _usage(state)
        Report.model_validate(report)
        return {"report": report}

    for i in range(len(phases)):
        g.add_node(f"enter_{i}", enter(i))
        g.add_node(f"agent_{i}", agent(i))
        g.add_node(f"tools_{i}", tools_node(i))
        g.add_node(f"gate_{i}", gate(i))
        g.add_edge(f"enter_{i}", f"agent_{i}")
        g.add_conditional_edges(f"agent_{i}", after_agent(i), [f"tools_{i}", f"gate_{i}"])
        g.add_conditional_edges(f"tools_{i}", after_tools(i), [f"agent_{i}", f"gate_{i}"])
        nxt = ["finalize"] if i == last else (["decide"] if i + 1 == last else [f"enter_{i + 1}"])
        g.add_conditional_edges(f"gate_{i}", after_gate(i), [f"agent_{i}", *nxt])
    g.add_node("decide", decide)
    g.add_node("finalize", finalize)
    g.add_node("approve_yellow", approval("YELLOW"))
    g.add_node("approve_red", approval("RED"))
    g.add_node("finish", finish)
    if len(phases) == 1:
        g.add_edge(START, "decide")
        g.add_edge("decide", "enter_0")
    else:
        g.add_edge(START, "enter_0")
        g.add_edge("decide", f"enter_{last}")
    g.add_conditional_edges("finalize", route_actions, ["approve_yellow", "approve_red", "finish"])
    g.add_conditional_edges("approve_yellow", route_actions, ["approve_yellow", "approve_red", "finish"])
    g.add_conditional_edges("approve_red", route_actions, ["approve_yellow", "approve_red", "finish"])
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)


def _known(tool: str) -> bool:
    try:
        get_tool(tool)
    except Exception:
        return False
    return True


@functools.cache
def _tool_schema(name: str) -> dict[str, Any]:
    # Building pydantic JSON schemas costs ~10 ms a tool; every agent turn binds its phase's tools.
    spec = get_tool(name)
    schema = spec.args_model.model_json_schema()
    schema.pop("title", None)
    return {"name": name, "description": spec.summary, "input_schema": schema}


def _usage(state: RunState) -> dict[str, Any]:
    u = dict(state.get("usage") or {})
    for k in ("model_calls", "input_chars", "output_chars", "input_tokens", "output_tokens"):
        u.setdefault(k, 0)
    u["tool_calls"] = len(state.get("calls") or [])
    return u


def assemble_report(rt: Runtime, state: RunState) -> dict[str, Any]:
    runbook = rt.runbook
    ev = state.get("evidence") or {"nodes": [], "labels": [], "escalations": []}
    labels = list(ev.get("labels", []))
    ctx = rt.ctx(state)
    index_ids: set[str] = set()
    for iid in state.get("instance_ids") or []:
        try:
            index_ids |= {f.id for f in ctx.index(ctx.record(iid)).findings}
        except ToolError:
            continue  # no bundle for this node: its gap is reported by the evidence
    known = index_ids | set((state.get("search_memory") or {}).keys())
    evidence: list[Evidence] = []
    unresolved: list[str] = []
    seen_content: set[str] = set()

    def add(item: Evidence) -> None:
        if item.content not in seen_content:
            seen_content.add(item.content)
            evidence.append(item)

    for node in ev.get("nodes", []):
        for r in node.get("rules", []):
            if r["holds"] and r["cited"]:
                add(Evidence(type="finding" if r["kind"] == "counter" else "search",
                             content=f"{node['instance_id']}: {r['detail']}", finding_ids=list(r["cited"])))
    draft = state.get("draft") or {}
    dropped_labels = [lb for lb in draft.get("labels", []) if lb not in labels]
    for item in draft.get("evidence", []) or []:
        try:
            e = Evidence.model_validate(item)
        except Exception:
            continue
        bad = [i for i in e.finding_ids if i not in known]
        if bad or not e.finding_ids:
            unresolved.extend(bad or ["(no id cited)"])
            continue
        add(e)
    # count=<N> max=<M>, cited by the search group that read them, when the runbook wants them.
    conntrack = None
    nodes_ct = {}
    for node in ev.get("nodes", []):
        ct = node.get("conntrack") or None
        if ct:
            nodes_ct[node["instance_id"]] = {k: ct.get(k) for k in ("count", "max", "utilization_pct")}
    if runbook.report.wants_conntrack_counts:
        first = next(iter(nodes_ct.values()), None)
        conntrack = dict(first) if first else {"count": None, "max": None, "utilization_pct": None}
        if len(nodes_ct) > 1:
            conntrack["nodes"] = nodes_ct
        for iid, ct in nodes_ct.items():
            sids = [sid for sid, hit in (state.get("search_memory") or {}).items()
                    if hit.get("instance_id") == iid and hit.get("file", "").startswith("sysctls/")]
            if sids and ct.get("count") is not None:
                add(Evidence(type="search", content=f"{iid}: count={ct['count']} max={ct['max']} "
                             f"({ct['utilization_pct']}% used)", finding_ids=sids[:2]))
    gaps = [g for node in ev.get("nodes", []) for g in node.get("gaps", [])]
    actions = propose_actions(runbook, labels)
    # The model may propose actions too (or be talked into it by log text): each is classified like
    # any other, and anything not GREEN waits for a person.
    known_actions = {a.action for a in actions}
    for text in draft.get("proposed_actions", []) or []:
        if isinstance(text, str) and text.strip() and text.strip() not in known_actions:
            rating, entry = classify(text, runbook)
            known_actions.add(text.strip())
            actions.append(ProposedAction(
                action=text.strip(), rating=rating,
                status="operator_action" if rating == "GREEN" else "pending_approval",
                note="proposed by the model; " + (f"rated by safety entry '{entry.action}'" if entry
                                                  else "no safety entry matches: treated as RED"),
            ))
    thread = state.get("thread_id") or ""
    for n, a in enumerate(actions, start=1):
        if a.status == "pending_approval":
            a.approval_id = f"{thread[:8]}-A{n}"
    escalations = [e for e in ev.get("escalations", []) if e["holds"]]
    steps = [{k: c.get(k) for k in ("phase", "tool", "priority", "args", "finding_ids", "ok", "forced", "refused",
                                     "instance_id", "error")} for c in state.get("calls") or []]
    for step, c in zip(steps, state.get("calls") or [], strict=True):
        if c.get("failureReason") or c.get("advice"):
            step["failureReason"] = c.get("failureReason")
            step["advice"] = c.get("advice") or []
            gaps.append(f"collection on {c.get('instance_id')} failed: {c.get('failureReason')}"
                        + (f" — {' '.join(c['advice'])}" if c.get("advice") else ""))
    report = Report(
        root_cause=root_cause_text(runbook, labels),
        labels=labels,
        evidence=evidence,
        severity=runbook.severity if labels else "INFO",
        mitigation=mitigation(runbook, labels, gaps),
        escalate=bool(escalations),
        escalation_reasons=[f"{e['condition']} ({e['reason']})" for e in escalations],
        conntrack=conntrack,
        steps=steps,
        must_compliance=dict(state.get("compliance") or {}),
        approvals=list(state.get("approvals") or []),
        usage=_usage(state),
        runbook={"id": runbook.id, "title": runbook.title},
        instance_ids=list(state.get("instance_ids") or []),
        thread_id=thread,
        proposed_actions=[ProposedAction.model_validate(a.model_dump()) for a in actions],
        grounding={"unresolved_ids": unresolved, "model_labels_rejected": dropped_labels, "gaps": gaps,
                   "refused_calls": [r["tool"] for r in state.get("refused") or []]},
    )
    return report.model_dump(mode="json")


def new_thread_id() -> str:
    return uuid.uuid4().hex


__all__ = ["AIMessage", "Runtime", "build_graph", "new_thread_id"]
