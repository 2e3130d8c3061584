"""cluster_health against AWS: which nodes the cluster has, which can be collected from, and why not.

EKS says what the cluster and its node groups are; EC2 says which instances exist (managed nodes
carry `eks:cluster-name`, self-managed ones only `kubernetes.io/cluster/<name>`, so both tags are
searched); SSM says whose agent is online. A node the collector cannot reach is reported with
the reason, because "collect failed" an hour later is a worse way to learn it. Nodes whose bundle
is already in the store also get the same headline profile the local tool reports, so the
result stays comparable with the local `cluster_health` (and validates as its result model).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tools.aws.clients import AwsClients
from tools.aws.errors import AwsCallError
from tools.builtin.fleet import ClusterHealthArgs, ClusterHealthResult, latest_per_node, node_profile
from tools.context import ToolContext
from tools.registry import ToolError

MAX_NODES = 100  # nodes listed in full; the rest are counted (results must stay compact)
_LISTED_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
_SSM_CHUNK = 50


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def _tags(instance: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in instance.get("Tags") or []}


def cluster_of(tags: dict[str, str]) -> str | None:
    """The cluster an instance belongs to, from the tags EKS or the cluster's tooling put on it."""
    if tags.get("eks:cluster-name"):
        return tags["eks:cluster-name"]
    for key, value in tags.items():
        if key.startswith("kubernetes.io/cluster/") and value in ("owned", "shared"):
            return key.removeprefix("kubernetes.io/cluster/")
    return None


def _instances(aws: AwsClients, region: str, cluster: str) -> list[dict[str, Any]]:
    state_filter = {"Name": "instance-state-name", "Values": _LISTED_STATES}
    found: dict[str, dict[str, Any]] = {}
    for filters in (
        [{"Name": "tag:eks:cluster-name", "Values": [cluster]}, state_filter],
        [{"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{cluster}"]}, state_filter],
    ):
        for page in aws.pages("ec2", region, "describe_instances", Filters=filters):
            for reservation in page.get("Reservations") or []:
                for inst in reservation.get("Instances") or []:
                    found.setdefault(inst["InstanceId"], inst)
    return list(found.values())


def _ssm_status(aws: AwsClients, region: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), _SSM_CHUNK):
        chunk = ids[i : i + _SSM_CHUNK]
        for page in aws.pages("ssm", region, "describe_instance_information",
                              Filters=[{"Key": "InstanceIds", "Values": chunk}]):
            for info in page.get("InstanceInformationList") or []:
                out[info["InstanceId"]] = {
                    "pingStatus": info.get("PingStatus"),
                    "agentVersion": info.get("AgentVersion"),
                    "platformName": info.get("PlatformName"),
                    "lastPingTime": _iso(info.get("LastPingDateTime")),
                }
    return out


