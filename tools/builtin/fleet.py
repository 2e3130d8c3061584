"""cluster_health and compare_nodes over the bundles in the store.

A node's bundle says which cluster it belongs to (its kubeconfig); grouping by that lets one
incident with several bundles ask "is this on every node or only here?" without any AWS call.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field, field_validator

from tools.builtin.common import Args, Result
from tools.builtin.network import ena_section, kube_proxy_section
from tools.bundle.store import BundleRecord
from tools.context import ToolContext
from tools.registry import ToolError, tool

HEADLINE = ("CRITICAL", "HIGH")


def latest_per_node(records: list[BundleRecord]) -> list[BundleRecord]:
    seen: dict[str, BundleRecord] = {}
    for r in records:  # store.list() is newest first
        seen.setdefault(r.instance_id, r)
    return list(seen.values())


def node_profile(ctx: ToolContext, record: BundleRecord) -> dict[str, Any]:
    index = ctx.index(record)
    issues: list[Any] = []
    gaps: list[str] = []
    kp = kube_proxy_section(record, issues, gaps)
    ena = ena_section(record, issues, gaps)
    exceeded = {
        row["interface"]: {k: v for k, v in row["allowance_exceeded"].items() if v > 0}
        for row in ena.get("interfaces", [])
        if any(v > 0 for v in row["allowance_exceeded"].values())
    }
    headline = [f for f in index.findings if f.severity in HEADLINE]
    return {
        "instanceId": record.instance_id,
        "cluster": record.manifest.cluster,
        "collected_at": record.manifest.collected_at.isoformat() if record.manifest.collected_at else None,
        "kernel": record.manifest.kernel_release,
        "findings": Counter(f.severity for f in index.findings),
        "categories": sorted({f.category for f in headline}),
        "critical_ids": [f.id for f in headline][:20],
        "conntrack": kp.get("conntrack") and {k: kp["conntrack"][k] for k in ("count", "max", "utilization_pct")},
        "allowance_exceeded": exceeded,
    }


class ClusterHealthArgs(Args):
    clusterName: str | None = Field(None, description="cluster name; default: every node in the store")
    region: str | None = None
    includeSSMStatus: bool = True


class ClusterHealthResult(Result):
    cluster: str | None
    nodes: list[dict[str, Any]]
    affected_by_category: dict[str, list[str]]
    totalNodes: int
    multi_node_categories: list[str]
    gaps: list[str]


@tool("cluster_health", summary="Every node of the cluster that has a bundle: headline findings and conntrack state",
      args=ClusterHealthArgs, result=ClusterHealthResult)
def cluster_health(ctx: ToolContext, args: ClusterHealthArgs) -> ClusterHealthResult:
    if ctx.backend is not None and hasattr(ctx.backend, "cluster_health"):
        return ctx.backend.cluster_health(ctx, args)
    records = latest_per_node(ctx.store.list())
    cluster = args.clusterName or ctx.cluster
    gaps: list[str] = []
    if cluster:
        records = [r for r in records if r.manifest.cluster == cluster]
        if not records:
            raise ToolError(f"no bundles for cluster {cluster!r}", hint="ingest the nodes' bundles first", code="not_found")
    elif ctx.instance_ids:
        records = [r for r in records if r.instance_id in ctx.instance_ids]
        gaps.append("cluster unknown: showing the incident's nodes only")
    profiles = [node_profile(ctx, r) for r in records]
    affected: dict[str, list[str]] = {}
    for p in profiles:
        for c in p["categories"]:
            affected.setdefault(c, []).append(p["instanceId"])
        p["findings"] = dict(p["findings"])
    return ClusterHealthResult(
        cluster=cluster,
        nodes=profiles,
        affected_by_category=affected,
        totalNodes=len(profiles),
        multi_node_categories=sorted(c for c, nodes in affected.items() if len(nodes) > 1),
        gaps=[*gaps, "local mode: EC2/SSM state is not checked (use --backend aws)"],
    )


class CompareArgs(Args):
    instanceIds: list[str] | None = Field(None, description="2–10 nodes; default: the incident's nodes")
    clusterName: str | None = None
    compareFields: str = "all"
    region: str | None = None

    @field_validator("instanceIds", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v


class CompareResult(Result):
    comparedNodes: list[str]
    commonFindings: list[dict[str, Any]]
    uniqueFindings: dict[str, list[dict[str, Any]]]
    conntrack: dict[str, Any]
    allowance_exceeded: dict[str, Any]
    insight: str


@tool("compare_nodes", summary="What is unique to one node versus shared by all compared nodes",
      args=CompareArgs, result=CompareResult)
def compare_nodes(ctx: ToolContext, args: CompareArgs) -> CompareResult:
    ids = list(dict.fromkeys(args.instanceIds or []))
    if not ids and args.clusterName:
        ids = [r.instance_id for r in latest_per_node(ctx.store.list()) if r.manifest.cluster == args.clusterName]
    if not ids:
        ids = list(ctx.instance_ids)
    if len(ids) < 2:
        raise ToolError("compare_nodes needs at least two nodes",
                        hint="pass instanceIds=[…] or run with several --bundle arguments")
    ids = ids[:10]
    records = {i: ctx.record(i) for i in ids}
    sigs: dict[str, dict[str, Any]] = {}
    for iid, r in records.items():
        for f in ctx.index(r).findings:
            if f.severity not in HEADLINE:
                continue
            key = f"{f.category}:{f.pattern_id}"
            entry = sigs.setdefault(key, {"signature": key, "category": f.category, "title": f.title,
                                          "severity": f.severity, "nodes": {}})
            entry["nodes"].setdefault(iid, []).append(f.id)
    common = [e for e in sigs.values() if len(e["nodes"]) == len(ids)]
    unique: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for e in sigs.values():
        if len(e["nodes"]) == 1:
            (only,) = e["nodes"]
            unique[only].append(e)
    profiles = {i: node_profile(ctx, r) for i, r in records.items()}
    if common and not any(unique.values()):
        insight = f"all {len(ids)} nodes share the same {len(common)} headline finding(s): likely cluster-wide"
    elif not common and any(unique.values()):
        insight = "no headline finding is shared by all nodes: node-specific"
    else:
        insight = f"{len(common)} shared and {sum(len(v) for v in unique.values())} node-specific headline finding(s)"
    return CompareResult(
        comparedNodes=ids,
        commonFindings=common,
        uniqueFindings=unique,
        conntrack={i: p["conntrack"] for i, p in profiles.items()},
        allowance_exceeded={i: p["allowance_exceeded"] for i, p in profiles.items()},
        insight=insight,
    )
