"""Property tests: on any text, lint returns issues and parse raises only RunbookError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooks.catalog import library_dir
from runbooks.compile import compile_runbook
from runbooks.errors import LintIssue, RunbookError
from runbooks.lint import lint
from runbooks.parse import parse_runbook

SAMPLES = Path(__file__).parent / "samples"
SEEDS = [library_dir() / "D3-conntrack-exhaustion.md", *sorted(SAMPLES.rglob("*.md"))]
SEED_LINES = [line for p in SEEDS for line in p.read_text(encoding="utf-8").splitlines()]

FRAGMENTS = [
    "---", "...", "title: \"D3 — X\"", "title: [1, 2]", "description: d", "status: active", "severity: HIGH",
    "triggers:", "  - \"x\"", "triggers: {a: 1}", "context: >", "  folded", "date: 2024-13-45", "id: 7",
    "## Phase 1 — Triage", "## Phase 2: Enrich", "## Phase x", "### 2A — Sub", "## Guardrails",
    "## Safety Ratings", "## Escalation Conditions", "## Common Issues", "## Examples", "## Output Format",
    "MUST:", "SHOULD:", "MAY:", "MUST (if x):", "MUST (if x). prose:", "FIRST — do it", "1. Use `search` tool",
    "- Use `search` tool with query=`a|b` — if found, a b", "- Use `x_y` tool with instanceId=",
    "  - nested `collect` tool", "- query=``", "- Use `search` with query=`unclosed", "```", "```yaml", "~~~",
    "escalation_conditions:", "safety_ratings:", "  - \"a: GREEN\"", "  - \": RED\"", "  - [1, 2]",
    "  - {rating: blue}", "  - {action: a, rating: red}", "approvers: {x: y}", "- symptoms: \"x > 0\"",
    "  diagnosis: \"y\"", "- symptoms: [1]", "- counter_x_y >= 3", "root_cause: \"<a|b>\"", "root_cause: <|>",
    "- \"unterminated", "key: [unclosed", "&a [*a]", "!!python/object:os.system", "\t- tab", "⚠️ **MUST:**",
    "\ufeff---", "- ", "#", "## ", "MUST", "- Use `search` tool with query=`x` — if found,",
]

line_strategy = st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(SEED_LINES), st.text(max_size=40))


@st.composite
def runbook_like(draw: st.DrawFn) -> str:
    lines = draw(st.lists(line_strategy, max_size=40))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(lines) + draw(st.sampled_from(["", "\n"]))


@st.composite
def mutated_seed(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).read_text(encoding="utf-8").split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        if action == "delete" and i < len(lines):
            del lines[i]
        elif action == "insert":
            lines.insert(i, draw(line_strategy))
        elif i < len(lines):
            lines[i] = draw(line_strategy)
    return "\n".join(lines)


def _check(text: str) -> None:
    issues = lint(text, "p.md")
    assert all(isinstance(i, LintIssue) for i in issues)
    assert not [i for i in issues if "internal linter error" in i.message], issues
    n_lines = text.count("\n") + 1
    assert all(0 <= i.line <= n_lines + 1 for i in issues)
    try:
        runbook = parse_runbook(text, "p.md")
    except RunbookError as exc:
        assert exc.path == "p.md"
        assert any(i.severity == "error" and i.line == exc.line for i in issues)
        return
    compiled = compile_runbook(runbook)
    compiled.model_dump_json()


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@FAST
@given(runbook_like())
def test_runbook_shaped_text(text: str) -> None:
    _check(text)


@FAST
@given(mutated_seed())
def test_mutated_runbooks(text: str) -> None:
    _check(text)
