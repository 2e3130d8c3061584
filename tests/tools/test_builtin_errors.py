"""errors: the findings index through the tool, checked against the generator's ground truth."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from tests.tools.conftest import Bundles, Fleet

ALL = 200  # a page size larger than any generated bundle's findings


def all_findings(node, **args) -> list[dict]:
    return node.ok("errors", {"pageSize": ALL, **args})["findings"]


def test_kernel_full_lists_table_full_as_critical_per_file(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = node.ok("errors", {"pageSize": ALL})
    table_full = [f for f in res["findings"] if f["category"] == "conntrack_table_full"]
    assert table_full, "the kernel's table-full lines must be a finding"
    assert all(f["severity"] == "CRITICAL" and f["finding_id"].startswith("F-") for f in table_full)
    # One finding per file, counting exactly the kernel lines the generator wrote there.
    assert {f["file"]: f["count"] for f in table_full} == node.truth.evidence_files["table_full"]
    assert res["summary"]["CRITICAL"] == sum(1 for f in res["findings"] if f["severity"] == "CRITICAL")
    assert res["resolution_reason"] == "no window given: whole bundle"
    assert res["totalFindings"] == len(res["findings"])
    # Ids are unique and stable across calls and contexts.
    ids = [f["finding_id"] for f in res["findings"]]
    assert len(ids) == len(set(ids))
    assert [f["finding_id"] for f in all_findings(node)] == ids


def test_counter_findings_only_when_the_counter_is_positive(bundles: Bundles) -> None:
    node = bundles["secondary_eni"]
    findings = all_findings(node)
    counters = {(f["interface"], f["counter"]): f["value"] for f in findings if f.get("counter")
                and f["category"] == "ena_allowance"}
    expected = {(iface, name): v for iface, cs in node.truth.allowance_exceeded.items() for name, v in cs.items()}
    assert counters == expected
    assert all(v > 0 for v in counters.values())
    crit = [f for f in findings if f.get("counter") == "conntrack_allowance_exceeded"]
    assert [f["severity"] for f in crit] == ["CRITICAL"] and crit[0]["interface"] == "ens6"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", {"CRITICAL"}),
        ("CRITICAL,HIGH", {"CRITICAL", "HIGH"}),
        ("high", {"HIGH"}),
        ("warning", {"HIGH", "WARNING"}),  # the MCP server's "warning" spans our HIGH and WARNING
        ("medium", {"WARNING"}),
        ("low", {"INFO"}),
        ("info", {"INFO"}),
        ("all", {"CRITICAL", "HIGH", "WARNING", "INFO"}),
    ],
)
def test_severity_filter_and_mcp_aliases(bundles: Bundles, severity: str, expected: set[str]) -> None:
    node = bundles["kernel_full"]
    everything = all_findings(node)
    picked = all_findings(node, severity=severity)
    assert {f["severity"] for f in picked} <= expected
    assert [f["finding_id"] for f in picked] == [f["finding_id"] for f in everything if f["severity"] in expected]


def test_unknown_severity_is_refused_with_the_choices(bundles: Bundles) -> None:
    out = bundles["kernel_full"].call("errors", {"severity": "urgent"})
    assert not out.ok and "urgent" in (out.error or "")
    assert "critical" in (out.hint or "")


def test_category_filter(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    everything = all_findings(node)
    dns = all_findings(node, category="dns")
    assert dns and all(f["category"] == "dns" for f in dns)
    assert len(dns) == sum(1 for f in everything if f["category"] == "dns")
    assert all_findings(node, category="no_such_category") == []


def test_paging_walks_every_finding_once(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    everything = [f["finding_id"] for f in all_findings(node)]
    assert len(everything) > 3
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = node.ok("errors", {"pageSize": 3, "pageOffset": offset})
        assert page["pageOffset"] == offset and len(page["findings"]) <= 3
        assert page["totalFindings"] == len(everything)
        seen += [f["finding_id"] for f in page["findings"]]
        assert page["hasMore"] == (page["nextPageOffset"] is not None)
        offset = page["nextPageOffset"]
        pages += 1
    assert seen == everything
    assert pages == -(-len(everything) // 3)


def test_page_token_base64_or_digits(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    by_offset = node.ok("errors", {"pageSize": 2, "pageOffset": 4})
    token = base64.b64encode(b"4").decode()
    by_token = node.ok("errors", {"pageSize": 2, "pageToken": token})
    assert by_token["findings"] == by_offset["findings"] and by_token["pageOffset"] == 4
    assert node.ok("errors", {"pageSize": 2, "pageToken": "4"})["findings"] == by_offset["findings"]
    bad = node.call("errors", {"pageToken": "not a token!"})
    assert not bad.ok and "pageToken" in (bad.error or "")
    assert node.call("errors", {"pageOffset": -1}).code == "invalid_args"


def test_incident_time_window_keeps_and_excludes(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    incident = node.truth.incident_time
    assert incident is not None
    stamp = incident.strftime("%Y-%m-%dT%H:%M:%SZ")
    near = node.ok("errors", {"incident_time": stamp, "pageSize": ALL})
    assert near["window_start_utc"] == (incident - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert near["window_end_utc"] == (incident + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "incident time" in near["resolution_reason"]
    assert any(f["category"] == "conntrack_table_full" for f in near["findings"])

    # An hour earlier the node was fine: every timed finding falls outside the ±5 min window.
    earlier = (incident - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    far = node.ok("errors", {"incident_time": earlier, "pageSize": ALL})
    assert not any(f["category"] == "conntrack_table_full" for f in far["findings"])
    assert all(f["first_ts"] is None for f in far["findings"])  # only undated counter snapshots stay
    timed = sum(1 for f in all_findings(node) if f["first_ts"] is not None)
    assert far["time_window_filter"]["excluded_outside_window"] == timed > 0
    assert far["time_window_filter"]["without_timestamp"] == len(far["findings"])

    explicit = node.ok("errors", {"start_time": earlier, "end_time": stamp, "pageSize": ALL})
    assert explicit["resolution_reason"] == "explicit incident window provided"
    assert explicit["window_end_utc"] == stamp

    bad = node.call("errors", {"incident_time": "yesterday-ish"})
    assert not bad.ok and "incident_time" in (bad.error or "")


def test_cluster_context_marks_findings_other_nodes_share(fleet: Fleet) -> None:
    a, c = fleet.nodes["full_a"], fleet.nodes["allowance"]
    ctx = fleet.ctx("full_a", "full_b", "allowance")
    on_a = ctx_findings(ctx, a.instance_id, clusterContext="prod-east")
    table_full = [f for f in on_a if f["category"] == "conntrack_table_full"]
    assert table_full and all(f["is_baseline"] is True for f in table_full)
    # 1 of the 2 other nodes of prod-east (full_b) shows it; the staging node does not count.
    assert all("1 of 2 other nodes" in f["baseline_note"] for f in table_full)

    on_c = ctx_findings(ctx, c.instance_id, clusterContext="prod-east")
    ena = [f for f in on_c if f["category"] == "ena_allowance"]
    assert ena and all(f["is_baseline"] is False and "baseline_note" not in f for f in ena)

    lonely = ctx_findings(ctx, a.instance_id, clusterContext="no-such-cluster")
    assert all(f["is_baseline"] is False for f in lonely)
    assert all("is_baseline" not in f for f in ctx_findings(ctx, a.instance_id))


def ctx_findings(ctx, instance_id: str, **args) -> list[dict]:
    from tools.registry import call_tool

    out = call_tool(ctx, "errors", {"instanceId": instance_id, "pageSize": ALL, **args})
    assert out.ok, out.error
    return out.result["findings"]


def test_detailed_format_carries_lines_and_sample(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    rows = all_findings(node, response_format="detailed", category="conntrack_table_full")
    for row in rows:
        lines = node.lines(row["file"])
        assert row["line"] == row["lines"][0]
        assert all("table full" in lines[n - 1] for n in row["lines"])
        assert row["sample"] == lines[row["line"] - 1]
    assert node.call("errors", {"response_format": "verbose"}).code == "invalid_args"


def test_healthy_bundle_has_no_findings(bundles: Bundles) -> None:
    res = bundles["healthy"].ok("errors")
    assert res["findings"] == [] and res["totalFindings"] == 0
    assert res["coverage"]["files_scanned"] > 0
