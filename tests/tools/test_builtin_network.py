"""network_diagnostics: every number equal to what the bundle states (ground truth and the files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tools.conftest import Bundles
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import call_tool

SYSCTL_LINE = re.compile(r"^net\.netfilter\.nf_conntrack_(count|max|buckets) = (\d+)$")


def sysctl_values(root: Path) -> dict[str, int]:
    values = {}
    for line in (root / "sysctls/sysctl_all.txt").read_text().splitlines():
        if m := SYSCTL_LINE.match(line):
            values[m.group(1)] = int(m.group(2))
    return values


def section(node, name: str) -> tuple[dict, dict]:
    res = node.ok("network_diagnostics", {"sections": name})
    assert res["sections"] == [name]
    return res["diagnostics"][name], res


@pytest.mark.parametrize("name", ["kernel_full", "healthy", "al2"])
def test_kube_proxy_conntrack_numbers_equal_the_sysctl_file(bundles: Bundles, name: str) -> None:
    node = bundles[name]
    diag, _ = section(node, "kube_proxy")
    ct = diag["conntrack"]
    file_values = sysctl_values(node.path)
    assert ct["count"] == node.truth.conntrack_count == file_values["count"]
    assert ct["max"] == node.truth.conntrack_max == file_values["max"]
    assert ct["buckets"] == node.truth.conntrack_buckets == file_values["buckets"]
    assert ct["utilization_pct"] == round(100 * file_values["count"] / file_values["max"], 2)
    # The cited lines are the ones that hold the values.
    lines = node.lines("sysctls/sysctl_all.txt")
    assert lines[ct["count_source"]["line"] - 1] == f"net.netfilter.nf_conntrack_count = {ct['count']}"
    assert lines[ct["max_source"]["line"] - 1] == f"net.netfilter.nf_conntrack_max = {ct['max']}"


def test_kube_proxy_max_and_drop_sums_equal_the_truth(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    diag, res = section(node, "kube_proxy")
    assert diag["kube_proxy"]["set_nf_conntrack_max"] == node.truth.kube_proxy_conntrack_max
    src = diag["kube_proxy"]["set_source"]
    cited = _line(node.path / src["file"], src["line"])
    assert "nf_conntrack_max" in cited and f"{node.truth.kube_proxy_conntrack_max}" in cited
    stats = diag["stats"]
    assert (stats["drop"], stats["early_drop"], stats["insert_failed"]) == (
        node.truth.stats_drop, node.truth.stats_early_drop, node.truth.stats_insert_failed)
    assert diag["table"]["listed_entries"] == node.truth.listing_entries
    assert any(i["severity"] == "critical" and "drop=" in i["message"] for i in res["issues"])
    critical = [f["finding_id"] for f in node.ok("errors", {"category": "conntrack_table_full"})["findings"]]
    assert set(critical) <= set(res["finding_ids"])


def test_healthy_node_reports_no_conntrack_issue(bundles: Bundles) -> None:
    node = bundles["healthy"]
    diag, res = section(node, "kube_proxy")
    assert diag["conntrack"]["utilization_pct"] < 90
    assert diag["stats"]["drop"] == node.truth.stats_drop == 0
    assert res["issues"] == [] and res["finding_ids"] == []


def test_the_newest_kube_proxy_setting_wins(tmp_path: Path, copy_of) -> None:
    """kube-proxy restarted with another max: the value in force is the newest, not the first file read."""
    root = copy_of("kernel_full")
    live = next(p for p in root.glob("var_log/kube-system_kube-proxy*/kube-proxy/0.log"))
    with open(live, "a", encoding="utf-8") as fh:
        fh.write('2026-07-30T14:10:00.000000000Z stderr F I0730 14:10:00.000000       1 conntrack.go:60] '
                 '"Setting nf_conntrack_max" nfConntrackMax=524288\n')
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    assert call_tool(ctx, "collect", {"bundle": str(root)}).ok
    kp = call_tool(ctx, "network_diagnostics", {"sections": "kube_proxy"}).result["diagnostics"]["kube_proxy"]
    assert kp["kube_proxy"]["set_nf_conntrack_max"] == 524288
    assert kp["kube_proxy"]["set_source"]["file"] == live.relative_to(root).as_posix()


def _line(path: Path, number: int) -> str:
    import gzip

    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode().splitlines()[number - 1]


def test_ena_counters_per_interface_including_the_secondary_eni(bundles: Bundles) -> None:
    node = bundles["secondary_eni"]
    diag, res = section(node, "ena")
    rows = {r["interface"]: r for r in diag["interfaces"]}
    assert set(rows) >= set(node.truth.conntrack_available)
    for iface, row in rows.items():
        positive = {k: v for k, v in row["allowance_exceeded"].items() if v > 0}
        assert positive == node.truth.allowance_exceeded.get(iface, {})
        assert row["conntrack_allowance_available"] == node.truth.conntrack_available.get(iface)
        assert row["ena_ge_2_8_1"] is True
        lines = node.lines("networking/ethtool.txt")
        for counter, line in row["sources"].items():
            assert lines[line - 1].strip() == f"{counter}: {row['allowance_exceeded'][counter]}"
    assert rows["ens6"]["allowance_exceeded"]["conntrack_allowance_exceeded"] > 0
    assert rows["ens5"]["allowance_exceeded"]["conntrack_allowance_exceeded"] == 0
    crit = [i for i in res["issues"] if i["severity"] == "critical"]
    assert [i["message"].split(":")[0] for i in crit] == ["ens6"]
    assert "conntrack_allowance_exceeded" in crit[0]["message"]


def test_dns_section_on_the_link_local_scenario(bundles: Bundles) -> None:
    node = bundles["linklocal"]
    diag, res = section(node, "dns")
    exceeded = {i: c["linklocal_allowance_exceeded"] for i, c in node.truth.allowance_exceeded.items()
                if "linklocal_allowance_exceeded" in c}
    assert exceeded
    assert {i: v for i, v in diag["linklocal_allowance_exceeded"].items() if v > 0} == exceeded
    issue = next(i for i in res["issues"] if "linklocal_allowance_exceeded" in i["message"])
    lines = node.lines("networking/ethtool.txt")
    for src in issue["sources"]:
        assert lines[src["line"] - 1].strip().startswith("linklocal_allowance_exceeded: ")
    assert sum(diag["errors_by_kind"].values()) == node.truth.dns_errors
    assert diag["nameservers"] and diag["samples"]


def test_dns_errors_in_application_logs_are_counted(bundles: Bundles) -> None:
    """Application pods' DNS failures (not only CoreDNS's) count, wherever the collector put the log."""
    node = bundles["kernel_full"]
    diag, _ = section(node, "dns")
    assert sum(diag["errors_by_kind"].values()) == node.truth.dns_errors
    assert sum(diag["errors_by_upstream"].values()) == node.truth.dns_errors


def test_missing_sysctl_is_a_gap_not_a_number(bundles: Bundles) -> None:
    node = bundles["gappy"]
    diag, res = section(node, "kube_proxy")
    assert (diag["conntrack"] or {}).get("count") is None
    assert any("sysctl_all.txt" in g for g in res["gaps"])
    assert diag["stats"]["drop"] == node.truth.stats_drop  # what is there is still read


def test_iptables_routes_cni_ipamd(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    res = node.ok("network_diagnostics", {"sections": "iptables,routes,cni,ipamd"})
    d = res["diagnostics"]
    save = node.lines(d["iptables"]["file"])
    assert d["iptables"]["rules"] == sum(1 for ln in save if ln.startswith("-A"))
    assert d["iptables"]["kube_services_present"] is True
    routes = node.lines("networking/iproute.txt")
    assert d["routes"]["routes"] == sum(1 for ln in routes if ln.strip())
    assert d["routes"]["default"] == next(ln.strip() for ln in routes if ln.startswith("default"))
    assert d["cni"]
    assert d["ipamd"]["files"]


def test_sections_all_aliases_and_unknown(bundles: Bundles) -> None:
    node = bundles["healthy"]
    everything = node.ok("network_diagnostics", {})
    assert everything["sections"] == ["kube_proxy", "ena", "dns", "iptables", "routes", "cni", "ipamd"]
    assert node.ok("network_diagnostics", {"sections": ["conntrack", "eni"]})["sections"] == ["kube_proxy", "ena"]
    bad = node.call("network_diagnostics", {"sections": "kube_proxy,wormholes"})
    assert not bad.ok and "wormholes" in (bad.error or "") and "kube_proxy" in (bad.hint or "")


def test_sections_are_parsed_once_per_bundle_and_handed_out_as_copies(bundles: Bundles, monkeypatch) -> None:
    from tools.builtin import network

    full, healthy = bundles["kernel_full"], bundles["healthy"]
    parsed: list[int] = []
    real = network.parse_conntrack_file
    monkeypatch.setattr(network, "parse_conntrack_file", lambda lines: parsed.append(1) or real(lines))
    monkeypatch.setattr(network, "_SECTION_CACHE", type(network._SECTION_CACHE)())
    issues: list = []
    first = network.kube_proxy_section(full.record(), issues, [])
    first["conntrack"]["count"] = -1  # a reader scribbling on its copy
    again: list = []
    second = network.kube_proxy_section(full.record(), again, [])
    assert parsed == [1]
    assert second["conntrack"]["count"] == full.truth.conntrack_count
    assert issues and [i.message for i in again] == [i.message for i in issues]
    other = network.kube_proxy_section(healthy.record(), [], [])
    assert parsed == [1, 1] and other["conntrack"]["count"] == healthy.truth.conntrack_count
