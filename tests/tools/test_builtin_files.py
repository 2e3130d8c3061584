"""read and search: bounded views of bundle files, S-NNN ids, and grounding in findings."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.tools.conftest import Bundles
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import call_tool

SEARCH_ID = re.compile(r"^S-\d{3,}$")

# --------------------------------------------------------------------------------------- read


def test_read_returns_the_exact_line_range(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    lines = node.lines("kernel/dmesg.current")
    res = node.ok("read", {"logKey": "kernel/dmesg.current", "startLine": 5, "lineCount": 3})
    assert res["lines"] == lines[4:7]
    assert (res["startLine"], res["endLine"]) == (5, 7)
    assert res["hasMore"] is True and res["nextStartLine"] == 8
    follow = node.ok("read", {"logKey": "kernel/dmesg.current", "startLine": res["nextStartLine"], "lineCount": 2})
    assert follow["lines"] == lines[7:9]


def test_read_last_page_and_past_the_end(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    lines = node.lines("kernel/dmesg.current")
    n = len(lines)
    tail = node.ok("read", {"logKey": "kernel/dmesg.current", "startLine": n - 1, "lineCount": 10})
    assert tail["lines"] == lines[-2:] and tail["hasMore"] is False and tail["nextStartLine"] is None
    assert tail["endLine"] == n
    past = node.ok("read", {"logKey": "kernel/dmesg.current", "startLine": n + 10})
    assert past["lines"] == [] and past["hasMore"] is False


def test_read_negative_start_counts_from_the_end(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    lines = node.lines("kernel/dmesg.current")
    res = node.ok("read", {"logKey": "kernel/dmesg.current", "startLine": -3})
    assert res["lines"] == lines[-3:]
    assert res["startLine"] == len(lines) - 2 and res["endLine"] == len(lines)


def test_read_accepts_the_archive_prefix_and_reads_rotated_gz(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    assert node.ok("read", {"logKey": "./kernel/dmesg.current", "lineCount": 2})["lines"] == node.lines(
        "kernel/dmesg.current"
    )[:2]
    gz = next(p for p in sorted(node.path.rglob("*.gz")))
    rel = gz.relative_to(node.path).as_posix()
    text = gzip.decompress(gz.read_bytes()).decode().splitlines()
    assert node.ok("read", {"logKey": rel, "lineCount": 4})["lines"] == text[:4]


@pytest.mark.parametrize(
    "key",
    ["../x", "kernel/../../x", "./../kernel/dmesg.current", "/etc/passwd", "kernel\\dmesg.current", "kernel/\x00x"],
)
def test_read_refuses_paths_that_leave_the_bundle(bundles: Bundles, key: str) -> None:
    out = bundles["kernel_full"].call("read", {"logKey": key})
    assert not out.ok
    assert repr(key) in (out.error or "") or key in (out.error or "")


def test_read_missing_file_and_directory(bundles: Bundles) -> None:
    node = bundles["gappy"]
    out = node.call("read", {"logKey": "sysctls/sysctl_all.txt"})
    assert not out.ok and out.code == "not_found" and "sysctls/sysctl_all.txt" in (out.error or "")
    assert node.call("read", {"logKey": "kernel"}).code == "not_found"


def test_read_refuses_binary_files(tmp_path: Path, copy_of) -> None:
    root = copy_of("healthy")
    (root / "system" / "core.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    assert call_tool(ctx, "collect", {"bundle": str(root)}).ok
    out = call_tool(ctx, "read", {"logKey": "system/core.bin"})
    assert not out.ok and "system/core.bin" in (out.error or "") and "binary" in (out.error or "")


def test_read_bounds_its_arguments(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    assert node.call("read", {"logKey": "kernel/dmesg.current", "lineCount": 0}).code == "invalid_args"
    assert node.call("read", {"logKey": "kernel/dmesg.current", "lineCount": 5000}).code == "invalid_args"
    assert node.call("read", {}).code == "invalid_args"


# ------------------------------------------------------------------------------------- search


def test_search_ids_are_unique_and_remembered(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    ctx = node.ctx()
    first = node.ok("search", {"query": "table full"}, ctx)
    second = node.ok("search", {"query": "nf_conntrack_max|nf_conntrack_count"}, ctx)
    ids = [g["search_id"] for r in (first, second) for g in r["results"]]
    assert len(ids) == len(set(ids)) >= 3
    assert all(SEARCH_ID.match(i) for i in ids)
    assert set(ctx.search_memory) == set(ids)
    for r in (first, second):
        for g in r["results"]:
            memo = ctx.search_memory[g["search_id"]]
            assert memo["file"] == g["file"] and memo["query"] == r["query"]
            assert memo["instance_id"] == node.instance_id and memo["count"] == g["matchCount"]
            assert memo["finding_ids"] == g["finding_ids"]
    # A fresh context starts over: ids are per run, not global.
    assert node.ok("search", {"query": "table full"})["results"][0]["search_id"] == "S-001"


def test_table_full_hits_cite_the_kernel_finding(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    findings = {f["file"]: f["finding_id"] for f in node.ok("errors", {"category": "conntrack_table_full"})["findings"]}
    res = node.ok("search", {"query": "table full", "maxResults": 500})
    assert res["totalMatches"] == node.truth.table_full_lines
    assert {g["file"] for g in res["results"]} == set(node.truth.evidence_files["table_full"])
    for g in res["results"]:
        assert g["finding_ids"] == [findings[g["file"]]]
        assert g["matchCount"] == node.truth.evidence_files["table_full"][g["file"]]
        assert all(m["finding_ids"] == [findings[g["file"]]] for m in g["matches"])
    assert res["grounded_search_ids"] == [g["search_id"] for g in res["results"]]


def test_red_herring_words_match_but_cite_no_finding(bundles: Bundles) -> None:
    node = bundles["red_herring"]
    res = node.ok("search", {"query": "table full"})
    assert res["totalMatches"] == node.truth.red_herring_lines > 0
    assert res["results"] and all(g["finding_ids"] == [] for g in res["results"])
    assert all(m["finding_ids"] == [] for g in res["results"] for m in g["matches"])
    assert res["grounded_search_ids"] == []


def test_healthy_counter_name_matches_but_is_not_evidence(bundles: Bundles) -> None:
    node = bundles["healthy"]
    res = node.ok("search", {"query": "conntrack_allowance_exceeded"})
    groups = res["results"]
    assert [g["file"] for g in groups] == ["networking/ethtool.txt"]
    assert all(m["text"].strip() == "conntrack_allowance_exceeded: 0" for m in groups[0]["matches"])
    assert groups[0]["finding_ids"] == [] and res["grounded_search_ids"] == []


def test_secondary_eni_counter_hit_cites_its_counter_finding(bundles: Bundles) -> None:
    node = bundles["secondary_eni"]
    finding = next(f for f in node.ok("errors")["findings"] if f.get("counter") == "conntrack_allowance_exceeded")
    res = node.ok("search", {"query": "conntrack_allowance_exceeded"})
    matches = {m["line"]: m for g in res["results"] for m in g["matches"]}
    assert matches[finding["line"]]["finding_ids"] == [finding["finding_id"]]
    assert all(m["finding_ids"] == [] for n, m in matches.items() if n != finding["line"])


def test_invalid_regex_is_a_clear_error(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    for query in ("(unclosed", "a{2,1}", "(?<=x)y", "[z-a]"):
        out = node.call("search", {"query": query})
        assert not out.ok and out.code == "invalid_regex", query
        assert query in (out.error or "")
        assert out.hint


def test_catastrophic_pattern_runs_in_linear_time(bundles: Bundles) -> None:
    res = bundles["kernel_full"].ok("search", {"query": "(a+)+$"})
    assert res["totalMatches"] >= 0  # completes; rg's automaton has no backtracking to explode


def test_log_types_filter(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    dmesg = node.ok("search", {"query": "table full", "logTypes": "dmesg"})
    assert {g["file"] for g in dmesg["results"]} == {f for f in node.truth.evidence_files["table_full"]
                                                     if f.startswith("kernel/dmesg")}
    kubelet = node.ok("search", {"query": "i/o timeout", "logTypes": "kubelet"})
    assert kubelet["results"] and all(g["file"].startswith("kubelet/") for g in kubelet["results"])
    both = node.ok("search", {"query": "i/o timeout", "logTypes": "kubelet,coredns"})
    assert {g["file"] for g in kubelet["results"]} < {g["file"] for g in both["results"]}
    globbed = node.ok("search", {"query": "nf_conntrack_max", "files": "sysctls/*"})
    assert [g["file"] for g in globbed["results"]] == ["sysctls/sysctl_all.txt"]


def test_unknown_log_type_names_the_choices(bundles: Bundles) -> None:
    out = bundles["kernel_full"].call("search", {"query": "x", "logTypes": "kernel,martian"})
    assert not out.ok and "martian" in (out.error or "") and "dmesg" in (out.hint or "")


def test_caps_keep_counts_complete(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = node.ok("search", {"query": "table full", "maxResults": 2, "context": 0})
    assert res["truncated"] is True
    for g in res["results"]:
        assert len(g["matches"]) == 2 and g["matchesTruncated"] is True
        assert g["matchCount"] == node.truth.evidence_files["table_full"][g["file"]]


def test_context_lines_are_the_neighbours(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = node.ok("search", {"query": "table full", "logTypes": "dmesg", "context": 2, "maxResults": 3})
    for g in res["results"]:
        lines = node.lines(g["file"])
        for m in g["matches"]:
            assert m["text"] == lines[m["line"] - 1]
            assert [c for c in m["before"]] == lines[max(0, m["line"] - 3) : m["line"] - 1]


def test_search_time_window_excludes_dated_lines(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    incident = node.truth.incident_time
    assert incident is not None
    earlier = (incident - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = node.ok("search", {"query": "table full", "incident_time": earlier, "maxResults": 500})
    # dmesg.human.current's lines carry wall-clock times and are all outside; raw dmesg has none.
    files = {g["file"] for g in res["results"]}
    assert "kernel/dmesg.human.current" not in files
    assert res["time_window_filter"]["excluded_outside_window"] == node.truth.evidence_files["table_full"][
        "kernel/dmesg.human.current"
    ]


def test_ignore_case(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    assert node.ok("search", {"query": "TABLE FULL"})["totalMatches"] == 0
    assert node.ok("search", {"query": "TABLE FULL", "ignoreCase": True})["totalMatches"] == node.truth.table_full_lines
