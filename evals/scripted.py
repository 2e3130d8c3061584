"""A scripted "Claude" behind a local Messages-API server, used to record the shipped cassettes.

We cannot reach Anthropic from here, so the anthropic-wire path (SDK → HTTP → vcrpy cassette →
replay) is recorded against this stand-in. It sees only what the real model would see — the
request JSON: the system prompt ("Current phase: X", the phase's steps), the user turns (the nodes,
the evidence so far, the deterministic conclusions in the last phase) and the tool_result blocks —
and follows the runbook the way a diligent model would: it calls every MUST and SHOULD step of the
phase on every node (several tool_use blocks per turn, as Claude does), learns execution ids and
citable ids from the results, and finishes the last phase with one `submit_report` call citing the
IDs the tools returned. Requests without a phase (the ReAct baseline's raw-runbook prompt) are
answered by the baseline's naive policy instead.

Responses are a pure function of the request (ids are content hashes), so re-recording gives the
same cassette. Only the standard library is used for the server.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from agents.prompts import DATA_CLOSE, DATA_OPEN

SUBMIT_TOOL = "submit_report"
MAX_CALLS_PER_TURN = 8
PER_NODE_TOOLS = frozenset({"collect", "validate", "errors", "read", "search", "correlate", "summarize",
                            "network_diagnostics"})
FLEET_TOOLS = frozenset({"cluster_health", "compare_nodes"})

# Our own fixed patterns over our own prompt format (agents/prompts.py), so Python `re` is fine.
_PHASE = re.compile(r"^Current phase: (?P<name>.+?) \((?P<index>\d+) of (?P<total>\d+);", re.M)
_STEP = re.compile(r"^- \[(?P<priority>MUST|SHOULD|MAY)\] (?P<tool>\w+)\((?P<args>.*?)\)(?: — .*)?$", re.M)
_ARG = re.compile(r"(\w+)(?:=`([^`]*)`)?")
_NODES = re.compile(r"^Node\(s\) under diagnosis: (?P<ids>.+?)\.$", re.M)
_CONCLUSION = re.compile(r"^- (?P<node>\S+): labels=(?P<labels>\[.*?\]);(?P<rules>.*)$", re.M)
_RULE = re.compile(r"(?P<id>R\d+) holds: (?P<detail>.*?) cites (?P<ids>\[.*?\])")
_EVIDENCE_ENTRY = re.compile(
    r"^\d+\. \S+ · (?P<tool>\w+)\((?P<args>[^\n]*)\)\n" + re.escape(DATA_OPEN) + r" tool=\S+ status=(?P<status>\w+)>>>\n"
    r"(?P<body>.*?)\n" + re.escape(DATA_CLOSE), re.M | re.S)
_ID = re.compile(r"\b[FS]-\d{3,}\b")


# --------------------------------------------------------------------------------------------
# Reading the request
# --------------------------------------------------------------------------------------------


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, str):
            parts.append(block)
    return "\n".join(parts)


def system_text(request: Mapping[str, Any]) -> str:
    return text_of(request.get("system") or "")


def tool_output(content: Any) -> tuple[bool, Any]:
    """(ok, parsed JSON) of a tool_result wrapped by agents.prompts.wrap_tool_output."""
    text = text_of(content)
    head, _, rest = text.partition("\n")
    ok = "status=ok" in head
    body = rest.rsplit("\n" + DATA_CLOSE, 1)[0] if DATA_CLOSE in rest else rest
    try:
        return ok, json.loads(body)
    except ValueError:
        return ok, body


class Call:
    """One tool_use the model made earlier in this conversation, with its result when answered."""

    def __init__(self, name: str, args: dict[str, Any]):
        self.name = name
        self.args = args
        self.ok = False
        self.result: Any = None
        self.answered = False


def conversation_calls(messages: list[Mapping[str, Any]]) -> list[Call]:
    by_id: dict[str, Call] = {}
    calls: list[Call] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            continue
        for block in content or []:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "tool_use":
                call = Call(str(block.get("name")), dict(block.get("input") or {}))
                by_id[str(block.get("id"))] = call
                calls.append(call)
            elif block.get("type") == "tool_result" and str(block.get("tool_use_id")) in by_id:
                call = by_id[str(block["tool_use_id"])]
                call.ok, call.result = tool_output(block.get("content"))
                if block.get("is_error"):
                    call.ok = False
                call.answered = True
    return calls


def first_user_text(messages: list[Mapping[str, Any]]) -> str:
    for message in messages:
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def incident_nodes(messages: list[Mapping[str, Any]]) -> list[str]:
    match = _NODES.search(first_user_text(messages))
    return [n.strip() for n in match.group("ids").split(",")] if match else []


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def tool_use(name: str, args: Mapping[str, Any], salt: str, position: int) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{salt[:20]}_{position}", "name": name, "input": dict(args)}


# --------------------------------------------------------------------------------------------
# The phase policy
# --------------------------------------------------------------------------------------------


class PlannedStep:
    def __init__(self, priority: str, tool: str, args: dict[str, str | None]):
        self.priority = priority
        self.tool = tool
        self.args = args

    @classmethod
    def parse_all(cls, system: str) -> list[PlannedStep]:
        steps = []
        for m in _STEP.finditer(system):
            args = {name: (value if value != "" or f"{name}=``" in m.group("args") else None)
                    for name, value in _ARG.findall(m.group("args"))}
            steps.append(cls(m.group("priority"), m.group("tool"), args))
        return steps


class PhasePolicy:
    """What a diligent model does next in one phase, from the request alone."""

    def __init__(self, request: Mapping[str, Any]):
        self.request = request
        self.system = system_text(request)
        phase = _PHASE.search(self.system)
        assert phase is not None
        self.phase = phase.group("name")
        self.last = phase.group("index") == phase.group("total")
        self.messages = list(request.get("messages") or [])
        self.tools = {str(t.get("name")) for t in request.get("tools") or []}
        self.nodes = incident_nodes(self.messages)
        self.calls = conversation_calls(self.messages)
        self.opening = first_user_text(self.messages)

    # -- what earlier results taught us -------------------------------------------------------

    def executions(self) -> dict[str, str]:
        found = {}
        for c in self.calls:
            if c.name == "collect" and c.ok and isinstance(c.result, dict) and c.result.get("executionId"):
                found[str(c.result.get("instanceId") or c.args.get("instanceId"))] = str(c.result["executionId"])
        return found

    def citable(self, node: str) -> list[str]:
        """IDs worth summarizing: headline findings, grounded searches, what holding rules cite."""
        ids: list[str] = []
        for c in self.calls:
            if not (c.ok and isinstance(c.result, dict)) or c.args.get("instanceId") != node:
                continue
            if c.name == "errors":
                ids += [f["finding_id"] for f in c.result.get("findings", [])
                        if f.get("severity") in ("CRITICAL", "HIGH")]
            if c.name == "search":
                ids += list(c.result.get("grounded_search_ids", []))
        for m in _CONCLUSION.finditer(self.opening):
            if m.group("node") == node:
                for rule in _RULE.finditer(m.group("rules")):
                    ids += list(ast.literal_eval(rule.group("ids")))
        if not ids:
            # Nothing is wrong on this node: summarize the conntrack searches that read its counts.
            for entry in _EVIDENCE_ENTRY.finditer(self.opening):
                args = entry.group("args")
                if entry.group("tool") == "search" and node in args and "nf_conntrack_count" in args:
                    ids += [i for i in _ID.findall(entry.group("body")) if i.startswith("S-")]
        return list(dict.fromkeys(ids))[:20]

    # -- the next move ------------------------------------------------------------------------

    def wanted(self, step: PlannedStep) -> bool:
        if step.tool not in self.tools:
            return False
        if step.priority in ("MUST", "SHOULD"):
            return True
        return len(self.nodes) >= 2 if step.tool in FLEET_TOOLS else True

    def bind(self, step: PlannedStep, node: str | None) -> dict[str, Any] | None:
        args: dict[str, Any] = {k: v for k, v in step.args.items() if v is not None}
        if step.tool == "status":
            eid = self.executions().get(node or "")
            return {"executionId": eid} if eid else None
        if step.tool in PER_NODE_TOOLS and node:
            args["instanceId"] = node
        if step.tool == "summarize":
            ids = self.citable(node or "")
            if not ids:
                return None
            args["finding_ids"] = ids
        if step.tool == "compare_nodes":
            args = {"instanceIds": list(self.nodes)}
        if step.tool == "cluster_health":
            args = {}
        return args

    def next_calls(self) -> list[tuple[str, dict[str, Any]]]:
        done = [(c.name, c.args) for c in self.calls]
        batch: list[tuple[str, dict[str, Any]]] = []
        for step in PlannedStep.parse_all(self.system):
            if not self.wanted(step):
                continue
            targets: list[str | None] = list(self.nodes) if (step.tool in PER_NODE_TOOLS or step.tool == "status") \
                else [None]
            for node in targets:
                args = self.bind(step, node)
                if args is None or (step.tool, args) in done or (step.tool, args) in batch:
                    continue
                batch.append((step.tool, args))
        return batch[:MAX_CALLS_PER_TURN]

    def draft(self) -> dict[str, Any]:
        """The report: the labels the evidence supports, each claim citing the IDs that show it."""
        labels: list[str] = []
        evidence = []
        for m in _CONCLUSION.finditer(self.opening):
            node_labels = [str(x) for x in ast.literal_eval(m.group("labels"))]
            labels += [lb for lb in node_labels if lb not in labels]
            for rule in _RULE.finditer(m.group("rules")):
                ids = [str(x) for x in ast.literal_eval(rule.group("ids"))]
                if ids:
                    evidence.append({"type": "search" if any(i.startswith("S-") for i in ids) else "finding",
                                     "content": f"{m.group('node')}: {rule.group('detail')}", "finding_ids": ids})
        reasoning = (f"Root cause: {' + '.join(labels)} exhaustion, per the cited findings." if labels else
                     "inconclusive: no cited finding shows either limit being hit.")
        return {"labels": labels, "evidence": evidence, "proposed_actions": [], "reasoning": reasoning}

    def respond(self) -> dict[str, Any]:
        salt = digest(self.messages)
        batch = self.next_calls()
        if batch:
            names = ", ".join(dict.fromkeys(name for name, _ in batch))
            blocks: list[dict[str, Any]] = [{"type": "text", "text": f"{self.phase}: calling {names}."}]
            blocks += [tool_use(name, args, salt, i) for i, (name, args) in enumerate(batch)]
            return {"content": blocks}
        if self.last and SUBMIT_TOOL in self.tools:
            return {"content": [tool_use(SUBMIT_TOOL, self.draft(), salt, 0)]}
        cited = [i for c in self.calls if c.ok for i in _ID.findall(json.dumps(c.result))]
        shown = ", ".join(list(dict.fromkeys(cited))[:12]) or "no IDs"
        return {"content": [{"type": "text", "text": f"{self.phase} done: {len(self.calls)} call(s); evidence {shown}."}]}


def respond(request: Mapping[str, Any]) -> dict[str, Any]:
    """The scripted model's answer to one Messages-API request (a partial Message)."""
    if _PHASE.search(system_text(request)):
        return PhasePolicy(request).respond()
    from evals.react import naive_respond

    return naive_respond(request)


