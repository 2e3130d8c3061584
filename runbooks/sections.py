"""The non-phase sections: Guardrails (and its split-out variants), Common Issues, Examples, Output Format.

These sections are YAML-ish and usually unfenced. They are cut into blocks of YAML-looking lines
(a `snake_case:` key or a `- ` item at column 0, plus the indented lines under it); blocks under
a key are strict YAML, loose bullets fall back to plain text when they are not valid YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from runbooks.errors import Diagnostics
from runbooks.model import RATINGS, CommonIssue, Guardrails, Rating, SafetyRating
from runbooks.text import FenceTracker
from runbooks.yamlnodes import YamlSyntaxError, compose, construct

_KEY_LINE = re.compile(r"^[a-z][a-z0-9_]*[ \t]*:(?:[ \t]|$)")
_ITEM_LINE = re.compile(r"^-(?:[ \t]|$)")
_COLOUR = re.compile(r"\b(GREEN|YELLOW|RED)\b", re.I)
_COLOUR_GROUP = re.compile(r"^\s*((?:GREEN|YELLOW|RED)(?:\s*/\s*(?:GREEN|YELLOW|RED))*)\b", re.I)
_LEADING_COLOUR = re.compile(r"^\s*(GREEN|YELLOW|RED)\s*[:—–-]\s*(.+)$", re.I | re.S)
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_PAREN_TOOLS = re.compile(r"\(\s*([a-z][a-z0-9_]*(?:\s*,\s*[a-z][a-z0-9_]*)*)\s*\)")
_BACKTICK_IDENT = re.compile(r"`([a-z][a-z0-9_]*)`")
_ALTERNATIVES = re.compile(r"<([^<>|\n]+(?:\|[^<>|\n]+)+)>")
_ROOT_CAUSE_LINE = re.compile(r"^\s*root_cause\s*:(.*)$", re.M)
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:", re.M)

GUARDRAIL_KEYS = ("escalation_conditions", "safety_ratings", "approvers")
# Keys the runbook family writes in Guardrails that this compiler does not use.
IGNORED_GUARDRAIL_KEYS = frozenset(
    {"anti_hallucination", "data_sensitivity", "prohibited_actions", "rollback", "notes"}
)
SEVERITY_ORDER: dict[str, int] = {r: i for i, r in enumerate(RATINGS)}


@dataclass
class _Block:
    lines: list[tuple[int, str]]
    keyed: bool  # starts with `key:` (strict YAML) rather than a loose `- ` item

    @property
    def first_line(self) -> int:
        return self.lines[0][0]

    def text(self) -> str:
        return "\n".join(t for _, t in self.lines)


def unfenced(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The section's lines with fence lines removed: fenced and unfenced YAML read the same."""
    fence = FenceTracker()
    return [(n, t) for n, t in body if not fence.feed(t)]


def _blocks(body: list[tuple[int, str]]) -> tuple[list[_Block], list[tuple[int, str]]]:
    """YAML-looking blocks, and the prose lines outside them."""
    blocks: list[_Block] = []
    prose: list[tuple[int, str]] = []
    current: _Block | None = None
    for n, t in body:
        if not t.strip():
            if current is not None:
                current.lines.append((n, ""))
            continue
        if _KEY_LINE.match(t):
            current = _Block([(n, t)], keyed=True)
            blocks.append(current)
            continue
        if _ITEM_LINE.match(t) or t[:1] in (" ", "\t"):
            if current is None:
                if t[:1] in (" ", "\t"):
                    prose.append((n, t))
                    continue
                current = _Block([], keyed=False)
                blocks.append(current)
            current.lines.append((n, t))
            continue
        current = None
        prose.append((n, t))
    for b in blocks:
        while b.lines and not b.lines[-1][1]:
            b.lines.pop()
    return [b for b in blocks if b.lines], prose


