"""correlate and summarize: timelines anchored on a pivot, and ids resolved into grounded evidence."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.tools.conftest import Bundles, Fleet
from tools.registry import call_tool

# ---------------------------------------------------------------------------------- correlate


def test_conntrack_pivot_chains_table_full_to_dns(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    findings = node.ok("errors", {"pageSize": 200})["findings"]
    table_full = [f["finding_id"] for f in findings if f["category"] == "conntrack_table_full"]
    dns = {f["finding_id"] for f in findings if f["category"] == "dns"}
    assert node.truth.dns_errors > 0 and dns

    res = node.ok("correlate", {"pivotEvent": "conntrack"})
    assert res["pivot_finding_ids"] == table_full
    link = next(c for c in res["chain"] if (c["cause"], c["effect"]) == ("conntrack_table_full", "dns"))
    assert set(link["cause_ids"]) <= set(table_full) and link["cause_ids"]
    assert set(link["effect_ids"]) <= dns and link["effect_ids"]
    # The DNS failures follow the first table-full line, within the window.
    first = {f["finding_id"]: datetime.fromisoformat(f["first_ts"]) for f in findings if f["first_ts"]}
    expected_lag = (min(first[i] for i in link["effect_ids"]) - min(first[i] for i in link["cause_ids"]))
    assert link["lag_seconds"] == expected_lag.total_seconds() >= 0
    assert link["confidence"] == "high" and res["confidence"] == "high"
    # Related: the findings that occur within the default 300 s of the pivot's occurrences.
    pivot_times = [datetime.fromisoformat(f[k]) for f in findings if f["finding_id"] in table_full
                   for k in ("first_ts", "last_ts")]
    lo, hi = min(pivot_times) - timedelta(seconds=300), max(pivot_times) + timedelta(seconds=300)
    expected = {f["finding_id"] for f in findings if f["first_ts"] and f["finding_id"] not in table_full
                and datetime.fromisoformat(f["first_ts"]) <= hi and datetime.fromisoformat(f["last_ts"]) >= lo}
    related = {r["finding_id"] for r in res["related"]}
    assert related == expected
    assert related & dns
    # Every pivot and related finding sits in exactly one cluster.
    clustered = [i for c in res["clusters"] for i in c["finding_ids"]]
    assert sorted(clustered) == sorted({*table_full, *(related & set(first))})
    assert res["clusters"][0]["dominant_severity"] == "CRITICAL"


def test_pivot_by_category_name_and_narrow_window(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    by_cat = node.ok("correlate", {"pivotEvent": "conntrack_table_full"})
    assert by_cat["pivot_finding_ids"] == node.ok("correlate", {"pivotEvent": "conntrack"})["pivot_finding_ids"]
    narrow = node.ok("correlate", {"pivotEvent": "conntrack", "timeWindow": 1})
    wide = node.ok("correlate", {"pivotEvent": "conntrack", "timeWindow": 3600})
    assert len(narrow["related"]) <= len(wide["related"])
    assert len(narrow["clusters"]) >= len(wide["clusters"])


def test_unknown_pivot_has_no_confidence(bundles: Bundles) -> None:
    res = bundles["kernel_full"].ok("correlate", {"pivotEvent": "zebra stampede"})
    assert res["confidence"] == "none" and res["pivot_finding_ids"] == [] and res["chain"] == []
    assert any("zebra stampede" in g for g in res["gaps"])
    healthy = bundles["healthy"].ok("correlate", {"pivotEvent": "conntrack"})
    assert healthy["confidence"] == "none"


def test_correlate_requires_a_pivot(bundles: Bundles) -> None:
    assert bundles["kernel_full"].call("correlate", {}).code == "invalid_args"


# ---------------------------------------------------------------------------------- summarize


def test_summarize_resolves_findings_and_searches(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    ctx = node.ctx()
    findings = node.ok("errors", {"category": "conntrack_table_full"}, ctx)["findings"]
    fid = findings[0]["finding_id"]
    group = node.ok("search", {"query": "table full", "logTypes": "dmesg"}, ctx)["results"][0]
    res = node.ok("summarize", {"finding_ids": [fid, group["search_id"]]}, ctx)
    assert res["unresolved"] == [] and res["grounded"] is True
    kinds = {r["id"]: r["kind"] for r in res["resolved"]}
    assert kinds == {fid: "finding", group["search_id"]: "search"}
    finding_row = next(r for r in res["resolved"] if r["id"] == fid)
    assert (finding_row["file"], finding_row["line"], finding_row["count"]) == (
        findings[0]["file"], findings[0]["line"], findings[0]["count"])
    search_item = next(e for e in res["evidence"] if e["type"] == "search")
    assert search_item["finding_ids"] == [group["search_id"], *group["finding_ids"]]
    assert group["file"] in search_item["content"]
    assert res["by_category"] == {"conntrack_table_full": [fid]}


def test_summarize_never_invents(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    total = node.ok("errors", {"pageSize": 200})["totalFindings"]
    beyond = f"F-{total + 500:03d}"
    res = node.ok("summarize", {"finding_ids": f"F-001, {beyond}; S-042, X-7"})
    assert [r["id"] for r in res["resolved"]] == ["F-001"]
    assert res["unresolved"] == [beyond, "S-042", "X-7"]
    assert res["grounded"] is False
    assert any(beyond in g for g in res["gaps"])
    assert [e["finding_ids"] for e in res["evidence"]] == [["F-001"]]

    nothing = node.ok("summarize", {"finding_ids": ["F-999999"]})
    assert nothing["resolved"] == [] and nothing["confidence"] == "none" and nothing["evidence"] == []


def test_summarize_zero_padding_and_case_are_forgiven(bundles: Bundles) -> None:
    res = bundles["kernel_full"].ok("summarize", {"finding_ids": ["f-1"]})
    assert len(res["resolved"]) == 1 and res["resolved"][0]["finding_id"] == "F-001"


def test_search_id_from_another_instance_does_not_resolve(fleet: Fleet) -> None:
    a, b = fleet.nodes["full_a"], fleet.nodes["full_b"]
    ctx = fleet.ctx("full_a", "full_b")
    found = call_tool(ctx, "search", {"instanceId": a.instance_id, "query": "table full"})
    assert found.ok, found.error
    sid = found.result["results"][0]["search_id"]
    on_a = call_tool(ctx, "summarize", {"instanceId": a.instance_id, "finding_ids": [sid]}).result
    on_b = call_tool(ctx, "summarize", {"instanceId": b.instance_id, "finding_ids": [sid]}).result
    assert [r["id"] for r in on_a["resolved"]] == [sid]
    assert on_b["resolved"] == [] and on_b["unresolved"] == [sid]


def test_summarize_needs_ids(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    empty = node.call("summarize", {"finding_ids": []})
    assert not empty.ok and "finding_ids" in (empty.error or "") and empty.hint
    assert not node.call("summarize", {"finding_ids": " , "}).ok
    assert node.call("summarize", {}).code == "invalid_args"


def test_summarize_confidence_follows_the_evidence(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    findings = node.ok("errors", {"pageSize": 200})["findings"]
    crit = [f["finding_id"] for f in findings if f["severity"] == "CRITICAL"]
    others = [f["finding_id"] for f in findings if f["severity"] != "CRITICAL"]
    assert node.ok("summarize", {"finding_ids": [*crit, *others][:3]})["confidence"] == "high"
    assert node.ok("summarize", {"finding_ids": others[:1]})["confidence"] == "medium"
