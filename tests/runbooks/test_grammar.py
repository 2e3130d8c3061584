"""The small grammars inside a runbook: step bullets, rating lines, labels, ids, rules."""

from __future__ import annotations

import pytest

from runbooks.frontmatter import runbook_id
from runbooks.model import Runbook
from runbooks.parse import parse_runbook
from runbooks.rules import best_label, regex_literal
from runbooks.sections import labels_of, parse_rating, split_actions
from runbooks.steps import find_args, find_condition, find_tool


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("Use `collect` tool with instanceId to gather logs", "collect"),
        ("Use `search` with query=`x` — short form", "search"),
        ("Use the `errors` tool", "errors"),
        ("Review `network_diagnostics` output for iptables section", "network_diagnostics"),
        ("Use EKS MCP `get_cloudwatch_logs` with clusterName", "get_cloudwatch_logs"),
        ("Check kube-proxy pods: `kubectl get pods -n kube-system`", None),
        ("Manually run `tcpdump` on the node", None),
        ("State root cause: kernel conntrack limit or AWS instance limit", None),
        # A regex that happens to name a tool is an argument, not a call.
        ("Use `search` tool with query=`errors` to look", "search"),
        ("Look at query=`collect` tool output", None),
    ],
)
def test_find_tool(text: str, tool: str | None) -> None:
    assert find_tool(text) == tool


def test_find_args_forms_and_order() -> None:
    text = ("Use `search` tool with instanceId and query=`a.*b|c \\(x\\)` and sections=cni,ipamd,eni, "
            "pivotEvent=\"oom-killer\" and severity=critical. Also finding_ids from it")
    assert find_args(text) == {
        "instanceId": None,
        "query": "a.*b|c \\(x\\)",
        "sections": "cni,ipamd,eni",
        "pivotEvent": "oom-killer",
        "severity": "critical",
    }


def test_bare_names_need_a_parameter_context() -> None:
    assert find_args("Use `search` tool to query the logs by severity") == {}
    assert find_args("Use `summarize` tool with instanceId and finding_ids from x") == {
        "instanceId": None, "finding_ids": None}
    assert find_args("Use `compare_nodes` tool with instanceIds of affected + healthy node") == {
        "instanceIds": None}


def test_query_is_byte_exact_even_with_backticks_inside() -> None:
    assert find_args("Use `search` tool with query=``a`b|c``") == {"query": "a`b|c"}
    assert find_args("Use `search` tool with query=`  spaced  `") == {"query": "  spaced  "}


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("Use `search` tool with query=`table full` — if found, kernel limit", "if found, kernel limit"),
        ("Use `search` tool with query=`a - if b` – if matches, x", "if matches, x"),
        ("Use `search` tool with query=`x`; if found: y", "if found: y"),
        ("Use `errors` tool to get findings — look for conntrack errors", None),
        ("If kube-proxy is down, report it", None),
    ],
)
def test_find_condition(text: str, condition: str | None) -> None:
    assert find_condition(text) == condition


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Log collection (collect), search: GREEN (read-only)",
         [("Log collection (collect)", "GREEN", "read-only", ["collect"]), ("search", "GREEN", "read-only", ["search"])]),
        ("Modify sysctl settings: YELLOW — operator action, not available via MCP tools",
         [("Modify sysctl settings", "YELLOW", "operator action, not available via MCP tools", [])]),
        ("Upsize instance: red - requires approval", [("Upsize instance", "RED", "requires approval", [])]),
        ("Any remediation actions: YELLOW/RED — operator action",
         [("Any remediation actions", "RED", "operator action", [])]),
        ("GREEN: Read-only operations (kubectl get, describe)",
         [("Read-only operations (kubectl get, describe)", "GREEN", "", [])]),
        ("Restart kubelet (operator, `restart_kubelet`): requires approval, RED",
         [("Restart kubelet (operator, `restart_kubelet`)", "RED", "requires approval, RED", ["restart_kubelet"])]),
        ("Redeploy: Greenfield only, no colour here", None),
        ("Modify sysctl settings: operator action", None),
    ],
)
def test_parse_rating(line: str, expected: list[tuple[str, str, str, list[str]]] | None) -> None:
    ratings = parse_rating(line)
    if expected is None:
        assert ratings is None
    else:
        assert ratings is not None
        assert [(r.action, r.rating, r.note, r.tools) for r in ratings] == expected


def test_split_actions_respects_parentheses() -> None:
    assert split_actions("a (b, c), `d`, 'e'") == ["a (b, c)", "d", "e"]


