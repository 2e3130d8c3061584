"""collect, status, validate and history over the local bundle store.

Locally "collection" means registering a bundle the user already has; the execution id is derived
from the bundle's content digest so it is stable and needs no server-side state. The AWS backend
(SSM Automation) plugs in through `ctx.backend` with the same arguments and results.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from tools.builtin.common import Args, InstanceArgs, Result, human_size
from tools.bundle.store import BundleRecord
from tools.context import ToolContext
from tools.registry import ToolError, tool

LOCAL_PREFIX = "local-"


def execution_id_for(record: BundleRecord) -> str:
    return f"{LOCAL_PREFIX}{record.instance_id}-{record.digest[:12]}"


def _find_execution(ctx: ToolContext, execution_id: str) -> BundleRecord:
    if execution_id.startswith(LOCAL_PREFIX):
        rest = execution_id[len(LOCAL_PREFIX) :]
        iid, _, short = rest.rpartition("-")
        for record in ctx.store.list():
            if record.instance_id == iid and record.digest.startswith(short):
                return record
    raise ToolError(
        f"unknown executionId {execution_id!r}",
        hint="use the executionId that collect returned (see history)",
        code="not_found",
    )


class Task(Result):
    taskId: str
    state: str
    message: str
    progress: int


class CollectArgs(InstanceArgs):
    idempotencyToken: str | None = None
    bundle: str | None = Field(None, description="local extension: path of a bundle directory or .tar.gz to ingest")


class CollectResult(Result):
    message: str
    executionId: str
    instanceId: str
    status: str
    task: Task
    digest: str | None  # None until an AWS collection has been downloaded
    collected_at: str | None
    files: int
    idempotent: bool = False


@tool("collect", summary="Gather the node's log bundle (locally: ingest or find it); returns an executionId",
      args=CollectArgs, result=CollectResult)
def collect(ctx: ToolContext, args: CollectArgs) -> CollectResult:
    if ctx.backend is not None:
        return ctx.backend.collect(ctx, args)
    if args.bundle:
        # Re-collecting content the store already holds is the idempotent case the MCP server reports.
        known = {r.digest for r in ctx.store.list()}
        try:
            record = ctx.store.ingest(Path(args.bundle), instance_id=args.instanceId)
        except ToolError:
            raise  # a BundleError already names the archive member or file and says what to do
        except Exception as exc:
            raise ToolError(f"{args.bundle}: {exc}", hint="pass a bundle directory or an eks_<id>_….tar.gz") from exc
        existed = record.digest in known
    else:
        record = ctx.record(args.instanceId)
        existed = True
    if record.instance_id not in ctx.instance_ids:
        ctx.instance_ids.append(record.instance_id)
    eid = execution_id_for(record)
    m = record.manifest
    return CollectResult(
        message="bundle already in the local store" if existed else "bundle ingested into the local store",
        executionId=eid,
        instanceId=record.instance_id,
        status="Success",
        task=Task(taskId=eid, state="completed", message="SSM status: Success", progress=100),
        digest=record.digest,
        collected_at=m.collected_at.isoformat() if m.collected_at else None,
        files=len(m.files),
        idempotent=existed,
    )


class StatusArgs(Args):
    executionId: str
    includeStepDetails: bool = True
    region: str | None = None


class StatusResult(Result):
    executionId: str
    instanceId: str
    status: str
    progress: int
    task: Task
    failureReason: str | None = None
    advice: list[str] = Field(default_factory=list)


@tool("status", summary="Poll a collection until it completes", args=StatusArgs, result=StatusResult)
def status(ctx: ToolContext, args: StatusArgs) -> StatusResult:
    if ctx.backend is not None and not args.executionId.startswith(LOCAL_PREFIX):
        return ctx.backend.status(ctx, args)
    record = _find_execution(ctx, args.executionId)
    return StatusResult(
        executionId=args.executionId,
        instanceId=record.instance_id,
        status="Success",
        progress=100,
        task=Task(taskId=args.executionId, state="completed", message="SSM status: Success", progress=100),
    )


# What each tool (and network_diagnostics section) reads. Alternatives: any one of them will do.
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kernel_log": ("kernel messages (table full, OOM)", (
        "kernel/dmesg.current", "kernel/dmesg.human.current", "kernel/dmesg.boot", "var_log/messages",
        "var_log/syslog", "var_log/kern.log")),
    "sysctls": ("nf_conntrack_count / nf_conntrack_max", ("sysctls/sysctl_all.txt",)),
    "conntrack": ("conntrack -S drop/early_drop/insert_failed", ("networking/conntrack.txt",)),
    "ethtool": ("ENA allowance counters", ("networking/ethtool.txt",)),
    "kube_proxy": ("kube-proxy's conntrack settings", ("var_log/kube-proxy*", "var_log/kube-system_kube-proxy*",
                                                       "var_log/containers/kube-proxy*", "var_log/pods/kube-system_kube-proxy*")),
    "resolv": ("the node's resolvers", ("networking/resolv.conf",)),
    "iptables": ("iptables rules", ("networking/iptables-save.txt", "networking/iptables*.txt")),
    "kubelet": ("kubelet journal", ("kubelet/kubelet.log",)),
    "uname": ("kernel version", ("kernel/uname.txt",)),
    "instance": ("instance identity", ("system/instance-id.txt",)),
}
TOOL_NEEDS: dict[str, tuple[str, ...]] = {
    "errors": ("kernel_log", "kubelet"),
    "correlate": ("kernel_log",),
    "network_diagnostics": ("sysctls", "conntrack", "ethtool", "kube_proxy", "resolv", "iptables"),
    "search": ("kernel_log",),
}


def need_present(record: BundleRecord, alternatives: tuple[str, ...]) -> list[str]:
    from fnmatch import fnmatch

    found = []
    for f in record.manifest.files:
        for alt in alternatives:
            if fnmatch(f.logical, alt) or fnmatch(f.path, alt) or f.logical.startswith(alt.rstrip("*") + "/"):
                found.append(f.path)
                break
    return found


class ValidateArgs(InstanceArgs):
    executionId: str | None = None
    tools: list[str] | None = Field(None, description="the tools the runbook will call; default: the D-family set")


class NeedStatus(Result):
    need: str
    purpose: str
    present: list[str]
    expected: list[str]


class ValidateResult(Result):
    instanceId: str
    complete: bool
    fileCount: int
    totalSize: int
    totalSizeHuman: str
    kernel_release: str | None
    collected_at: str | None
    needs: list[NeedStatus]
    missing: list[str]
    possibly_truncated: list[str]
    empty_files: list[str]


@tool("validate", summary="Check the bundle has the files the runbook's tools need", args=ValidateArgs,
      result=ValidateResult)
def validate(ctx: ToolContext, args: ValidateArgs) -> ValidateResult:
    if args.instanceId is None and args.executionId:
        record = _find_execution(ctx, args.executionId)
    else:
        record = ctx.record(args.instanceId)
    wanted: list[str] = []
    for t in args.tools or ["errors", "network_diagnostics"]:
        for need in TOOL_NEEDS.get(t, ()):
            if need not in wanted:
                wanted.append(need)
    statuses = []
    for need in wanted:
        purpose, alts = NEEDS[need]
        statuses.append(NeedStatus(need=need, purpose=purpose, present=need_present(record, alts)[:10],
                                   expected=list(alts)))
    truncated, empty = [], []
    for f in record.manifest.files:
        if f.size == 0:
            empty.append(f.path)
            continue
        if f.path.endswith((".gz", ".svg", ".json")):
            continue
        try:
            with open(record.root / f.path, "rb") as fh:
                fh.seek(-1, 2)
                if fh.read(1) != b"\n":
                    truncated.append(f.path)
        except OSError:
            truncated.append(f.path)
    m = record.manifest
    missing = [s.need for s in statuses if not s.present]
    return ValidateResult(
        instanceId=record.instance_id,
        complete=not missing,
        fileCount=len(m.files),
        totalSize=m.total_size,
        totalSizeHuman=human_size(m.total_size),
        kernel_release=m.kernel_release,
        collected_at=m.collected_at.isoformat() if m.collected_at else None,
        needs=statuses,
        missing=missing,
        possibly_truncated=truncated[:50],
        empty_files=empty[:50],
    )


class HistoryArgs(Args):
    instanceId: str | None = None
    maxResults: int = Field(20, ge=1, le=50)
    region: str | None = None


class Collection(Result):
    executionId: str
    instanceId: str
    collected_at: str | None
    source: str
    files: int
    totalSizeHuman: str
    cluster: str | None


class HistoryResult(Result):
    collections: list[Collection]
    count: int


@tool("history", summary="Past collections (bundles) in the store, newest first", args=HistoryArgs,
      result=HistoryResult)
def history(ctx: ToolContext, args: HistoryArgs) -> HistoryResult:
    records = [r for r in ctx.store.list() if not args.instanceId or args.instanceId in r.instance_id]
    rows = [
        Collection(
            executionId=execution_id_for(r),
            instanceId=r.instance_id,
            collected_at=r.manifest.collected_at.isoformat() if r.manifest.collected_at else None,
            source=r.manifest.source,
            files=len(r.manifest.files),
            totalSizeHuman=human_size(r.manifest.total_size),
            cluster=r.manifest.cluster,
        )
        for r in records[: args.maxResults]
    ]
    return HistoryResult(collections=rows, count=len(records))
