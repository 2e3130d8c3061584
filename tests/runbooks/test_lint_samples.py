"""`lint` on every sample: exactly the expected issues, at the expected lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.errors import LintIssue
from runbooks.lint import has_errors, lint, lint_path

SAMPLES = Path(__file__).parent / "samples"

# file → [(line, severity, words the message must contain)], in line order.
EXPECTED: dict[str, list[tuple[int, str, str]]] = {
    "broken/frontmatter-not-closed.md": [(1, "error", "frontmatter opened at line 1 is not closed")],
    "broken/bad-yaml.md": [
        (8, "error", "frontmatter YAML does not parse"),
        (17, "error", "no '## Output Format' section"),
        (17, "warning", "no '## Guardrails' section"),
    ],
    "broken/bad-guardrails-yaml.md": [(21, "error", "guardrails YAML does not parse")],
    "broken/missing-fields.md": [
        (1, "error", "missing required field 'severity'"),
        (9, "error", "field 'description' is empty"),
    ],
    "broken/unknown-tool.md": [
        (17, "error", "unknown tool 'quick_triage'"),
        (21, "error", "unknown tool 'storage_diagnostics'"),
        (22, "warning", "passes 'logTypes='"),
    ],
    "broken/label-without-steps.md": [
        (18, "error", "SHOULD: label in phase 'Triage' has no steps"),
        (23, "error", "phase 'Enrich' has no steps"),
        (25, "error", "MUST: label in phase 'Enrich' has no steps"),
        (28, "error", "phase 'Report' has no steps"),
    ],
    "broken/output-without-labels.md": [(23, "error", "Output Format has no <label_a|label_b> alternatives")],
    "broken/rating-without-colour.md": [
        (22, "error", "safety rating has no colour (GREEN, YELLOW or RED): 'Modify sysctl settings"),
        (24, "error", "safety rating names no action"),
    ],
    "ok/crlf-oom.md": [],
    "ok/emoji-warnings.md": [],
    "ok/first-block.md": [],
    "ok/folded-context.md": [],
    "ok/four-phases.md": [],
    "ok/qualified-labels.md": [],
    "ok/subheadings-numbered.md": [],
    "ok/no-final-newline-two-phases.md": [(28, "warning", "'Issue remains unclassified after investigation' "
                                                           "names no label or finding category")],
    "ok/unfenced-guardrails.md": [(39, "warning", "'Packet drops continue after upsizing' names no label")],
    "ok/repeated-headings.md": [
        (23, "warning", "heading 'Phase 2 — Enrich' repeats line 18"),
        (38, "warning", "heading 'Safety Ratings' repeats line 33"),
        (48, "warning", "heading 'Escalation Conditions' repeats line 44"),
    ],
}


def test_every_sample_has_expectations() -> None:
    on_disk = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.md")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_lints_as_expected(name: str) -> None:
    path = SAMPLES / name
    issues = lint_path(path)
    assert [(i.line, i.severity) for i in issues] == [(line, sev) for line, sev, _ in EXPECTED[name]], [
        i.format() for i in issues
    ]
    for issue, (_, _, words) in zip(issues, EXPECTED[name], strict=True):
        assert words in issue.message
        assert issue.path == str(path)
        assert issue.format().startswith(f"{path}:{issue.line}: {issue.severity}: ")
    assert has_errors(issues) == name.startswith("broken/")


def test_missing_file_is_one_error() -> None:
    issues = lint_path(SAMPLES / "does-not-exist.md")
    assert issues == [LintIssue(path=str(SAMPLES / "does-not-exist.md"), line=0, severity="error",
                                message="no such file")]


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.md"
    bad.write_bytes(b"---\ntitle: caf\xe9\n---\n")
    [issue] = lint_path(bad)
    assert (issue.line, issue.severity) == (2, "error")
    assert "not UTF-8" in issue.message


def test_registry_names_replace_the_default_set() -> None:
    text = (SAMPLES / "ok/four-phases.md").read_text(encoding="utf-8")
    issues = lint(text, "four.md", tool_names={"collect", "errors", "search", "network_diagnostics",
                                               "compare_nodes", "summarize"})
    assert [(i.line, i.message.split(" (")[0]) for i in issues] == [(33, "unknown tool 'validate'")]


def test_rule_with_tied_label_is_a_warning() -> None:
    text = (SAMPLES / "ok/emoji-warnings.md").read_text(encoding="utf-8")
    tied = text.replace("if found, disk errors on the root volume", "if found, disk errors slow the runtime")
    [issue] = lint(tied, "b3.md")
    assert (issue.line, issue.severity) == (31, "warning")
    assert "ties between labels" in issue.message


def test_if_found_without_query_is_a_warning() -> None:
    text = (SAMPLES / "ok/emoji-warnings.md").read_text(encoding="utf-8")
    changed = text.replace("- Use `errors` tool with instanceId to get pre-indexed findings",
                           "- Use `errors` tool with instanceId — if found, runtime slow")
    [issue] = lint(changed, "b3.md")
    assert (issue.line, issue.severity) == (23, "warning")
    assert "has no query" in issue.message


def test_no_frontmatter_and_empty_text() -> None:
    assert [(i.line, i.severity) for i in lint("\n\n# Just a title\n", "x.md")] == [(3, "error")]
    assert "no YAML frontmatter" in lint("# Title\n", "x.md")[0].message
    assert [(i.line, i.message) for i in lint("", None)] == [
        (1, "empty runbook: expected YAML frontmatter starting with a '---' line")
    ]
    assert lint("", None)[0].path == "<text>"