def _nodegroups(aws: AwsClients, region: str, cluster: str, gaps: list[str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    names = [n for page in aws.pages("eks", region, "list_nodegroups", clusterName=cluster)
             for n in page.get("nodegroups") or []]
    for name in names:
        try:
            ng = aws.call("eks", region, "describe_nodegroup", clusterName=cluster, nodegroupName=name)["nodegroup"]
        except AwsCallError as exc:
            groups[name] = {"name": name, "status": "DESCRIBE_FAILED"}
            gaps.append(f"node group {name}: {exc.message}")
            continue
        issues = [f"{i.get('code')}: {i.get('message')}" for i in (ng.get("health") or {}).get("issues") or []]
        groups[name] = {"name": name, "status": ng.get("status"), "instanceTypes": ng.get("instanceTypes"),
                        "capacityType": ng.get("capacityType"), "issues": issues[:5]}
        if ng.get("status") != "ACTIVE" or issues:
            gaps.append(f"node group {name} is {ng.get('status')}" + (f": {'; '.join(issues[:3])}" if issues else ""))
    return groups


def _why_not_collectable(state: str, ssm: dict[str, Any] | None) -> list[str]:
    why = []
    if state != "running":
        why.append(f"EC2 state is {state}: the collector runs only on a running instance")
    if ssm is not None:
        ping = ssm.get("pingStatus")
        if ping == "NotRegistered":
            why.append("not managed by SSM: no SSM agent, or the node role lacks AmazonSSMManagedInstanceCore")
        elif ping != "Online":
            why.append(f"SSM agent is {ping} (last ping {ssm.get('lastPingTime')}): agent stopped, or no route "
                       "to the ssm/ssmmessages/ec2messages endpoints")
    return why


def cluster_health(
    aws: AwsClients,
    ctx: ToolContext,
    args: ClusterHealthArgs,
    *,
    default_region: str,
    locate: Callable[[str, str | None], tuple[str, dict[str, Any]]],
) -> ClusterHealthResult:
    region = args.region
    cluster = args.clusterName or ctx.cluster
    gaps: list[str] = []
    if not cluster:
        # The incident's node knows its cluster: its tags say so.
        for iid in ctx.instance_ids:
            found_region, inst = locate(iid, args.region)
            cluster = cluster_of(_tags(inst))
            if cluster:
                region = region or found_region
                gaps.append(f"cluster {cluster} taken from the tags of {iid}")
                break
    if not cluster:
        raise ToolError("cluster_health needs clusterName", hint="pass clusterName=<EKS cluster name>",
                        code="invalid_args")
    region = region or default_region
    try:
        info = aws.call("eks", region, "describe_cluster", name=cluster)["cluster"]
    except AwsCallError as exc:
        if exc.aws_code == "ResourceNotFoundException":
            raise ToolError(f"EKS cluster {cluster!r} not found in {region}",
                            hint="check the name (`aws eks list-clusters`) or pass region=…", code="not_found") from None
        raise
    if info.get("status") != "ACTIVE":
        gaps.append(f"cluster {cluster} is {info.get('status')}")
    groups = _nodegroups(aws, region, cluster, gaps)
    instances = _instances(aws, region, cluster)
    ssm: dict[str, dict[str, Any]] | None = None
    if args.includeSSMStatus and instances:
        try:
            ssm = _ssm_status(aws, region, [i["InstanceId"] for i in instances])
        except AwsCallError as exc:
            gaps.append(f"SSM status not checked: {exc.message}")
    elif not args.includeSSMStatus:
        gaps.append("SSM status not checked (includeSSMStatus=false): collectability is judged on EC2 state only")

    bundles = {r.instance_id: r for r in latest_per_node(ctx.store.list())}
    nodes: list[dict[str, Any]] = []
    affected: dict[str, list[str]] = {}
    for inst in sorted(instances, key=lambda i: i["InstanceId"]):
        iid = inst["InstanceId"]
        tags = _tags(inst)
        state = (inst.get("State") or {}).get("Name", "unknown")
        ssm_info = None if ssm is None else ssm.get(iid, {"pingStatus": "NotRegistered", "agentVersion": None})
        why = _why_not_collectable(state, ssm_info)
        node: dict[str, Any] = {
            "instanceId": iid,
            "instanceType": inst.get("InstanceType"),
            "state": state,
            "availabilityZone": (inst.get("Placement") or {}).get("AvailabilityZone"),
            "launchTime": _iso(inst.get("LaunchTime")),
            "nodegroup": tags.get("eks:nodegroup-name") or "unknown",
            "nodegroupStatus": (groups.get(tags.get("eks:nodegroup-name", "")) or {}).get("status"),
            "name": tags.get("Name"),
            "ssmStatus": ssm_info,
            "collectable": not why,
            "cannotCollectBecause": why,
        }
        record = bundles.get(iid)
        if record is not None:
            profile = node_profile(ctx, record)
            profile["findings"] = dict(profile["findings"])
            node["bundle"] = {k: v for k, v in profile.items() if k not in ("instanceId", "cluster")}
            for category in profile["categories"]:
                affected.setdefault(category, []).append(iid)
        nodes.append(node)
        for reason in why:
            gaps.append(f"cannot collect from {iid}: {reason}")
    if not instances:
        gaps.append(f"no EC2 instances tagged eks:cluster-name={cluster} or kubernetes.io/cluster/{cluster} in {region}")
    without = [n["instanceId"] for n in nodes if "bundle" not in n]
    if nodes and without:
        gaps.append(f"{len(without)} of {len(nodes)} nodes have no bundle in the store: collect them to compare findings")
    # Problem nodes first, so a large cluster's cut keeps what matters.
    nodes.sort(key=lambda n: (n["collectable"], "bundle" not in n, n["instanceId"]))
    if len(nodes) > MAX_NODES:
        gaps.append(f"listing {MAX_NODES} of {len(nodes)} nodes (problem nodes first)")
    return ClusterHealthResult(
        cluster=cluster,
        nodes=nodes[:MAX_NODES],
        affected_by_category=affected,
        totalNodes=len(nodes),
        multi_node_categories=sorted(c for c, ids in affected.items() if len(ids) > 1),
        gaps=gaps[:200],
    )
