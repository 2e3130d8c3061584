"""errors, summarize and correlate: views over the bundle's findings index.

IDs are assigned once, when the index is built, so every view (and every later call in the run)
cites the same F-NNN. Filtering and paging never renumber them: gaps are normal.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from tools.builtin.common import Result, WindowArgs, WindowInfo, bounded, window_for
from tools.context import ToolContext
from tools.findings.model import Finding, FindingsIndex
from tools.registry import ToolError, tool
from tools.timewindow import in_window

SEVERITIES = ("CRITICAL", "HIGH", "WARNING", "INFO")
# The MCP server's five-level names, mapped onto ours so its callers keep working.
_SEVERITY_ALIASES = {
    "critical": ("CRITICAL",),
    "high": ("HIGH",),
    "warning": ("HIGH", "WARNING"),
    "medium": ("WARNING",),
    "low": ("INFO",),
    "info": ("INFO",),
}


def severity_filter(value: str | None) -> tuple[str, ...]:
    if not value or value.strip().lower() == "all":
        return SEVERITIES
    out: list[str] = []
    for part in value.split(","):
        key = part.strip().lower()
        if key not in _SEVERITY_ALIASES:
            raise ToolError(f"unknown severity {part.strip()!r}", hint="one of: all, " + ", ".join(s.lower() for s in SEVERITIES))
        out.extend(s for s in _SEVERITY_ALIASES[key] if s not in out)
    return tuple(out)


def bundle_span(index: FindingsIndex) -> tuple[datetime, datetime] | None:
    stamps = [t for f in index.findings for t in (f.first_ts, f.last_ts) if t is not None]
    return (min(stamps), max(stamps)) if stamps else None


def finding_in_window(f: Finding, window: Any) -> bool:
    if f.first_ts is None and f.last_ts is None:
        return True
    start = f.first_ts or f.last_ts
    end = f.last_ts or f.first_ts
    # A finding is in the window when its occurrences overlap it, not only when its first one does.
    return in_window(start, window) or in_window(end, window) or (
        window.start is not None and window.end is not None and start <= window.start and end >= window.end
    )


def concise(f: Finding) -> dict[str, Any]:
    row: dict[str, Any] = {
        "finding_id": f.id,
        "severity": f.severity,
        "category": f.category,
        "title": f.title,
        "file": f.file,
        "line": f.line_start,
        "count": f.count,
        "first_ts": f.first_ts.isoformat() if f.first_ts else None,
        "last_ts": f.last_ts.isoformat() if f.last_ts else None,
    }
    if f.value is not None:
        row.update(value=f.value, interface=f.interface, counter=f.counter)
    return row


def detailed(f: Finding) -> dict[str, Any]:
    row = concise(f)
    row.update(pattern_id=f.pattern_id, line_end=f.line_end, lines=f.lines, sample=bounded(f.sample, 300))
    return row


class ErrorsArgs(WindowArgs):
    severity: str = "all"
    category: str | None = Field(None, description="only findings of this category (e.g. conntrack_table_full)")
    response_format: Literal["concise", "detailed"] = "concise"
    pageSize: int = Field(50, ge=1, le=200)
    pageOffset: int = Field(0, ge=0)
    pageToken: str | None = None
    clusterContext: str | None = Field(None, description="annotate findings that most other nodes of this cluster share")


class ErrorsResult(WindowInfo):
    instanceId: str
    findings: list[dict[str, Any]]
    totalFindings: int
    pageSize: int
    pageOffset: int
    hasMore: bool
    nextPageOffset: int | None
    summary: dict[str, int]
    coverage: dict[str, Any]
    time_window_filter: dict[str, int]


def _page_offset(args: ErrorsArgs) -> int:
    if not args.pageToken:
        return args.pageOffset
    token = args.pageToken.strip()
    if token.isdigit():
        return int(token)
    try:
        return int(base64.b64decode(token).decode())
    except Exception as exc:
        raise ToolError(f"invalid pageToken {token!r}", hint="use nextPageOffset from the previous page") from exc


def _baseline_signatures(ctx: ToolContext, cluster: str, instance_id: str) -> tuple[Counter[str], int]:
    others = [r for r in ctx.store.list() if r.manifest.cluster == cluster and r.instance_id != instance_id]
    latest: dict[str, Any] = {}
    for r in others:
        latest.setdefault(r.instance_id, r)
    seen: Counter[str] = Counter()
    for r in latest.values():
        seen.update({f"{f.pattern_id}" for f in ctx.index(r).findings})
    return seen, len(latest)


@tool("errors", summary="Pre-indexed findings (F-NNN) with severity filter, paging and time window",
      args=ErrorsArgs, result=ErrorsResult)
def errors(ctx: ToolContext, args: ErrorsArgs) -> ErrorsResult:
    record = ctx.record(args.instanceId)
    index = ctx.index(record)
    window, info = window_for(args, bundle_span(index))
    wanted = severity_filter(args.severity)
    excluded = 0
    no_ts = 0
    selected: list[Finding] = []
    for f in index.findings:
        if f.severity not in wanted or (args.category and f.category != args.category):
            continue
        if not finding_in_window(f, window):
            excluded += 1
            continue
        if f.first_ts is None:
            no_ts += 1
        selected.append(f)
    offset = _page_offset(args)
    page = selected[offset : offset + args.pageSize]
    view = detailed if args.response_format == "detailed" else concise
    rows = [view(f) for f in page]
    if args.clusterContext:
        seen, peers = _baseline_signatures(ctx, args.clusterContext, record.instance_id)
        for row, f in zip(rows, page, strict=True):
            shared = seen.get(f.pattern_id, 0)
            row["is_baseline"] = peers > 0 and shared * 2 >= peers
            if row["is_baseline"]:
                row["baseline_note"] = (
                    f"{shared} of {peers} other nodes in cluster {args.clusterContext} show this pattern too"
                )
    summary = Counter(f.severity for f in index.findings)
    has_more = offset + args.pageSize < len(selected)
    return ErrorsResult(
        instanceId=record.instance_id,
        findings=rows,
        totalFindings=len(selected),
        pageSize=args.pageSize,
        pageOffset=offset,
        hasMore=has_more,
        nextPageOffset=offset + args.pageSize if has_more else None,
        summary={s: summary.get(s, 0) for s in SEVERITIES},
        coverage={
            "files_scanned": index.files_scanned,
            "files_skipped": len(index.files_skipped),
            "total_files": index.total_files,
        },
        time_window_filter={"excluded_outside_window": excluded, "without_timestamp": no_ts},
        **info.model_dump(),
    )


# --------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------


class SummarizeArgs(WindowArgs):
    finding_ids: list[str] = Field(..., description="F-NNN ids from errors and S-NNN ids from search")

    @field_validator("finding_ids", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
        return v


class EvidenceItem(Result):
    type: Literal["finding", "search"]
    content: str
    finding_ids: list[str]


class SummarizeResult(Result):
    instanceId: str
    grounded: bool
    resolved: list[dict[str, Any]]
    unresolved: list[str]
    evidence: list[EvidenceItem]
    by_category: dict[str, list[str]]
    confidence: Literal["high", "medium", "low", "none"]
    gaps: list[str]


def describe_finding(f: Finding) -> str:
    if f.value is not None:
        return f"{f.counter}={f.value} on {f.interface} ({f.file}:{f.line_start})"
    when = f" first {f.first_ts.isoformat()}" if f.first_ts else ""
    return f"{f.title}: {f.count}× in {f.file}:{f.line_start}{when} — {bounded(f.sample, 160)}"


@tool("summarize", summary="Resolve F- and S- ids into grounded evidence; unknown ids are listed, never invented",
      args=SummarizeArgs, result=SummarizeResult)
def summarize(ctx: ToolContext, args: SummarizeArgs) -> SummarizeResult:
    if not args.finding_ids:
        raise ToolError("finding_ids is required", hint="call errors (F-NNN) or search (S-NNN) first")
    record = ctx.record(args.instanceId)
    index = ctx.index(record)
    resolved: list[dict[str, Any]] = []
    unresolved: list[str] = []
    evidence: list[EvidenceItem] = []
    by_category: dict[str, list[str]] = defaultdict(list)
    for raw in dict.fromkeys(i.strip().upper() for i in args.finding_ids):
        if raw.startswith("F-"):
            f = index.by_id(raw)
            if f is None:
                unresolved.append(raw)
                continue
            resolved.append({"id": raw, "kind": "finding", **detailed(f)})
            by_category[f.category].append(raw)
            evidence.append(EvidenceItem(type="finding", content=describe_finding(f), finding_ids=[raw]))
        elif raw.startswith("S-"):
            hit = ctx.search_memory.get(raw)
            if hit is None or hit.get("instance_id") != record.instance_id:
                unresolved.append(raw)
                continue
            resolved.append({"id": raw, "kind": "search", **hit})
            cited = [raw, *hit.get("finding_ids", [])]
            evidence.append(
                EvidenceItem(
                    type="search",
                    content=f"query {hit['query']!r}: {hit['count']} match(es) in {hit['file']} "
                    f"(lines {', '.join(str(n) for n in hit['lines'][:5])}) — {bounded(hit['sample'], 160)}",
                    finding_ids=cited,
                )
            )
        else:
            unresolved.append(raw)
    gaps = []
    if unresolved:
        gaps.append(f"{len(unresolved)} id(s) could not be resolved: {', '.join(unresolved[:10])}")
    critical = sum(1 for r in resolved if r.get("severity") == "CRITICAL")
    if len(resolved) >= 3 and critical:
        confidence = "high"
    elif resolved:
        confidence = "medium"
    else:
        confidence = "none"
    return SummarizeResult(
        instanceId=record.instance_id,
        grounded=bool(resolved) and not unresolved,
        resolved=resolved,
        unresolved=unresolved,
        evidence=evidence,
        by_category=dict(by_category),
        confidence=confidence,
        gaps=gaps,
    )


# --------------------------------------------------------------------------------------------
# correlate
# --------------------------------------------------------------------------------------------

# Known causal orderings: an earlier category that can explain a later one on the same node.
CAUSES: dict[str, tuple[str, ...]] = {
    "conntrack_table_full": ("dns", "network", "kube_proxy", "kubelet"),
    "ena_allowance": ("dns", "network", "kubelet"),
    "ip_exhaustion": ("cni", "kubelet"),
    "oom": ("kubelet", "container_runtime"),
    "disk_pressure": ("kubelet",),
    "certificate": ("kubelet",),
}


class CorrelateArgs(WindowArgs):
    pivotEvent: str = Field(..., description="category, pattern or text of the anchoring event (e.g. conntrack)")
    timeWindow: int = Field(300, ge=1, le=86_400, description="seconds around each pivot occurrence")


class Cluster(Result):
    cluster_id: str
    start: str | None
    end: str | None
    finding_ids: list[str]
    categories: list[str]
    dominant_severity: str


class ChainLink(Result):
    cause: str
    effect: str
    cause_ids: list[str]
    effect_ids: list[str]
    lag_seconds: float | None
    confidence: Literal["high", "medium", "low"]


class CorrelateResult(WindowInfo):
    instanceId: str
    pivotEvent: str
    pivot_finding_ids: list[str]
    related: list[dict[str, Any]]
    clusters: list[Cluster]
    chain: list[ChainLink]
    confidence: Literal["high", "medium", "low", "none"]
    gaps: list[str]


def _matches_pivot(f: Finding, pivot: str) -> bool:
    p = pivot.lower()
    return any(p in (s or "").lower() for s in (f.category, f.pattern_id, f.title, f.sample, f.counter))


@tool("correlate", summary="Events within timeWindow seconds of the pivotEvent's occurrences, clusters and a causal chain",
      args=CorrelateArgs, result=CorrelateResult)
def correlate(ctx: ToolContext, args: CorrelateArgs) -> CorrelateResult:
    record = ctx.record(args.instanceId)
    index = ctx.index(record)
    window, info = window_for(args, bundle_span(index))
    pool = [f for f in index.findings if finding_in_window(f, window)]
    pivots = [f for f in pool if _matches_pivot(f, args.pivotEvent) and f.severity in ("CRITICAL", "HIGH")]
    if not pivots:
        pivots = [f for f in pool if _matches_pivot(f, args.pivotEvent)]
    gaps: list[str] = []
    if not pivots:
        return CorrelateResult(
            instanceId=record.instance_id, pivotEvent=args.pivotEvent, pivot_finding_ids=[], related=[],
            clusters=[], chain=[], confidence="none",
            gaps=[f"no finding matches pivotEvent {args.pivotEvent!r}"], **info.model_dump(),
        )
    pad = timedelta(seconds=args.timeWindow)
    pivot_times = [t for f in pivots for t in (f.first_ts, f.last_ts) if t]
    if pivot_times:
        lo, hi = min(pivot_times) - pad, max(pivot_times) + pad
        related = [f for f in pool if f not in pivots and f.first_ts and f.first_ts <= hi and (f.last_ts or f.first_ts) >= lo]
    else:
        gaps.append("the pivot occurrences carry no wall-clock time (raw dmesg uptime); ordering is by file only")
        related = []
    untimed = [f for f in pool if f.first_ts is None and f not in pivots]
    if untimed:
        gaps.append(f"{len(untimed)} finding(s) have no timestamp and cannot be placed on the timeline")

    events = sorted((f for f in [*pivots, *related] if f.first_ts), key=lambda f: (f.first_ts, f.id))
    clusters: list[Cluster] = []
    current: list[Finding] = []
    for f in events:
        if current and f.first_ts - max(c.last_ts or c.first_ts for c in current) > pad:
            clusters.append(_cluster(len(clusters) + 1, current))
            current = []
        current.append(f)
    if current:
        clusters.append(_cluster(len(clusters) + 1, current))

    chain: list[ChainLink] = []
    first_by_cat: dict[str, list[Finding]] = defaultdict(list)
    for f in events:
        first_by_cat[f.category].append(f)
    for cause, effects in CAUSES.items():
        if cause not in first_by_cat:
            continue
        c_first = min(f.first_ts for f in first_by_cat[cause])
        for effect in effects:
            if effect not in first_by_cat:
                continue
            e_first = min(f.first_ts for f in first_by_cat[effect])
            lag = (e_first - c_first).total_seconds()
            conf = "high" if 0 <= lag <= args.timeWindow else ("medium" if lag >= 0 else "low")
            chain.append(ChainLink(
                cause=cause, effect=effect,
                cause_ids=[f.id for f in first_by_cat[cause]][:5],
                effect_ids=[f.id for f in first_by_cat[effect]][:5],
                lag_seconds=lag, confidence=conf,
            ))
    if chain and any(c.confidence == "high" for c in chain):
        confidence = "high"
    elif chain or related:
        confidence = "medium"
    else:
        confidence = "low"
    return CorrelateResult(
        instanceId=record.instance_id,
        pivotEvent=args.pivotEvent,
        pivot_finding_ids=[f.id for f in pivots],
        related=[concise(f) for f in related[:50]],
        clusters=clusters[:20],
        chain=chain,
        confidence=confidence,
        gaps=gaps,
        **info.model_dump(),
    )


def _cluster(n: int, members: list[Finding]) -> Cluster:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return Cluster(
        cluster_id=f"C-{n:03d}",
        start=min(f.first_ts for f in members).isoformat(),
        end=max((f.last_ts or f.first_ts) for f in members).isoformat(),
        finding_ids=[f.id for f in members],
        categories=sorted({f.category for f in members}),
        dominant_severity=min((f.severity for f in members), key=lambda s: order.get(s, 9)),
    )
