"""One test per irregularity the parser must accept, each on its own sample runbook."""

from __future__ import annotations

from pathlib import Path

from runbooks.compile import compile_runbook
from runbooks.model import Runbook
from runbooks.parse import parse_file, parse_runbook

OK = Path(__file__).parent / "samples" / "ok"


def _steps(rb: Runbook, phase: str) -> list[tuple[int, str, str | None]]:
    ph = next(p for p in rb.phases if p.name == phase)
    return [(s.line, s.priority, s.tool) for s in ph.steps]


def test_crlf_line_endings_parse_like_lf() -> None:
    path = OK / "crlf-oom.md"
    raw = path.read_bytes()
    assert b"\r\n" in raw and raw.count(b"\r\n") == raw.count(b"\n")
    crlf = parse_file(path)
    lf = parse_runbook(raw.decode("utf-8").replace("\r\n", "\n"), str(path))
    lf.source = crlf.source
    assert crlf == lf
    query = crlf.phases[0].steps[2].args["query"]
    assert query == "Memory cgroup out of memory|oom-kill:constraint=CONSTRAINT_MEMCG"
    assert all("\r" not in s.text for p in crlf.phases for s in p.steps)
    assert crlf.labels == ["container_limit", "node_pressure"]
    assert crlf.context.endswith("runs low on memory.")


def test_missing_final_newline_and_two_phases() -> None:
    path = OK / "no-final-newline-two-phases.md"
    assert not path.read_bytes().endswith(b"\n")
    rb = parse_file(path)
    assert [p.name for p in rb.phases] == ["Triage", "Report"]
    assert rb.output_format is not None and rb.output_format.endswith("severity: MEDIUM")
    # root_cause has no <a|b> group, so the labels come from the template's other group.
    assert rb.labels == ["kernel", "kubelet", "network", "storage", "unknown"]
    assert _steps(rb, "Triage") == [(16, "MUST", "collect"), (17, "MUST", "errors")]
    assert rb.phases[0].steps[1].args == {"instanceId": None, "severity": "all"}


def test_folded_context_block() -> None:
    rb = parse_file(OK / "folded-context.md")
    assert rb.context == (
        "kube-proxy programs iptables or IPVS rules that map Service IPs to pod endpoints.\n"
        "When it stops syncing, Services fail while pod IPs still work."
    )
    assert rb.triggers == ["error syncing iptables rules", "Failed to list \\*v1.Endpoints"]
    assert rb.phases[0].steps[1].args == {"instanceId": None, "sections": "iptables,kube_proxy"}


def test_unlabelled_first_blocks_count_as_must() -> None:
    rb = parse_file(OK / "first-block.md")
    assert _steps(rb, "Triage") == [
        (17, "MUST", "cluster_health"),  # under "FIRST — Check node and pod state …:"
        (18, "MUST", None),
        (21, "MUST", "collect"),
        (22, "MUST", "errors"),
    ]
    # A FIRST line with no bullets is itself a step; "Optional …, if time permits:" makes a MAY block.
    assert _steps(rb, "Enrich")[:2] == [(26, "MUST", "status"), (29, "MAY", "history")]
    assert rb.phases[1].steps[0].text.startswith("FIRST — confirm the collection finished")


def test_qualified_labels_become_conditions() -> None:
    rb = parse_file(OK / "qualified-labels.md")
    triage = rb.phases[0].steps
    assert [(s.line, s.priority, s.tool, s.condition) for s in triage] == [
        (16, "MUST", "collect", None),
        (17, "MUST", "network_diagnostics", None),
        (22, "MUST", "search", "if IPVS mode detected"),
        (25, "SHOULD", "search", "for cross-node pod communication"),
    ]
    enrich = rb.phases[1].steps
    assert enrich[0].condition == "if found, iptables sync failure in kube-proxy"
    # "MUST (…). Run these manually on the node:" is a label with prose after its qualifier.
    assert (enrich[1].line, enrich[1].priority, enrich[1].tool) == (33, "MUST", "correlate")
    assert enrich[1].condition == "if the issue is not identified from log analysis above"
    assert enrich[1].args == {"instanceId": None, "pivotEvent": "kube-proxy"}


def test_subheadings_and_numbered_lists() -> None:
    rb = parse_file(OK / "subheadings-numbered.md")
    enrich = next(p for p in rb.phases if p.name == "Enrich")
    assert [(s.line, s.priority, s.tool, s.subheading) for s in enrich.steps] == [
        (24, "MUST", "network_diagnostics", "2A — CNI and IP allocation"),
        (25, "MUST", "search", "2A — CNI and IP allocation"),
        (28, "SHOULD", "search", "2A — CNI and IP allocation"),
        (33, "MUST", "network_diagnostics", "2B — Routes and iptables"),
        (34, "MUST", "search", "2B — Routes and iptables"),
        # A sub-heading starts a new block: its unlabelled bullets are MUST, not the SHOULD above.
        (38, "MUST", "correlate", "Timeline Correlation"),
    ]
    assert enrich.steps[0].args == {"instanceId": None, "sections": "cni,ipamd,eni"}
    assert enrich.steps[5].args == {"instanceId": None, "pivotEvent": "no route to host"}
    compiled = compile_runbook(rb)
    assert [(r.evidence.query, r.label) for r in compiled.rules] == [
        ("failed to assign an IP address", "ip_exhaustion"),
        ("DROP|REJECT", "iptables_drop"),
    ]