def _compose_block(block: _Block, diag: Diagnostics, what: str, *, strict: bool
                   ) -> tuple[yaml.Node | None, yaml.SafeLoader | None]:
    try:
        node, loader = compose(block.text())
    except YamlSyntaxError as exc:
        if strict:
            diag.error(block.first_line + exc.problem.line, f"{what} YAML does not parse: {exc.problem.message}",
                       fatal=True)
        return None, None
    return node, loader


def _value(loader: yaml.SafeLoader, node: yaml.Node, block: _Block, diag: Diagnostics, what: str) -> Any:
    try:
        return construct(loader, node)
    except YamlSyntaxError as exc:
        diag.error(block.first_line + exc.problem.line, f"{what} YAML does not parse: {exc.problem.message}",
                   fatal=True)
        return None


def _plain_items(block: _Block) -> list[tuple[int, str]]:
    """Loose bullets that are not valid YAML, as text items with continuation lines joined."""
    items: list[tuple[int, str]] = []
    for n, t in block.lines:
        if _ITEM_LINE.match(t):
            items.append((n, _unquote(t[1:].strip())))
        elif items and t.strip():
            items[-1] = (items[-1][0], f"{items[-1][1]} {t.strip()}")
    return items


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


# --------------------------------------------------------------------------------------------
# Guardrails
# --------------------------------------------------------------------------------------------


def parse_guardrails(hint: str | None, body: list[tuple[int, str]], diag: Diagnostics, into: Guardrails) -> None:
    """Adds this section's escalation conditions, safety ratings and approvers to `into`.

    `hint` is the key that loose bullets belong to when the section is named after it
    ("## Safety Ratings" → safety_ratings); under "## Guardrails" loose bullets are flagged.
    """
    blocks, _prose = _blocks(unfenced(body))
    for block in blocks:
        if not block.keyed:
            if hint is None:
                diag.warning(block.first_line,
                             "guardrail bullets outside 'escalation_conditions:' or 'safety_ratings:' are ignored")
                continue
            _add_loose(hint, block, diag, into)
            continue
        node, loader = _compose_block(block, diag, "guardrails", strict=True)
        if node is None or loader is None:
            continue
        if not isinstance(node, yaml.MappingNode):
            diag.error(block.first_line, "guardrails must be YAML keys such as 'escalation_conditions:'")
            continue
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            at = block.first_line + key_node.start_mark.line
            if key in GUARDRAIL_KEYS:
                _add_items(str(key), value_node, loader, block, diag, into)
            elif key not in IGNORED_GUARDRAIL_KEYS:
                diag.warning(at, f"unknown guardrails key '{key}' is ignored "
                                 f"(known: {', '.join(GUARDRAIL_KEYS)})")


def _add_loose(hint: str, block: _Block, diag: Diagnostics, into: Guardrails) -> None:
    node, loader = _compose_block(block, diag, "guardrails", strict=False)
    if node is not None and loader is not None and isinstance(node, yaml.SequenceNode):
        _add_items(hint, node, loader, block, diag, into)
        return
    for n, text in _plain_items(block):
        _add_one(hint, text, n, diag, into)


def _add_items(key: str, value_node: yaml.Node, loader: yaml.SafeLoader, block: _Block, diag: Diagnostics,
               into: Guardrails) -> None:
    nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for item in nodes:
        at = block.first_line + item.start_mark.line
        value = _value(loader, item, block, diag, "guardrails")
        if value is None or value == "":
            continue
        if isinstance(value, dict) and key == "safety_ratings":
            _add_rating_mapping(value, at, diag, into)
        elif isinstance(value, dict) and len(value) == 1:
            k, v = next(iter(value.items()))
            _add_one(key, f"{k}: {v}", at, diag, into)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            _add_one(key, str(value), at, diag, into)
        else:
            diag.error(at, f"{key} entry must be a line of text, not {type(value).__name__}")


