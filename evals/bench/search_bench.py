"""The D3 runbook's queries through the `search` tool vs plain `rg -e Q`, the searches' peak RSS,
and a catastrophic-backtracking pattern on a 10 MB line."""

from __future__ import annotations

import time
from pathlib import Path

from evals.bench.model import Metric
from evals.bench.timing import best_of, probe, wall_times
from tools.bundle.store import BundleRecord, BundleStore
from tools.context import ToolContext
from tools.registry import call_tool

D3_QUERIES = (
    "nf_conntrack.*table full|conntrack_allowance_exceeded",
    "table full",
    "conntrack_allowance_exceeded",
    "nf_conntrack_max|nf_conntrack_count",
    "nf_conntrack_count|nf_conntrack_max",
    "ethtool.*conntrack|ena.*conntrack",
)
SEARCH_RATIO_TARGET = 1.5
REDOS_TARGET_S = 1.0
RSS_TARGET_MB = 300.0


def d3_searches(rg: str, store: BundleStore, record: BundleRecord, repeat: int) -> tuple[list[Metric], dict[str, object]]:
    ctx = ToolContext(store=store, instance_ids=[record.instance_id])
    ctx.index(record)
    rows: dict[str, dict[str, float]] = {}
    metrics = []
    for q in D3_QUERIES:
        wall_times([rg, "-e", q], 1, cwd=record.root)  # page cache
        rg_best = min(wall_times([rg, "-e", q], repeat, cwd=record.root))

        def run(q: str = q) -> int:
            outcome = call_tool(ctx, "search", {"query": q})
            assert outcome.ok, outcome.error
            return int(outcome.result["totalMatches"]) if outcome.result else 0

        tool_best, matches = best_of(run, repeat)
        ratio = tool_best / rg_best
        rows[q] = {"tool_s": round(tool_best, 4), "rg_s": round(rg_best, 4), "matches": matches}
        metrics.append(Metric(name=f"search {q!r} vs rg -e", value=round(tool_best, 4), unit="s",
                              baseline=round(rg_best, 4), baseline_label="rg -e Q over the bundle",
                              ratio=round(ratio, 2), target=f"≤ {SEARCH_RATIO_TARGET:g}×",
                              ok=ratio <= SEARCH_RATIO_TARGET))
    total_tool = sum(r["tool_s"] for r in rows.values())
    total_rg = sum(r["rg_s"] for r in rows.values())
    metrics.append(Metric(name="search, all D3 queries (sum)", value=round(total_tool, 3), unit="s",
                          baseline=round(total_rg, 3), baseline_label="rg -e Q, summed",
                          ratio=round(total_tool / total_rg, 2), target=f"≤ {SEARCH_RATIO_TARGET:g}×",
                          ok=total_tool / total_rg <= SEARCH_RATIO_TARGET))
    return metrics, {"search": rows}


def search_rss(store_home: Path, instance_id: str) -> Metric:
    out = probe("search", str(store_home), instance_id, *D3_QUERIES)
    return Metric(name="peak RSS, D3 searches", value=out["rss_mb"], unit="MB", target=f"< {RSS_TARGET_MB:g} MB",
                  ok=out["rss_mb"] < RSS_TARGET_MB, note="child process: max(self, rg children) ru_maxrss")


def catastrophic_pattern(root: Path, store: BundleStore, repeat: int) -> tuple[Metric, dict[str, object]]:
    record = store.ingest(root)
    ctx = ToolContext(store=store, instance_ids=[record.instance_id])
    ctx.index(record)

    def run() -> float:
        started = time.perf_counter()
        outcome = call_tool(ctx, "search", {"query": "(a+)+$"})
        assert outcome.ok, outcome.error
        return time.perf_counter() - started

    best, _ = best_of(run, repeat)
    worst = max(run() for _ in range(repeat))
    size = (root / "kernel" / "dmesg.current").stat().st_size
    return Metric(name="'(a+)+$' over a 10 MB single line", value=round(worst, 3), unit="s",
                  target=f"< {REDOS_TARGET_S:g} s", ok=worst < REDOS_TARGET_S,
                  note=f"slowest of {repeat} (fastest {best:.3f} s), line of {size} bytes"), {}
