"""One phase section → its steps: priority blocks, bullets, tools, arguments and conditions.

The grammar is the house style of the EKS runbook family, with its irregularities:
unlabelled "FIRST —" blocks before the first label (MUST unless their text says otherwise),
qualified labels (`MUST (if IPVS mode detected):`), `###` sub-headings that start a new block,
numbered lists, nested bullets that carry the real tool calls, emoji and warning prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runbooks.errors import Diagnostics
from runbooks.model import Phase, Priority, Step
from runbooks.text import FenceTracker, code_spans, indent_of, mask, strip_decoration

# Parameter names the tools take, exactly as the runbooks write them (DESIGN.md).
KNOWN_PARAMS: tuple[str, ...] = (
    "instanceId",
    "executionId",
    "query",
    "sections",
    "pivotEvent",
    "finding_ids",
    "clusterName",
    "instanceIds",
    "severity",
    "start_time",
    "end_time",
    "incident_time",
)

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])[ \t]+(.*)$")
_LABEL = re.compile(r"^(MUST|SHOULD|MAY)\b[ \t]*(?:\(([^)]*)\))?[ \t]*(.*)$")
_FIRST_LINE = re.compile(r"^(?:FIRST|PREREQUISITE)\b")
# A tool is named in backticks and introduced as a call: "Use `x` tool", "Use the `x`",
# "Review `x` output", "call `x`", or "`x` tool". Commands with spaces (`kubectl get`) never match.
_TOOL = re.compile(
    r"(?:\b(?:[Uu]se|[Cc]all|[Ii]nvoke|[Rr]eview)\s+(?:the\s+)?(?:EKS\s+MCP\s+)?`([A-Za-z_][A-Za-z0-9_]*)`)"
    r"|(?:`([A-Za-z_][A-Za-z0-9_]*)`\s+tool\b)"
)
_ASSIGN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=")
_CONDITION = re.compile(r"(?:\s*[—–]+\s*|\s-{1,2}\s+|[;,.]\s+)((?:[Ii]f|IF)\b.*)$", re.S)
_MAY_HINT = re.compile(r"\b(?:optional|optionally|if time permits)\b", re.I)
_MAY_WORD = re.compile(r"\bMAY\b")
_SHOULD_HINT = re.compile(r"\bSHOULD\b|\brecommended\b")
_BARE_LEAD = re.compile(r"(?:\bwith|\band|\bplus|\busing|,)\s*$")


@dataclass
class _Draft:
    text: str
    line: int
    indent: int
    priority: Priority
    qualifier: str | None
    subheading: str | None
    parent: _Draft | None = None
    children: list[_Draft] = field(default_factory=list)


@dataclass
class LabelBlock:
    """A priority label and how many steps it received; lint flags the empty ones."""

    priority: Priority
    line: int
    steps: int = 0


@dataclass
class _State:
    priority: Priority | None = None
    qualifier: str | None = None
    label: LabelBlock | None = None
    subheading: str | None = None
    intro: list[str] = field(default_factory=list)
    stack: list[_Draft] = field(default_factory=list)
    pending_first: tuple[int, str] | None = None


def parse_phase(name: str, line: int, body: list[tuple[int, str]], diag: Diagnostics) -> Phase:
    """Steps of one phase section. `body` holds (file line, text) pairs after the heading."""
    st = _State()
    drafts: list[_Draft] = []
    fence = FenceTracker()

    def close_label() -> None:
        if st.label is not None and st.label.steps == 0:
            diag.error(st.label.line, f"{st.label.priority}: label in phase '{name}' has no steps under it")
        st.label = None

    def flush_first() -> None:
        if st.pending_first is not None:
            first_line, first_text = st.pending_first
            st.pending_first = None
            add(first_text, first_line, 0, _unlabelled_priority(first_text, st.subheading))

    def add(text: str, at: int, indent: int, priority: Priority, parent: _Draft | None = None) -> _Draft:
        draft = _Draft(text, at, indent, priority, st.qualifier, st.subheading, parent)
        if parent is not None:
            parent.children.append(draft)
        drafts.append(draft)
        if st.label is not None:
            st.label.steps += 1
        return draft

    for lineno, raw in body:
        if fence.feed(raw) or fence.inside:
            continue
        if not raw.strip():
            continue
        heading = _HEADING.match(raw)
        if heading:
            flush_first()
            close_label()
            st.priority, st.qualifier, st.stack, st.intro = None, None, [], []
            st.subheading = heading.group(2).strip()
            continue
        bullet = _BULLET.match(raw)
        if bullet:
            indent = indent_of(bullet.group(1))
            text = bullet.group(2).strip()
            st.pending_first = None  # a FIRST line followed by bullets introduces them
            while st.stack and st.stack[-1].indent >= indent:
                st.stack.pop()
            parent = st.stack[-1] if st.stack else None
            priority = st.priority or _unlabelled_priority(" ".join(st.intro), st.subheading)
            own = _LABEL.match(strip_decoration(text))
            if own and own.group(3).startswith(":") and own.group(3)[1:].strip():
                priority = own.group(1)  # type: ignore[assignment]  # "- MAY: use …" labels one bullet
            st.stack.append(add(text, lineno, indent, priority, parent))
            continue
        cleaned = strip_decoration(raw)
        label = _label(cleaned)
        if label is not None and indent_of(raw) < 4:
            flush_first()
            close_label()
            priority, qualifier, inline = label
            st.priority, st.qualifier, st.stack, st.intro = priority, qualifier, [], []
            st.label = LabelBlock(priority, lineno)
            if inline:
                add(inline, lineno, 0, priority)
            continue
        if st.stack and indent_of(raw) > st.stack[0].indent:
            target = st.stack[-1]
            while target.parent is not None and target.indent >= indent_of(raw):
                target = target.parent
            target.text = f"{target.text} {raw.strip()}"
            continue
        # Free prose ends the current bullet list; before any label it may introduce one.
        flush_first()
        if st.stack:
            st.intro = []  # a new paragraph: earlier prose no longer describes what follows
        st.stack = []
        if st.priority is None:
            st.intro.append(cleaned)
            if _FIRST_LINE.match(cleaned):
                st.pending_first = (lineno, raw.strip())
    flush_first()
    close_label()
    return Phase(name=name, line=line, steps=_to_steps(drafts))


def _label(cleaned: str) -> tuple[Priority, str | None, str] | None:
    """`MUST:`, `MUST (qualifier):`, `MUST: inline step`, `MUST (qualifier). prose:`; not "MUST work …"."""
    m = _LABEL.match(cleaned)
    if not m:
        return None
    qualifier = m.group(2).strip() if m.group(2) else None
    rest = m.group(3)
    if rest.startswith(":"):
        return m.group(1), qualifier or None, rest[1:].strip()  # type: ignore[return-value]
    if qualifier and rest.startswith(".") and cleaned.rstrip().endswith(":"):
        return m.group(1), qualifier, ""  # type: ignore[return-value]
    return None


def _unlabelled_priority(text: str, subheading: str | None) -> Priority:
    """An unlabelled block is MUST unless its own words make it optional or advisory."""
    context = f"{subheading or ''} {text}"
    if _MAY_HINT.search(context) or _MAY_WORD.search(context):
        return "MAY"
    if _SHOULD_HINT.search(context):
        return "SHOULD"
    return "MUST"


def _to_steps(drafts: list[_Draft]) -> list[Step]:
    """Nested bullets without a tool fold into their parent's text; those with a tool are steps."""
    tools = {id(d): find_tool(d.text) for d in drafts}
    kept: list[_Draft] = []
    for d in drafts:
        if d.parent is not None and tools[id(d)] is None:
            host = d.parent
            depth = 1
            while host.parent is not None and tools[id(host)] is None:
                host, depth = host.parent, depth + 1
            host.text = f"{host.text}\n{'  ' * depth}- {d.text}"
            continue
        kept.append(d)
    steps: list[Step] = []
    for d in kept:
        tool = tools[id(d)]
        inline = find_condition(d.text)
        condition = "; ".join(c for c in (_qualifier_condition(d.qualifier), inline) if c) or None
        steps.append(
            Step(
                priority=d.priority,
                tool=tool,
                args=find_args(d.text) if tool else {},
                condition=condition,
                text=d.text,
                line=d.line,
                subheading=d.subheading,
            )
        )
    return steps