def _add_one(key: str, text: str, line: int, diag: Diagnostics, into: Guardrails) -> None:
    text = text.strip()
    if not text:
        return
    if key == "escalation_conditions":
        if text not in into.escalation_conditions:
            into.escalation_conditions.append(text)
            into.condition_lines[text] = line
    elif key == "approvers":
        if text not in into.approvers:
            into.approvers.append(text)
    elif key == "safety_ratings":
        ratings = parse_rating(text, line)
        if ratings is None:
            diag.error(line, f"safety rating has no colour (GREEN, YELLOW or RED): {text!r}")
            return
        if not ratings:
            diag.error(line, f"safety rating names no action: {text!r}")
        _merge_ratings(ratings, into)


def _add_rating_mapping(value: dict[Any, Any], line: int, diag: Diagnostics, into: Guardrails) -> None:
    """`- {action: …, rating: …, note: …}` or the one-pair form `- "Upsize instance": RED — …`."""
    if "rating" in value:
        colour = _COLOUR.search(str(value.get("rating") or ""))
        action = str(value.get("action") or value.get("actions") or "").strip()
        if not colour:
            diag.error(line, f"safety rating has no colour (GREEN, YELLOW or RED): {value!r}")
            return
        line_text = f"{action}: {colour.group(1).upper()}"
        ratings = parse_rating(line_text, line) or []
        for r in ratings:
            r.note = str(value.get("note") or "").strip()
        if not ratings:
            diag.error(line, f"safety rating names no action: {value!r}")
        _merge_ratings(ratings, into)
        return
    if len(value) == 1:
        k, v = next(iter(value.items()))
        _add_one("safety_ratings", f"{k}: {v}", line, diag, into)
        return
    diag.error(line, f"safety rating must be 'action: COLOUR — note' text: {value!r}")


def _merge_ratings(ratings: list[SafetyRating], into: Guardrails) -> None:
    """Repeated sections restate ratings: keep one per (action, rating), with the fuller note."""
    for r in ratings:
        same = next((o for o in into.safety_ratings if o.action == r.action and o.rating == r.rating), None)
        if same is None:
            into.safety_ratings.append(r)
        elif r.note and not same.note:
            same.note = r.note


def parse_rating(text: str, line: int = 0) -> list[SafetyRating] | None:
    """One rating line → one SafetyRating per action; None when the line has no colour.

    "Log collection (collect), search: GREEN (read-only)" gives two actions; "GREEN: read-only
    tools" (colour first) gives one. "YELLOW/RED" keeps the most severe colour, the safe reading.
    """
    text = _unquote(text.strip())
    lead = _LEADING_COLOUR.match(text)
    if lead:
        return _ratings(lead.group(2), lead.group(1), "", line)
    colon = _colon_before_colour(text)
    if colon >= 0:
        actions, after = text[:colon], text[colon + 1 :]
    else:
        first = _COLOUR.search(text)
        if not first:
            return None
        actions, after = text[: first.start()].rstrip(" —–-:"), text[first.start() :]
    group = _COLOUR_GROUP.match(after)
    if group:
        colours = [c.strip().upper() for c in group.group(1).split("/")]
        colour = max(colours, key=lambda c: SEVERITY_ORDER[c])
        note = after[group.end() :]
    else:
        found = _COLOUR.search(after)
        if not found:
            return None
        colour = found.group(1).upper()
        note = after
    return _ratings(actions, colour, _clean_note(note), line)


def _colon_before_colour(text: str) -> int:
    """The first top-level colon that has a colour word after it."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == ":" and depth == 0 and _COLOUR.search(text, i + 1):
            return i
    return -1


def _clean_note(note: str) -> str:
    note = note.strip().lstrip("—–-:,; ").strip()
    if note.startswith("(") and note.endswith(")") and note.count("(") == 1:
        note = note[1:-1].strip()
    return note


def _ratings(actions: str, colour: str, note: str, line: int) -> list[SafetyRating]:
    rating: Rating = colour.upper()  # type: ignore[assignment]
    out: list[SafetyRating] = []
    for action in split_actions(actions):
        out.append(SafetyRating(action=action, rating=rating, note=note, line=line, tools=_action_tools(action)))
    return out


def split_actions(text: str) -> list[str]:
    """Commas separate actions, except inside parentheses: "Log collection (collect, status)"."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip().strip("`\"'").strip() for p in parts if p.strip().strip("`\"'").strip()]


