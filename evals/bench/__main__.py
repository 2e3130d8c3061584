"""`python -m evals.bench [--size-mb N] [--dir DIR] [--json-out FILE] [--repeat N]`.

Generates the bundles (or reuses them from `--dir`), measures every target in one run, prints a
table and optionally writes the JSON report. Exit 0 when the measurements were taken, whether or
not every target held (the table says which did not); exit 2 on bad options, 1 when a
measurement could not be taken.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from evals.bench import diagnose_bench, index_bench, search_bench, startup_bench, workload
from evals.bench.model import BenchReport, Machine, Metric
from evals.bench.timing import BenchError
from tools.bundle.store import BundleStore
from tools.search_engine import rg_binary

REDOS_LINE_BYTES = 10_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--size-mb", type=float, default=1000.0, help="benign filler in the main bundle (default 1000)")
    parser.add_argument("--diagnose-mb", type=float, default=200.0, help="filler of the diagnose bundle (default 200)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="keep bundles and stores here and reuse them (default: a temp dir, removed after)")
    parser.add_argument("--json-out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per measurement; the best is kept")
    args = parser.parse_args(argv)
    if args.size_mb <= 0 or args.diagnose_mb <= 0 or args.repeat < 1:
        parser.error("--size-mb and --diagnose-mb must be > 0 and --repeat ≥ 1")
    return args


def rg_version(rg: str) -> str | None:
    done = subprocess.run([rg, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.returncode == 0 and done.stdout else None


def run(args: argparse.Namespace, work: Path, say) -> BenchReport:  # type: ignore[no-untyped-def]
    rg = rg_binary()
    if rg is None:
        raise BenchError("no `rg` binary: install the `ripgrep` package (the baseline needs it)")
    machine = Machine(cpus=os.cpu_count() or 0, platform=platform.platform(), python=platform.python_version(),
                      ripgrep=rg_version(rg), load_before=os.getloadavg())

    say(f"bundle: {args.size_mb:g} MB of filler under {work / 'main'} …")
    root, _truth = workload.main_bundle(work / "main", args.size_mb)
    size, count = workload.size_and_count(root)
    store_home = work / "store"
    store = BundleStore(store_home)
    record = store.ingest(root)
    year = record.manifest.collected_at.year if record.manifest.collected_at else None
    report = BenchReport(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         command="python -m evals.bench " + shlex.join(sys.argv[1:]), size_mb=args.size_mb,
                         bundle_bytes=size, bundle_files=count, repeat=args.repeat, machine=machine)

    say("cold index vs rg …")
    metrics, details = index_bench.cold_index_vs_rg(rg, record.root, year, args.repeat)
    report.metrics += metrics
    report.details.update(details)

    say("warm errors …")
    metrics, details = index_bench.warm_errors(store, record, args.repeat)
    report.metrics += metrics
    report.details.update(details)

    say("D3 searches vs rg …")
    metrics, details = search_bench.d3_searches(rg, store, record, args.repeat)
    report.metrics += metrics
    report.details.update(details)
    report.metrics.append(search_bench.search_rss(store_home, record.instance_id))

    say("(a+)+$ over a 10 MB line …")
    long_root = workload.long_line_bundle(work / "long-line", REDOS_LINE_BYTES)
    metric, _ = search_bench.catastrophic_pattern(long_root, BundleStore(work / "long-line-store"), args.repeat)
    report.metrics.append(metric)

    say(f"diagnose on a {args.diagnose_mb:g} MB bundle …")
    droot, _ = workload.diagnose_bundle(work / "diagnose", args.diagnose_mb)
    scratch = work / "homes"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    metrics, details = diagnose_bench.diagnose_vs_index(droot, year, args.repeat, scratch)
    report.metrics += metrics
    report.details.update(details)

    say("sopgraph --help …")
    metric, details = startup_bench.help_time()
    report.metrics.append(metric)
    report.details.update(details)

    report.machine.load_after = os.getloadavg()
    return report


def table(report: BenchReport) -> str:
    rows = [("measurement", "value", "baseline", "ratio", "target", "ok")]
    for m in report.metrics:
        rows.append((
            m.name,
            f"{m.value:g} {m.unit}",
            f"{m.baseline:g} {m.unit}" if m.baseline is not None else "",
            f"{m.ratio:g}×" if m.ratio is not None else "",
            m.target or "",
            {True: "yes", False: "NO", None: ""}[m.ok],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    head = (f"{report.date}  bundle {report.bundle_bytes / 1e6:.0f} MB in {report.bundle_files} files  "
            f"{report.machine.cpus} cpus  load {report.machine.load_before[0]:.2f}  best of {report.repeat}")
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    work = args.dir or Path(tempfile.mkdtemp(prefix="sopgraph-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args, work.resolve(), say)
    except BenchError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(report))
    for m in report.metrics:
        if m.note:
            print(f"  {m.name}: {m.note}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json_out}")
    return 0


__all__ = ["Metric", "main"]

if __name__ == "__main__":
    sys.exit(main())
