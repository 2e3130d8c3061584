"""PyYAML (safe) with line numbers: compose the node tree, then construct values per node.

Guardrails and Common Issues are YAML lists whose items each need their own line number for lint
messages; plain `safe_load` loses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass
class YamlProblem:
    line: int  # 0-based within the parsed text
    message: str


def compose(text: str) -> tuple[yaml.Node | None, yaml.SafeLoader]:
    """The single document's node tree (None when empty). Raises YamlSyntaxError on bad YAML."""
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        # Control characters: PyYAML reports a character position, not a line.
        line = text.count("\n", 0, exc.position) if isinstance(exc.position, int) else 0
        raise YamlSyntaxError(YamlProblem(line, f"character {exc.character!r} is not allowed in YAML")) from None
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_problem(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(YamlProblem(0, str(exc).splitlines()[0] if str(exc) else "invalid YAML")) from None
    except RecursionError:
        raise YamlSyntaxError(YamlProblem(0, "YAML nested too deeply")) from None
    return node, loader


def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """The Python value of `node`. Raises YamlSyntaxError for values YAML cannot build."""
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_problem(exc)) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. `date: 2024-13-45` matches the timestamp pattern but is no date.
        raise YamlSyntaxError(YamlProblem(node.start_mark.line, f"invalid YAML value: {exc}")) from None


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line


class YamlSyntaxError(ValueError):
    def __init__(self, problem: YamlProblem):
        super().__init__(problem.message)
        self.problem = problem


def _problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    parts = [p for p in (exc.context, exc.problem) if p]
    message = ", ".join(parts) if parts else "invalid YAML"
    return YamlProblem(mark.line if mark else 0, message)
