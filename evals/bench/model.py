"""The benchmark's result: one row per measured target, plus the conditions it was measured in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Metric(BaseModel):
    """One target. `value` is what was measured; `ratio` is value / baseline when the target is
    relative; `ok` says whether the target holds (None when there is no target, e.g. a detail)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str | None = None
    ratio: float | None = None
    target: str | None = None
    ok: bool | None = None
    note: str | None = None


class Machine(BaseModel):
    cpus: int
    platform: str
    python: str
    ripgrep: str | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None


class BenchReport(BaseModel):
    date: str
    command: str
    size_mb: float
    bundle_bytes: int
    bundle_files: int
    repeat: int
    machine: Machine
    metrics: list[Metric] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)
