"""The YAML frontmatter between the leading `---` lines: fields, their lines, and the runbook id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml

from runbooks.errors import Diagnostics
from runbooks.yamlnodes import YamlSyntaxError, compose, construct

REQUIRED_FIELDS: tuple[str, ...] = ("title", "description", "status", "severity", "triggers")
RECOMMENDED_FIELDS: tuple[str, ...] = ("owner", "objective", "context")
KNOWN_SEVERITIES = frozenset({"CRITICAL", "HIGH", "MEDIUM", "LOW", "WARNING", "INFO"})

# The id is the title's first token when a separator follows it: "D3 — Conntrack", "A2-cert — …",
# "D3 - Conntrack", "D3: Conntrack". Ids have no spaces.
_TITLE_ID = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*?)\s*(?:\s[—–-]\s|\s?[—–]\s?|:\s)")
_STEM_ID = re.compile(r"^([A-Za-z]+[0-9]+[A-Za-z]?)(?:[-_.]|$)")


@dataclass
class Frontmatter:
    fields: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    open_line: int = 1
    body_start: int = 0  # index into the line list of the first body line


def split_frontmatter(lines: list[str], diag: Diagnostics) -> Frontmatter | None:
    """Finds and parses the frontmatter. Returns None (after a fatal issue) when the body is unknown."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        diag.error(1, "empty runbook: expected YAML frontmatter starting with a '---' line", fatal=True)
        return None
    if lines[first].rstrip() != "---":
        diag.error(
            first + 1,
            "no YAML frontmatter: the runbook must start with a '---' line, then its fields, then '---'",
            fatal=True,
        )
        return None
    close = next((i for i in range(first + 1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if close is None:
        diag.error(
            first + 1, f"frontmatter opened at line {first + 1} is not closed: add a '---' line after it", fatal=True
        )
        return None
    fm = Frontmatter(open_line=first + 1, body_start=close + 1)
    yaml_first_line = first + 2  # file line of the frontmatter's first YAML line
    text = "\n".join(lines[first + 1 : close])
    try:
        node, loader = compose(text)
    except YamlSyntaxError as exc:
        diag.error(yaml_first_line + exc.problem.line, f"frontmatter YAML does not parse: {exc.problem.message}",
                   fatal=True)
        return fm
    if node is None:
        diag.error(first + 1, "frontmatter is empty: it needs title, description, status, severity, triggers",
                   fatal=True)
        return fm
    if not isinstance(node, yaml.MappingNode):
        diag.error(yaml_first_line + node.start_mark.line, "frontmatter must be a YAML mapping of fields",
                   fatal=True)
        return fm
    for key_node, value_node in node.value:
        try:
            key = construct(loader, key_node)
            value = construct(loader, value_node)
        except YamlSyntaxError as exc:
            diag.error(yaml_first_line + exc.problem.line, f"frontmatter YAML does not parse: {exc.problem.message}",
                       fatal=True)
            continue
        if not isinstance(key, str):
            diag.error(yaml_first_line + key_node.start_mark.line, f"frontmatter key {key!r} is not a name")
            continue
        if key in fm.fields:
            diag.warning(yaml_first_line + key_node.start_mark.line,
                         f"frontmatter field '{key}' repeats line {fm.lines[key]}; the last value wins")
        fm.fields[key] = value
        fm.lines[key] = yaml_first_line + key_node.start_mark.line
    return fm


def check_fields(fm: Frontmatter, diag: Diagnostics) -> None:
    """Required fields must be present and non-empty; types must be what the model expects."""
    for name in REQUIRED_FIELDS:
        if name not in fm.fields:
            diag.error(fm.open_line, f"frontmatter is missing required field '{name}'")
        elif fm.fields[name] in (None, "", []):
            diag.error(fm.lines[name], f"frontmatter field '{name}' is empty")
    for name in RECOMMENDED_FIELDS:
        if name not in fm.fields:
            diag.warning(fm.open_line, f"frontmatter has no '{name}' field")
    for name in ("title", "description", "status", "severity", "owner", "objective", "context", "id"):
        value = fm.fields.get(name)
        if value is not None and not isinstance(value, str | int | float):
            diag.error(fm.lines[name], f"frontmatter field '{name}' must be text, not a {type(value).__name__}")
    severity = fm.fields.get("severity")
    if isinstance(severity, str) and severity and severity.upper() not in KNOWN_SEVERITIES:
        diag.warning(fm.lines["severity"],
                     f"severity '{severity}' is not one of {', '.join(sorted(KNOWN_SEVERITIES))}")
    triggers = fm.fields.get("triggers")
    if triggers is not None and not isinstance(triggers, str) and (
        not isinstance(triggers, list) or not all(isinstance(t, str | int | float) for t in triggers)
    ):
        diag.error(fm.lines["triggers"], "frontmatter field 'triggers' must be a list of strings")


def text_field(fm: Frontmatter, name: str) -> str:
    value = fm.fields.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()


def triggers_of(fm: Frontmatter) -> list[str]:
    value = fm.fields.get("triggers")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)] if str(value) else []
    if isinstance(value, list):
        return [str(t) for t in value if isinstance(t, str | int | float) and not isinstance(t, bool) and str(t)]
    return []


def runbook_id(title: str, explicit: str, path: str | None) -> str | None:
    """The id: an explicit `id:` field, else the title prefix, else the file name's prefix."""
    if explicit:
        return explicit
    m = _TITLE_ID.match(title)
    if m:
        return m.group(1)
    if path:
        stem = PurePath(path).name.split(".")[0]
        m = _STEM_ID.match(stem)
        if m:
            return m.group(1)
        if stem:
            return stem
    return None