def _action_tools(action: str) -> list[str]:
    tools: list[str] = []
    if _IDENT.match(action):
        tools.append(action)
    for m in _PAREN_TOOLS.finditer(action):
        tools.extend(t.strip() for t in m.group(1).split(","))
    tools.extend(m.group(1) for m in _BACKTICK_IDENT.finditer(action))
    return list(dict.fromkeys(tools))


# --------------------------------------------------------------------------------------------
# Common Issues
# --------------------------------------------------------------------------------------------


def parse_common_issues(body: list[tuple[int, str]], diag: Diagnostics) -> list[CommonIssue]:
    blocks, prose = _blocks(unfenced(body))
    issues: list[CommonIssue] = []
    if not blocks and prose:
        diag.warning(prose[0][0], "Common Issues is not a YAML list of symptoms/diagnosis/resolution; ignored")
    for block in blocks:
        node, loader = _compose_block(block, diag, "Common Issues", strict=True)
        if node is None or loader is None:
            continue
        entries = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for entry in entries:
            at = block.first_line + entry.start_mark.line
            value = _value(loader, entry, block, diag, "Common Issues")
            if value is None:
                continue
            if not isinstance(value, dict):
                diag.warning(at, "common issue must be a mapping with symptoms, diagnosis and resolution; ignored")
                continue
            fields = {str(k).lower(): v for k, v in value.items()}
            symptoms = _as_text(fields.get("symptoms", fields.get("symptom")))
            diagnosis = _as_text(fields.get("diagnosis"))
            resolution = _as_text(fields.get("resolution"))
            missing = [n for n, v in (("symptoms", symptoms), ("diagnosis", diagnosis),
                                      ("resolution", resolution)) if not v]
            if missing:
                diag.warning(at, f"common issue has no {', '.join(missing)}")
            if symptoms:
                issues.append(CommonIssue(symptoms=symptoms, diagnosis=diagnosis, resolution=resolution, line=at))
    return issues


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_as_text(v) for v in value if _as_text(v))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_as_text(v)}" for k, v in value.items())
    return str(value).strip()


# --------------------------------------------------------------------------------------------
# Examples and Output Format
# --------------------------------------------------------------------------------------------


def fenced_blocks(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line of the opening fence, content) of each fenced block in the section."""
    fence = FenceTracker()
    out: list[tuple[int, list[str]]] = []
    for n, t in body:
        was_inside = fence.inside
        if fence.feed(t):
            if not was_inside:
                out.append((n, []))
            continue
        if fence.inside and out:
            out[-1][1].append(t)
    return [(n, "\n".join(lines)) for n, lines in out]


def section_text(body: list[tuple[int, str]]) -> str:
    return "\n".join(t for _, t in body).strip("\n")


def labels_of(template: str) -> list[str]:
    """`<a|b>` alternatives of the root_cause value, else of the whole template, in order."""
    root = _ROOT_CAUSE_LINE.search(template)
    groups = _ALTERNATIVES.findall(root.group(1)) if root else []
    if not groups:
        groups = _ALTERNATIVES.findall(template)
    labels: list[str] = []
    for group in groups:
        for alt in group.split("|"):
            alt = alt.strip()
            if alt and alt not in labels:
                labels.append(alt)
    return labels


def template_fields(template: str) -> list[str]:
    try:
        data = yaml.safe_load(template)
    except Exception:  # a template with placeholders may not be YAML; fall back to key lines
        data = None
    if isinstance(data, dict):
        return [str(k) for k in data]
    return list(dict.fromkeys(_TOP_KEY.findall(template)))
