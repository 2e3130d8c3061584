"""read and search: bounded views of bundle files.

Search results are grouped per file and every group gets an S-NNN id remembered for the run.
Each group also names the findings (F-NNN) whose parsed evidence its matching lines are: a match
on text that merely contains the words (a quoted grep, `conntrack_allowance_exceeded: 0`) cites
none, which is how rules tell evidence from coincidence.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from tools.builtin.common import InstanceArgs, Result, WindowArgs, WindowInfo, bounded, window_for
from tools.builtin.findings_tools import bundle_span
from tools.bundle.textio import is_binary, iter_lines
from tools.context import ToolContext
from tools.findings.catalog import pattern_matches
from tools.findings.model import Finding
from tools.parsers.timestamps import extract_timestamp
from tools.registry import ToolError, tool
from tools.search_engine import SearchError
from tools.search_engine import search as engine_search
from tools.timewindow import in_window

# Files the MCP server's search can be narrowed to by `logTypes`; globs over bundle paths.
LOG_TYPES: dict[str, tuple[str, ...]] = {
    "kernel": ("kernel/*", "var_log/messages*", "var_log/syslog*", "var_log/kern.log*"),
    "dmesg": ("kernel/dmesg*",),
    "messages": ("var_log/messages*", "var_log/syslog*"),
    "kubelet": ("kubelet/*",),
    "kube-proxy": ("var_log/**/*kube-proxy*", "var_log/*kube-proxy*"),
    "containerd": ("containerd/*",),
    "networking": ("networking/*",),
    "sysctls": ("sysctls/*",),
    "ipamd": ("ipamd/*", "var_log/aws-routed-eni/*"),
    "coredns": ("var_log/**/*coredns*", "var_log/*coredns*"),
    "pods": ("var_log/pods/**", "var_log/containers/*"),
    "system": ("system/*",),
    "storage": ("storage/*",),
    "cni": ("cni/*",),
}


def _safe_rel(root: Path, log_key: str) -> Path:
    # Only the archive's `./` prefix is dropped: stripping every leading dot would turn
    # `./../x` into `x` and quietly read another file than the one asked for.
    key = log_key.strip()
    while key.startswith("./"):
        key = key[2:]
    pure = PurePosixPath(key)
    if not key or pure.is_absolute() or ".." in pure.parts or "\\" in key or any(ord(c) < 32 for c in key):
        raise ToolError(f"invalid logKey {log_key!r}", hint="a path relative to the bundle, e.g. kernel/dmesg.current")
    path = (root / key).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ToolError(f"logKey {log_key!r} leaves the bundle")
    if not path.is_file():
        raise ToolError(f"no file {key!r} in the bundle", hint="see validate for the bundle's files", code="not_found")
    return path


class ReadArgs(InstanceArgs):
    logKey: str = Field(..., description="bundle-relative path, e.g. kernel/dmesg.current")
    startLine: int = Field(1, description="1-based; negative counts from the end (-50 = the last 50 lines)")
    lineCount: int = Field(200, ge=1, le=2000)


class ReadResult(Result):
    instanceId: str
    logKey: str
    startLine: int
    endLine: int
    lines: list[str]
    hasMore: bool
    nextStartLine: int | None


@tool("read", summary="A bounded, line-aligned range of one bundle file", args=ReadArgs, result=ReadResult)
def read(ctx: ToolContext, args: ReadArgs) -> ReadResult:
    record = ctx.record(args.instanceId)
    path = _safe_rel(record.root, args.logKey)
    if is_binary(path):
        raise ToolError(f"{args.logKey} is a binary file", hint="search or errors cover its text content, if any")
    budget = 48_000  # characters of content per call, under the registry's result cap
    out: list[str] = []
    if args.startLine < 0:
        tail: deque[tuple[int, str]] = deque(maxlen=min(-args.startLine, args.lineCount))
        total = 0
        for total, line in enumerate(iter_lines(path), start=1):
            tail.append((total, line))
        start = tail[0][0] if tail else 1
        for _n, line in tail:
            out.append(bounded(line, 2000))
        has_more = False
    else:
        start = args.startLine
        has_more = False
        for n, line in enumerate(iter_lines(path), start=1):
            if n < start:
                continue
            if len(out) >= args.lineCount or budget <= 0:
                has_more = True
                break
            text = bounded(line, 2000)
            budget -= len(text)
            out.append(text)
    end = start + len(out) - 1 if out else start - 1
    return ReadResult(
        instanceId=record.instance_id, logKey=args.logKey, startLine=start, endLine=end, lines=out,
        hasMore=has_more, nextStartLine=end + 1 if has_more else None,
    )


class SearchArgs(WindowArgs):
    query: str = Field(..., min_length=1, max_length=500, description="regular expression (linear-time engine)")
    logTypes: str | None = Field(None, description="comma list: " + ", ".join(LOG_TYPES))
    files: list[str] | None = Field(None, description="bundle path globs, e.g. ['kernel/*']")
    maxResults: int = Field(50, ge=1, le=500, description="matches kept per file")
    context: int = Field(1, ge=0, le=5)
    ignoreCase: bool = False

    @field_validator("files", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v


class SearchGroup(Result):
    search_id: str
    file: str
    matchCount: int
    matches: list[dict[str, Any]]
    matchesTruncated: bool
    finding_ids: list[str]


class SearchResult(WindowInfo):
    instanceId: str
    query: str
    totalMatches: int
    filesWithMatches: int
    results: list[SearchGroup]
    truncated: bool
    grounded_search_ids: list[str]
    time_window_filter: dict[str, int]


def _globs(args: SearchArgs) -> list[str] | None:
    globs: list[str] = list(args.files or [])
    if args.logTypes:
        for t in (p.strip() for p in args.logTypes.split(",")):
            if t not in LOG_TYPES:
                raise ToolError(f"unknown logType {t!r}", hint="one of: " + ", ".join(LOG_TYPES))
            globs.extend(LOG_TYPES[t])
    return globs or None


def grounding(findings_by_file: dict[str, list[Finding]], file: str, line: int, text: str) -> list[str]:
    """The findings whose own parsed evidence this matching line is."""
    cited = []
    for f in findings_by_file.get(file, ()):
        if not f.line_start <= line <= f.line_end:
            continue
        if f.value is not None:
            if line == f.line_start:
                cited.append(f.id)
        elif line in f.lines or pattern_matches(f.pattern_id, text):
            cited.append(f.id)
    return cited


@tool("search", summary="Regex search over the bundle (ripgrep/RE2, linear time); hit groups get S-NNN ids",
      args=SearchArgs, result=SearchResult)
def search(ctx: ToolContext, args: SearchArgs) -> SearchResult:
    record = ctx.record(args.instanceId)
    index = ctx.index(record)
    window, info = window_for(args, bundle_span(index))
    try:
        found = engine_search(
            record.root, args.query, globs=_globs(args), context=args.context,
            max_per_file=args.maxResults, max_matches=max(args.maxResults * 4, 200), ignore_case=args.ignoreCase,
        )
    except SearchError as exc:
        raise ToolError(str(exc), hint="the engine is RE2-compatible: no backreferences or lookaround",
                        code="invalid_regex") from exc
    by_file: dict[str, list[Finding]] = {}
    for f in index.findings:
        by_file.setdefault(f.file, []).append(f)
    per_file: dict[str, list[Any]] = {}
    for hit in found.hits:
        per_file.setdefault(hit.file, []).append(hit)
    excluded = 0
    groups: list[SearchGroup] = []
    grounded: list[str] = []
    year = record.manifest.collected_at.year if record.manifest.collected_at else None
    ordered = sorted(per_file.items(), key=lambda kv: (-found.matches_per_file.get(kv[0], len(kv[1])), kv[0]))
    for file, hits in ordered:
        kept = []
        for h in hits:
            ts = extract_timestamp(h.text, year=year)
            if ts is not None and not in_window(ts, window):
                excluded += 1
                continue
            kept.append((h, ts))
        if not kept:
            continue
        sid = ctx.next_search_id()
        cited: list[str] = []
        matches = []
        for h, ts in kept:
            ids = grounding(by_file, file, h.line, h.text)
            cited.extend(i for i in ids if i not in cited)
            matches.append({
                "line": h.line, "text": bounded(h.text, 500), "ts": ts.isoformat() if ts else None,
                "before": [bounded(x.text, 300) for x in h.before], "after": [bounded(x.text, 300) for x in h.after],
                "finding_ids": ids,
            })
        count = found.matches_per_file.get(file, len(hits))
        group = SearchGroup(
            search_id=sid, file=file, matchCount=count, matches=matches[: args.maxResults],
            matchesTruncated=count > len(matches), finding_ids=cited,
        )
        groups.append(group)
        if cited:
            grounded.append(sid)
        ctx.search_memory[sid] = {
            "instance_id": record.instance_id,
            "query": args.query,
            "file": file,
            "lines": [m["line"] for m in matches[:20]],
            "count": count,
            "sample": matches[0]["text"] if matches else "",
            "finding_ids": cited,
        }
    return SearchResult(
        instanceId=record.instance_id,
        query=args.query,
        totalMatches=found.total_matches,
        filesWithMatches=len(groups),
        results=groups,
        truncated=found.truncated,
        grounded_search_ids=grounded,
        time_window_filter={"excluded_outside_window": excluded},
        **info.model_dump(),
    )
