"""Child-process workloads for the benchmark: a fresh interpreter per measurement.

A fresh process is what makes the index "cold" (no in-memory index, no warm imports beyond what the
workload itself needs) and what lets peak RSS be attributed to one workload: it is the larger of
this process's own peak and that of the children it waited for (ripgrep), read with getrusage.
Each command prints one JSON line: {"seconds": …, "rss_mb": …, …}.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    # VmHWM rather than RUSAGE_SELF: Linux carries ru_maxrss across exec, so a probe started by a
    # large parent would report the parent's peak. Children (rg) are forked from this small process.
    with open("/proc/self/status") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def index(root: Path, year: int | None) -> dict[str, Any]:
    from tools.findings.index import build_index

    started = time.perf_counter()
    built = build_index(root, year_hint=year)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "findings": len(built.findings), "bytes_scanned": built.bytes_scanned,
            "engine": built.engine}


def search(store: Path, instance_id: str, queries: list[str]) -> dict[str, Any]:
    from tools.bundle.store import BundleStore
    from tools.context import ToolContext
    from tools.registry import call_tool

    ctx = ToolContext(store=BundleStore(store), instance_ids=[instance_id])
    ctx.index(ctx.record(instance_id))  # the cached index, as in a run that already called errors
    per_query = {}
    started = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        outcome = call_tool(ctx, "search", {"query": q})
        if not outcome.ok:
            raise SystemExit(f"search {q!r} failed: {outcome.error}")
        per_query[q] = time.perf_counter() - t
    return {"seconds": time.perf_counter() - started, "per_query": per_query}


def diagnose(store: Path, bundle: Path) -> dict[str, Any]:
    from runbooks import catalog
    from tools.bundle.store import BundleStore

    record = BundleStore(store).ingest(bundle)  # "store ingest first": not part of the timed run
    runbook = catalog.load("D3")
    from graphs import runner

    started = time.perf_counter()
    import graphs.builder  # noqa: F401  (LangGraph and langchain-core: timed apart, then part of the total)

    imported = time.perf_counter()
    outcome = runner.start(runbook=runbook, instance_ids=[record.instance_id], store_dir=store, model="offline")
    done = time.perf_counter()
    report = outcome.report or {}
    return {"seconds": done - started, "import_seconds": imported - started, "run_seconds": done - imported,
            "status": outcome.status, "root_cause": report.get("root_cause"), "conntrack": report.get("conntrack")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.probe")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index")
    p.add_argument("root", type=Path)
    p.add_argument("--year", type=int, default=None)
    p = sub.add_parser("search")
    p.add_argument("store", type=Path)
    p.add_argument("instance_id")
    p.add_argument("queries", nargs="+")
    p = sub.add_parser("diagnose")
    p.add_argument("store", type=Path)
    p.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "index":
        out = index(args.root, args.year)
    elif args.cmd == "search":
        out = search(args.store, args.instance_id, args.queries)
    else:
        out = diagnose(args.store, args.bundle)
    out["rss_mb"] = peak_rss_mb()
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