def complete(partial: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in the fields the API always returns, deterministically from the request."""
    content = list(partial.get("content") or [])
    has_tool = any(b.get("type") == "tool_use" for b in content)
    return {
        "id": "msg_" + digest(request)[:24],
        "type": "message",
        "role": "assistant",
        "model": request.get("model"),
        "content": content,
        "stop_reason": "tool_use" if has_tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": math.ceil(len(json.dumps(request)) / 4),
                  "output_tokens": max(1, math.ceil(len(json.dumps(content)) / 4))},
    }


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


_BEDROCK = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (random port) that hands every POST to `_handle`.

    The scripted "Claude" below and the tests' Messages-API fake share this lifecycle; only what
    they answer differs.
    """

    thread_name = "loopback-server"

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


class ScriptedServer(LoopbackServer):
    """POST /v1/messages (and Bedrock's /model/<id>/invoke) on 127.0.0.1, answered by `respond`."""

    thread_name = "scripted-claude"

    def __init__(self) -> None:
        super().__init__()
        self.served = 0
        self._lock = threading.Lock()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self._send(handler, 400, _error("invalid_request_error", "body is not JSON"))
        bedrock = _BEDROCK.match(path)
        if bedrock and isinstance(body, dict):
            body = {**body, "model": bedrock.group("model")}
        elif path != "/v1/messages":
            return self._send(handler, 404, _error("not_found_error", f"no route for POST {path}"))
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return self._send(handler, 400, _error("invalid_request_error", "model and messages are required"))
        try:
            answer = complete(respond(body), body)
        except Exception as exc:  # a policy bug must show up as an API error, not a hung client
            return self._send(handler, 500, _error("api_error", f"scripted model failed: {type(exc).__name__}: {exc}"))
        with self._lock:
            self.served += 1
        self._send(handler, 200, answer)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        if status >= 500:
            handler.send_header("x-should-retry", "false")
        handler.end_headers()
        handler.wfile.write(data)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}
