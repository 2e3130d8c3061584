"""The benchmark's parts on small bundles: the rg baseline does the index's work, probes report
times and RSS from a child process, bundles are reused only for an identical spec."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evals.bench import workload
from evals.bench.__main__ import parse_args, table
from evals.bench.index_bench import rg_union_command, warm_errors
from evals.bench.model import BenchReport, Machine, Metric
from evals.bench.search_bench import catastrophic_pattern
from evals.bench.timing import BenchError, probe
from tests.tools.conftest import Bundles
from tools.bundle.store import BundleStore
from tools.findings.index import build_index
from tools.search_engine import rg_binary


def test_rg_baseline_finds_every_line_the_index_finds(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    rg = rg_binary()
    assert rg is not None
    cmd = rg_union_command(rg, node.path)
    files = cmd[cmd.index("--") + 1 :]
    assert "sysctls/sysctl_all.txt" not in files and "networking/ethtool.txt" not in files  # parsed, not scanned
    assert any(f.endswith(".gz") for f in files) and "--search-zip" in cmd
    out = subprocess.run(cmd, cwd=node.path, capture_output=True, check=True).stdout.decode(errors="replace")
    hits = {(ln.split(":", 2)[0], int(ln.split(":", 2)[1])) for ln in out.splitlines()}
    index = build_index(node.path, year_hint=2026)
    for f in index.findings:
        if f.source == "log":
            assert {(f.file, n) for n in f.lines} <= hits, f.id


def test_index_probe_reports_time_rss_and_findings(bundles: Bundles) -> None:
    node = bundles["kernel_full"]
    out = probe("index", str(node.path), "--year", "2026")
    assert out["seconds"] > 0 and out["findings"] == len(build_index(node.path, year_hint=2026).findings)
    assert 10 < out["rss_mb"] < 2000
    with pytest.raises(BenchError, match="probe index failed"):
        probe("index", str(node.path / "no-such-dir"))


def test_warm_errors_and_catastrophic_pattern(tmp_path: Path, bundles: Bundles) -> None:
    node = bundles["healthy"]
    metrics, details = warm_errors(node.store(), node.record(), 2)
    assert metrics[0].value >= 0 and metrics[0].ok is not None
    assert details["warm_errors_in_memory_s"] >= 0
    root = workload.long_line_bundle(tmp_path / "long", 200_000)
    assert (root / "kernel/dmesg.current").stat().st_size == 200_002
    metric, _ = catastrophic_pattern(root, BundleStore(tmp_path / "store"), 2)
    assert metric.unit == "s" and metric.value >= 0 and "200002 bytes" in (metric.note or "")


def test_generated_bundles_are_reused_only_for_the_same_spec(tmp_path: Path) -> None:
    where = tmp_path / "b"
    first, truth = workload.main_bundle(where, 0.01)
    marker = first / "kernel" / "marker"
    marker.write_text("kept\n")
    again, truth2 = workload.main_bundle(where, 0.01)
    assert again == first and marker.exists() and truth2 == truth
    other, _ = workload.main_bundle(where, 0.02)
    assert not marker.exists() and other.exists()
    size, count = workload.size_and_count(other)
    assert size > 10_000 and count > 50


def test_table_and_options() -> None:
    report = BenchReport(
        date="2026-07-30 14:00 UTC", command="python -m evals.bench", size_mb=1, bundle_bytes=2_000_000,
        bundle_files=3, repeat=3,
        machine=Machine(cpus=2, platform="linux", python="3.11", ripgrep="ripgrep 14.1.0", load_before=(0.1, 0, 0)),
        metrics=[Metric(name="x vs y", value=1.5, unit="s", baseline=1.0, ratio=1.5, target="≤ 2×", ok=True),
                 Metric(name="rss", value=301, unit="MB", target="< 300 MB", ok=False)],
    )
    text = table(report)
    assert "x vs y" in text and "1.5×" in text and "NO" in text and "2 cpus" in text
    assert report.metric("rss").ok is False
    assert parse_args(["--size-mb", "5"]).size_mb == 5
    with pytest.raises(SystemExit):
        parse_args(["--repeat", "0"])