def test_emoji_and_warning_lines() -> None:
    rb = parse_file(OK / "emoji-warnings.md")
    triage = rb.phases[0].steps
    assert [(s.line, s.priority, s.tool) for s in triage] == [
        (18, "MUST", "collect"),
        (19, "MUST", "search"),
        (20, "MUST", None),  # "❌ Never run `systemctl restart kubelet` yourself": a reasoning step
        (23, "SHOULD", "errors"),
    ]
    assert triage[1].args == {"query": "PLEG is not healthy|relist"}
    assert triage[0].text.endswith("🚀")
    enrich = rb.phases[1].steps
    assert [s.line for s in enrich] == [30, 31]  # the "> 💡 Tip" line is prose
    assert enrich[0].args["query"] == "containerd.*(timeout|deadline exceeded)"


def test_four_phases() -> None:
    rb = parse_file(OK / "four-phases.md")
    assert [p.name for p in rb.phases] == ["Triage", "Enrich", "Verify", "Report"]
    compiled = compile_runbook(rb)
    verify = compiled.phases[2]
    assert [s.tool for s in verify.gate.required] == ["compare_nodes"]
    assert len(verify.gate.reasoning) == 1
    assert verify.steps[0].args == {"instanceIds": None}
    assert verify.tools == ["compare_nodes", "validate"]
    assert compiled.report.fields == ["root_cause", "severity"]
    dns = compiled.escalation[0]
    # The runbook is about DNS, so DNS findings alone are its problem: no extra label needed.
    assert (dns.categories_any, dns.min_nodes, dns.requires_label) == (["dns"], 2, False)


def test_unfenced_guardrails_yaml() -> None:
    rb = parse_file(OK / "unfenced-guardrails.md")
    g = rb.guardrails
    assert g.escalation_conditions == [
        "Bandwidth allowance exceeded on multiple nodes",
        "Packet drops continue after upsizing",
    ]
    assert g.condition_lines == {"Bandwidth allowance exceeded on multiple nodes": 38,
                                 "Packet drops continue after upsizing": 39}
    assert [(r.action, r.rating, r.note, r.line) for r in g.safety_ratings] == [
        ("Log collection (collect)", "GREEN", "read-only", 42),
        ("search", "GREEN", "read-only", 42),
        ("network_diagnostics", "GREEN", "read-only", 42),
        ("Upsize instance", "RED", "operator action, requires approval", 43),
        ("Enable ENA Express", "YELLOW", "operator action", 44),
    ]
    assert g.approvers == ["sre-oncall", "network-team"]
    compiled = compile_runbook(rb)
    counters = [(r.id, r.source, r.evidence.counter, r.label) for r in compiled.rules]
    assert counters == [
        ("R1", "step", "bw_in_allowance_exceeded", "bandwidth_allowance"),
        ("R2", "step", "pps_allowance_exceeded", "pps_allowance"),
        ("R3", "common_issue", "bw_in_allowance_exceeded", "bandwidth_allowance"),
        ("R4", "common_issue", "pps_allowance_exceeded", "pps_allowance"),  # "`…` is non-zero"
    ]
    assert all(r.evidence.kind == "counter" and r.evidence.op == ">" and r.evidence.threshold == 0
               for r in compiled.rules)
    bandwidth = compiled.escalation[0]
    assert (bandwidth.labels_any, bandwidth.categories_any, bandwidth.min_nodes) == (
        ["bandwidth_allowance"], ["ena_allowance"], 2)


def test_repeated_headings_merge() -> None:
    rb = parse_file(OK / "repeated-headings.md")
    assert [p.name for p in rb.phases] == ["Triage", "Enrich", "Report"]
    assert _steps(rb, "Enrich") == [(21, "MUST", "search"), (26, "SHOULD", "search")]
    # Bullets ("- GREEN: collect, …") and YAML restating them give one rating per action.
    assert [(r.action, r.rating, r.note) for r in rb.guardrails.safety_ratings] == [
        ("collect", "GREEN", "read-only"),
        ("search", "GREEN", "read-only"),
        ("summarize", "GREEN", "read-only"),
        ("Restart containerd", "RED", "operator action, requires approval"),
    ]
    assert rb.guardrails.escalation_conditions == ["Containerd crash on multiple nodes"]