def _qualifier_condition(qualifier: str | None) -> str | None:
    return qualifier.strip() if qualifier and qualifier.strip() else None


def _masked(text: str) -> str:
    return mask(text, [(s, e) for s, e, _, _ in code_spans(text)])


def find_tool(text: str) -> str | None:
    """The tool a bullet calls, or None for a reasoning step. Only its first line counts."""
    head = text.split("\n", 1)[0]
    spans = code_spans(head)
    # Hide argument values (query=`…`) so a regex that names a tool is not taken for a call.
    arg_spans = [(s, e) for s, e, _, _ in spans if s > 0 and head[s - 1] == "="]
    m = _TOOL.search(mask(head, arg_spans))
    if not m:
        return None
    return m.group(1) or m.group(2)


def find_condition(text: str) -> str | None:
    """The trailing "— if …" clause of a bullet's first line, read outside code spans."""
    head = text.split("\n", 1)[0]
    masked = _masked(head)
    m = _CONDITION.search(masked)
    if not m:
        return None
    return head[m.start(1) :].strip() or None


def find_args(text: str) -> dict[str, str | None]:
    """Arguments in order of appearance: `p=`v``, `p="v"`, `p=v`, or a bare known name (→ None)."""
    head = text.split("\n", 1)[0]
    spans = code_spans(head)
    by_start = {s: (cs, ce, e) for s, e, cs, ce in spans}
    masked = mask(head, [(s, e) for s, e, _, _ in spans])
    found: list[tuple[int, str, str | None]] = []
    used: list[tuple[int, int]] = []
    for m in _ASSIGN.finditer(masked):
        name = m.group(1)
        pos = m.end()
        if pos in by_start:
            cs, ce, end = by_start[pos]
            value: str = head[cs:ce]
        elif pos < len(head) and head[pos] in "\"'":
            close = head.find(head[pos], pos + 1)
            if close < 0:
                continue
            value, end = head[pos + 1 : close], close + 1
        else:
            tail = re.match(r"[^\s`\"']+", head[pos:])
            if not tail:
                continue
            value = tail.group(0).rstrip(".,;:)")
            end = pos + len(tail.group(0))
        used.append((m.start(), end))
        if name in KNOWN_PARAMS and name not in {n for _, n, _ in found}:
            found.append((m.start(), name, value))
    bare_text = mask(masked, used)
    for name in KNOWN_PARAMS:
        if name in {n for _, n, _ in found}:
            continue
        for m in re.finditer(rf"\b{re.escape(name)}\b", bare_text):
            if _BARE_LEAD.search(bare_text[: m.start()]):
                found.append((m.start(), name, None))
                break
    return {name: value for _, name, value in sorted(found, key=lambda f: f[0])}


def unknown_params(text: str) -> list[str]:
    """`name=value` parameters in a tool step that no tool takes (lint warns about them)."""
    head = text.split("\n", 1)[0]
    masked = mask(head, [(s, e) for s, e, _, _ in code_spans(head)])
    out: list[str] = []
    for m in _ASSIGN.finditer(masked):
        if m.group(1) not in KNOWN_PARAMS and m.group(1) not in out:
            out.append(m.group(1))
    return out