@pytest.mark.parametrize(
    ("template", "labels"),
    [
        ('root_cause: "<kernel_conntrack|aws_instance_limit> exhaustion"\nx: "<a|b>"',
         ["kernel_conntrack", "aws_instance_limit"]),
        ('root_cause: "x — <api | crash|config_error>"', ["api", "crash", "config_error"]),
        ('root_cause: "<cause>"\ndomain: "<kernel|net>"\nother: "<a|kernel>"', ["kernel", "net", "a"]),
        ('root_cause: "<identified cause>"', []),
    ],
)
def test_labels_of(template: str, labels: list[str]) -> None:
    assert labels_of(template) == labels


@pytest.mark.parametrize(
    ("title", "explicit", "path", "rid"),
    [
        ("D3 — Conntrack Exhaustion", "", None, "D3"),
        ("A2-cert — Node NotReady Due to Expired Certificate", "", None, "A2-cert"),
        ("D3 - Conntrack", "", None, "D3"),
        ("D3: Conntrack", "", None, "D3"),
        ("Conntrack exhaustion", "", "lib/D3-conntrack-exhaustion.md", "D3"),
        ("Conntrack exhaustion", "", "lib/conntrack.md", "conntrack"),
        ("D3 — Conntrack", "custom", None, "custom"),
        ("Conntrack exhaustion", "", None, None),
    ],
)
def test_runbook_id(title: str, explicit: str, path: str | None, rid: str | None) -> None:
    assert runbook_id(title, explicit, path) == rid


def test_label_overlap() -> None:
    labels = ["kernel_conntrack", "aws_instance_limit"]
    assert best_label("kernel conntrack limit hit (can increase via sysctl)", labels) == "kernel_conntrack"
    assert best_label("AWS instance-level limit (need bigger instance, sysctl will not help)",
                      labels) == "aws_instance_limit"
    assert best_label("conntrack limit", labels) is None  # 1 vs 1: a tie names no label
    assert best_label("something else", labels) is None


def test_regex_literal_escapes_only_metacharacters() -> None:
    assert regex_literal("nf_conntrack: table full") == "nf_conntrack: table full"
    assert regex_literal("a.b (c)|d*") == "a\\.b \\(c\\)\\|d\\*"


def _runbook(phase_body: str, extra: str = "") -> Runbook:
    return parse_runbook(
        "---\ntitle: \"T1 — Test\"\ndescription: d\nstatus: active\nseverity: HIGH\ntriggers: [x]\n---\n"
        f"## Phase 1 — Triage\n{phase_body}\n{extra}\n## Output Format\n```yaml\nroot_cause: \"<a_b|c_d>\"\n```\n",
        "t1.md",
    )


def test_nested_bullets_fold_unless_they_call_a_tool() -> None:
    rb = _runbook(
        "MUST:\n"
        "- **PREREQUISITE — Is kubelet running?** Verify first:\n"
        "  - Use `search` tool with query=`kubelet.service.*running` to check\n"
        "  - ONLY if it runs, proceed\n"
        "    continued on the next line\n"
        "- Use `errors` tool with instanceId\n"
    )
    steps = rb.phases[0].steps
    assert [(s.line, s.tool) for s in steps] == [(10, None), (11, "search"), (14, "errors")]
    assert steps[0].text == ("**PREREQUISITE — Is kubelet running?** Verify first:\n"
                             "  - ONLY if it runs, proceed continued on the next line")


def test_bullet_with_its_own_label_and_inline_label_step() -> None:
    rb = _runbook("MUST: Use `collect` tool with instanceId\n- MAY: use `history` tool with instanceId\n")
    assert [(s.priority, s.tool) for s in rb.phases[0].steps] == [("MUST", "collect"), ("MAY", "history")]


def test_labels_inside_code_fences_are_ignored() -> None:
    rb = _runbook("MUST:\n- Use `collect` tool\n```\nMAY:\n- Use `history` tool\n## Guardrails\n```\n")
    assert [s.tool for s in rb.phases[0].steps] == ["collect"]


def test_common_issue_rules_skip_non_log_tools_and_negatives() -> None:
    from runbooks.compile import compile_runbook

    extra = (
        "## Common Issues\n\n"
        "- symptoms: \"list_k8s_resources returns kube-proxy pod in CrashLoopBackOff\"\n"
        "  diagnosis: \"a b\"\n  resolution: \"r\"\n\n"
        "- symptoms: \"search returns no results\"\n  diagnosis: \"a b\"\n  resolution: \"r\"\n\n"
        "- symptoms: 'errors tool returns \"x509: certificate has expired\" for kubelet'\n"
        "  diagnosis: \"c d reached\"\n  resolution: \"r\"\n"
    )
    compiled = compile_runbook(_runbook("MUST:\n- Use `collect` tool\n", extra))
    assert [(r.source, r.evidence.tool, r.evidence.query, r.label) for r in compiled.rules] == [
        ("common_issue", "search", "x509: certificate has expired", "c_d"),
    ]
