"""The bundles the benchmark measures: generated once per spec and reused from `--dir`.

Generating a 1 GB bundle takes about a minute, so a bundle is kept next to the JSON of the spec
that produced it and reused only when that spec is identical.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evals.generator import BundleSpec, GroundTruth, write_bundle

SPEC_FILE = "spec.json"
TRUTH_FILE = "truth.json"
ID_FILE = "system/instance-id.txt"


def generated(spec: BundleSpec, where: Path) -> tuple[Path, GroundTruth]:
    """The bundle directory for `spec` under `where` (generated unless an identical one is there)."""
    marker = where / SPEC_FILE
    wanted = spec.model_dump_json()
    if marker.is_file() and marker.read_text() == wanted and (where / TRUTH_FILE).is_file():
        bundles = [p for p in where.iterdir() if p.is_dir() and p.name.startswith("eks_")]
        if len(bundles) == 1:
            return bundles[0], GroundTruth.model_validate_json((where / TRUTH_FILE).read_text())
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    result = write_bundle(spec, where)
    (where / TRUTH_FILE).write_text(result.truth.model_dump_json())
    marker.write_text(wanted)  # last: a bundle interrupted half-way is never reused
    return result.path, result.truth


def main_bundle(where: Path, size_mb: float) -> tuple[Path, GroundTruth]:
    """The large bundle: a kernel-full incident after `size_mb` of benign history (filler)."""
    spec = BundleSpec(scenario="kernel_table_full", seed=7, filler_mb=size_mb, instance_id="i-0be0c4000000000a1")
    return generated(spec, where)


def diagnose_bundle(where: Path, size_mb: float) -> tuple[Path, GroundTruth]:
    spec = BundleSpec(scenario="kernel_table_full", seed=8, filler_mb=size_mb, instance_id="i-0be0c4000000000a2")
    return generated(spec, where)


def long_line_bundle(where: Path, line_bytes: int, instance_id: str = "i-0be0c4000000000a3") -> Path:
    """A bundle whose dmesg is one line of `line_bytes` 'a's and a '!': the classic input on which
    a backtracking engine takes exponential time for `(a+)+$`. Written in 1 MiB chunks."""
    root = where / f"eks_{instance_id}_2026-07-30_1414-UTC_0.7.9"
    if root.exists():
        shutil.rmtree(root)
    (root / "kernel").mkdir(parents=True)
    (root / "system").mkdir()
    (root / ID_FILE).write_text(instance_id + "\n")
    chunk = b"a" * (1 << 20)
    with open(root / "kernel" / "dmesg.current", "wb") as fh:
        left = line_bytes
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        fh.write(b"!\n")
    return root


def size_and_count(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def dump_truth(truth: GroundTruth) -> dict[str, object]:
    return json.loads(truth.model_dump_json(include={"labels", "conntrack_count", "conntrack_max", "table_full_lines"}))
