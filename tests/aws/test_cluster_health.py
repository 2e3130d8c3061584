"""cluster_health over EKS, EC2 and SSM: which nodes exist and which cannot be collected from."""

from __future__ import annotations

import uuid

import pytest

from tests.aws.conftest import Rig
from tests.aws.sim import Behaviour
from tools.builtin.fleet import ClusterHealthResult
from tools.registry import call_tool


def _cluster(rig: Rig, name: str | None = None) -> str:
    name = name or f"c-{uuid.uuid4().hex[:8]}"
    eks = rig.sim.client("eks")
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName=name, nodegroupName="ng-1", nodeRole="arn:aws:iam::123456789012:role/node",
                         subnets=["subnet-1"], instanceTypes=["m5.large"])
    return name


@pytest.fixture
def fleet(rig: Rig) -> tuple[str, dict[str, str]]:
    cluster = _cluster(rig)
    nodes = {
        "healthy": rig.sim.launch(cluster=cluster, behaviour=Behaviour(polls=0)),
        "self_managed": rig.sim.launch(cluster=cluster, tag_style="kubernetes", instance_type="c5.xlarge"),
        "unmanaged": rig.sim.launch(cluster=cluster, managed=None),
        "lost": rig.sim.launch(cluster=cluster, managed="ConnectionLost"),
        "stopped": rig.sim.launch(cluster=cluster),
    }
    rig.sim.client("ec2").stop_instances(InstanceIds=[nodes["stopped"]])
    rig.sim.launch(cluster=f"{cluster}-other")  # another cluster's node must not appear
    return cluster, nodes


def test_nodes_and_why_they_cannot_be_collected(rig: Rig, fleet: tuple[str, dict[str, str]]) -> None:
    cluster, nodes = fleet
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": cluster})
    assert out.ok, out.error
    result = ClusterHealthResult.model_validate(out.result)  # the local tool's own result model
    assert result.cluster == cluster and result.totalNodes == 5
    by_id = {n["instanceId"]: n for n in result.nodes}
    assert set(by_id) == set(nodes.values())

    healthy = by_id[nodes["healthy"]]
    assert healthy["collectable"] is True and healthy["cannotCollectBecause"] == []
    assert healthy["state"] == "running" and healthy["instanceType"] == "m5.large"
    assert healthy["ssmStatus"]["pingStatus"] == "Online" and healthy["nodegroup"] == "ng-1"
    assert healthy["nodegroupStatus"] == "ACTIVE"
    assert by_id[nodes["self_managed"]]["collectable"] is True
    assert by_id[nodes["self_managed"]]["instanceType"] == "c5.xlarge"
    assert by_id[nodes["self_managed"]]["nodegroup"] == "unknown"

    unmanaged = by_id[nodes["unmanaged"]]
    assert unmanaged["collectable"] is False and unmanaged["ssmStatus"]["pingStatus"] == "NotRegistered"
    assert "AmazonSSMManagedInstanceCore" in unmanaged["cannotCollectBecause"][0]
    assert "ConnectionLost" in by_id[nodes["lost"]]["cannotCollectBecause"][0]
    stopped = by_id[nodes["stopped"]]
    assert stopped["state"] == "stopped" and stopped["collectable"] is False
    assert stopped["cannotCollectBecause"][0].startswith("EC2 state is stopped")

    blocked = [g for g in result.gaps if g.startswith("cannot collect from ")]
    assert {g.split()[3].rstrip(":") for g in blocked} == {nodes["unmanaged"], nodes["lost"], nodes["stopped"]}
    assert result.nodes[0]["collectable"] is False, "problem nodes are listed first"


def test_collected_nodes_carry_their_bundle_profile(rig: Rig, fleet: tuple[str, dict[str, str]]) -> None:
    cluster, nodes = fleet
    iid = nodes["healthy"]
    eid = call_tool(rig.ctx, "collect", {"instanceId": iid}).result["executionId"]
    assert call_tool(rig.ctx, "status", {"executionId": eid}).ok
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": cluster})
    assert out.ok, out.error
    node = next(n for n in out.result["nodes"] if n["instanceId"] == iid)
    assert node["bundle"]["critical_ids"], "the kernel table-full bundle has headline findings"
    assert node["bundle"]["conntrack"]["count"] > 0
    for category in node["bundle"]["categories"]:
        assert out.result["affected_by_category"][category] == [iid]
    assert any(g.startswith("4 of 5 nodes have no bundle") for g in out.result["gaps"])


def test_the_cluster_is_found_from_the_incident_nodes_tags(rig: Rig, fleet: tuple[str, dict[str, str]]) -> None:
    cluster, nodes = fleet
    rig.ctx.instance_ids = [nodes["self_managed"]]  # only kubernetes.io/cluster/<name> on this one
    out = call_tool(rig.ctx, "cluster_health", {})
    assert out.ok, out.error
    assert out.result["cluster"] == cluster
    assert f"cluster {cluster} taken from the tags of {nodes['self_managed']}" in out.result["gaps"]


def test_without_ssm_status_only_ec2_state_counts(rig: Rig, fleet: tuple[str, dict[str, str]]) -> None:
    cluster, nodes = fleet
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": cluster, "includeSSMStatus": False})
    assert out.ok, out.error
    by_id = {n["instanceId"]: n for n in out.result["nodes"]}
    assert by_id[nodes["unmanaged"]]["collectable"] is True and by_id[nodes["unmanaged"]]["ssmStatus"] is None
    assert by_id[nodes["stopped"]]["collectable"] is False
    assert rig.sim.calls["DescribeInstanceInformation"] == 0


def test_ssm_denied_is_a_gap_not_a_failure(rig: Rig, fleet: tuple[str, dict[str, str]]) -> None:
    cluster, _ = fleet
    rig.sim.denied["DescribeInstanceInformation"] = "ssm:DescribeInstanceInformation"
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": cluster})
    assert out.ok, out.error
    assert any(g.startswith("SSM status not checked: AWS denied ssm:DescribeInstanceInformation")
               for g in out.result["gaps"])


def test_unknown_cluster_and_no_cluster(rig: Rig) -> None:
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": "no-such-cluster"})
    assert not out.ok and out.code == "not_found" and "no-such-cluster" in out.error
    out = call_tool(rig.ctx, "cluster_health", {})
    assert not out.ok and out.code == "invalid_args"


def test_a_cluster_without_instances_says_so(rig: Rig) -> None:
    cluster = _cluster(rig)
    out = call_tool(rig.ctx, "cluster_health", {"clusterName": cluster})
    assert out.ok, out.error
    assert out.result["totalNodes"] == 0 and out.result["nodes"] == []
    assert any(g.startswith("no EC2 instances tagged") for g in out.result["gaps"])
