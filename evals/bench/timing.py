"""Timing helpers: best-of-N in process, and probes run in a child Python for cold starts and RSS.

Best-of-N is the right statistic on a shared machine: noise from other work only ever adds time,
so the minimum is the closest to what the code itself costs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class BenchError(RuntimeError):
    """A measurement could not be taken (a probe failed); the message says which and why."""


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of `repeat` runs and the last run's return value."""
    best = float("inf")
    value: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def wall_times(cmd: Sequence[str], repeat: int, *, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> list[float]:
    """Wall-clock seconds of `repeat` runs of a command (output captured and discarded)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):  # rg exits 1 when nothing matched
            raise BenchError(f"{cmd[0]} exited {done.returncode}: {done.stderr[-500:].decode(errors='replace')}")
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def probe(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m evals.bench.probe ARGS` in a fresh interpreter and return its JSON report."""
    child_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench.probe", *args],
        cwd=REPO, env=child_env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"probe {' '.join(args[:1])} failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise BenchError(f"probe {args[0]} printed no report: {done.stdout[-500:]}")
    return json.loads(lines[-1])


def best_probe(repeat: int, *args: str, env_factory: Callable[[], dict[str, str]] | None = None) -> dict[str, Any]:
    """The fastest of `repeat` probe runs (by its `seconds`), with the highest RSS seen across them."""
    runs = [probe(*args, env=env_factory() if env_factory else None) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "rss_mb": max(r["rss_mb"] for r in runs), "all_seconds": [r["seconds"] for r in runs]}
