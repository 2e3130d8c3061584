"""`sopgraph --help` wall time: the CLI must not import the heavy libraries to print its help."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from evals.bench.model import Metric
from evals.bench.timing import median, wall_times

HELP_TARGET_S = 0.5
RUNS = 5


def sopgraph_binary() -> str:
    local = Path(sys.executable).with_name("sopgraph")
    return str(local) if local.exists() else (shutil.which("sopgraph") or "sopgraph")


def help_time() -> tuple[Metric, dict[str, object]]:
    cmd = [sopgraph_binary(), "--help"]
    wall_times(cmd, 1)  # the first run pays for .pyc compilation and a cold page cache
    times = wall_times(cmd, RUNS)
    mid = median(times)
    return Metric(name="sopgraph --help (median of 5)", value=round(mid, 3), unit="s",
                  target=f"≤ {HELP_TARGET_S:g} s", ok=mid <= HELP_TARGET_S), {"help_runs_s": [round(t, 3) for t in times]}
