"""cluster_health and compare_nodes over a store of several nodes, grouped by the bundles' cluster."""

from __future__ import annotations

from tests.tools.conftest import CLUSTER, Fleet
from tools.registry import call_tool


def ids(fleet: Fleet, *names: str) -> list[str]:
    return [fleet.nodes[n].instance_id for n in names]


def test_cluster_health_groups_nodes_of_one_cluster(fleet: Fleet) -> None:
    ctx = fleet.ctx()
    res = call_tool(ctx, "cluster_health", {"clusterName": CLUSTER})
    assert res.ok, res.error
    out = res.result
    assert out["cluster"] == CLUSTER and out["totalNodes"] == 3
    assert sorted(n["instanceId"] for n in out["nodes"]) == sorted(ids(fleet, "full_a", "full_b", "allowance"))
    assert "conntrack_table_full" in out["multi_node_categories"]
    assert sorted(out["affected_by_category"]["conntrack_table_full"]) == sorted(ids(fleet, "full_a", "full_b"))
    assert out["affected_by_category"]["ena_allowance"] == ids(fleet, "allowance")
    assert "ena_allowance" not in out["multi_node_categories"]
    for node in out["nodes"]:
        truth = next(n.truth for n in fleet.nodes.values() if n.instance_id == node["instanceId"])
        assert node["conntrack"]["count"] == truth.conntrack_count
        assert node["conntrack"]["max"] == truth.conntrack_max
        exceeded = {i: {k: v for k, v in c.items()} for i, c in truth.allowance_exceeded.items()}
        assert node["allowance_exceeded"] == exceeded
        assert node["cluster"] == CLUSTER


def test_cluster_health_without_a_cluster_shows_the_incident(fleet: Fleet) -> None:
    ctx = fleet.ctx("full_a", "other_cluster")
    out = call_tool(ctx, "cluster_health", {}).result
    assert sorted(n["instanceId"] for n in out["nodes"]) == sorted(ids(fleet, "full_a", "other_cluster"))
    assert any("cluster unknown" in g for g in out["gaps"])
    # Both nodes have a full table, but nothing says they belong together: reported, not hidden.
    assert out["multi_node_categories"] == sorted(
        c for c, nodes in out["affected_by_category"].items() if len(nodes) > 1)


def test_cluster_health_unknown_cluster(fleet: Fleet) -> None:
    out = call_tool(fleet.ctx(), "cluster_health", {"clusterName": "atlantis"})
    assert not out.ok and out.code == "not_found" and "atlantis" in (out.error or "")


def test_compare_nodes_common_and_unique(fleet: Fleet) -> None:
    ctx = fleet.ctx()
    pair = call_tool(ctx, "compare_nodes", {"instanceIds": ids(fleet, "full_a", "full_b")}).result
    common = {e["category"] for e in pair["commonFindings"]}
    assert "conntrack_table_full" in common
    for e in pair["commonFindings"]:
        assert sorted(e["nodes"]) == sorted(ids(fleet, "full_a", "full_b"))

    trio = call_tool(ctx, "compare_nodes", {"instanceIds": ",".join(ids(fleet, "full_a", "full_b", "allowance"))})
    assert trio.ok, trio.error
    res = trio.result
    assert res["comparedNodes"] == ids(fleet, "full_a", "full_b", "allowance")
    assert "conntrack_table_full" not in {e["category"] for e in res["commonFindings"]}
    only_c = res["uniqueFindings"][fleet.nodes["allowance"].instance_id]
    assert {e["category"] for e in only_c} == {"ena_allowance"}
    for e in only_c:
        assert list(e["nodes"]) == ids(fleet, "allowance")
    shared_by_two = {e["signature"] for nid in ids(fleet, "full_a", "full_b") for e in res["uniqueFindings"][nid]}
    assert not any(s.startswith("conntrack_table_full:") for s in shared_by_two)
    for name in ("full_a", "full_b", "allowance"):
        node = fleet.nodes[name]
        assert res["conntrack"][node.instance_id]["count"] == node.truth.conntrack_count
    assert res["allowance_exceeded"][fleet.nodes["allowance"].instance_id]


def test_compare_nodes_by_cluster_and_refusals(fleet: Fleet) -> None:
    ctx = fleet.ctx()
    by_cluster = call_tool(ctx, "compare_nodes", {"clusterName": CLUSTER}).result
    assert sorted(by_cluster["comparedNodes"]) == sorted(ids(fleet, "full_a", "full_b", "allowance"))
    one = call_tool(ctx, "compare_nodes", {"instanceIds": ids(fleet, "full_a")})
    assert not one.ok and "two" in (one.error or "")
    assert not call_tool(fleet.ctx("full_a"), "compare_nodes", {}).ok
    unknown = call_tool(ctx, "compare_nodes", {"instanceIds": [*ids(fleet, "full_a"), "i-0123456789abcdef0"]})
    assert not unknown.ok and "i-0123456789abcdef0" in (unknown.error or "")
