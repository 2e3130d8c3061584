"""Argument and result pieces every tool shares, so parameter names stay those of the runbooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.registry import ToolError
from tools.timewindow import Window, resolve_window


class Args(BaseModel):
    # Unknown parameters are refused so a typo in a runbook or a model's call is visible.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InstanceArgs(Args):
    instanceId: str | None = Field(None, description="EC2 instance id of the node (i-…)")
    region: str | None = Field(None, description="accepted for compatibility; local bundles ignore it")


class WindowArgs(InstanceArgs):
    incident_time: str | None = Field(None, description="incident time; the window is ±5 minutes around it")
    start_time: str | None = Field(None, description="window start (ISO 8601, 'YYYY-MM-DD HH:MM:SS', epoch)")
    end_time: str | None = Field(None, description="window end")


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowInfo(Result):
    window_start_utc: str | None
    window_end_utc: str | None
    resolution_reason: str


class Source(Result):
    """Where a value was read: the citation behind every number a tool reports."""

    file: str
    line: int | None = None


def window_for(args: WindowArgs, span: tuple[datetime, datetime] | None) -> tuple[Window, WindowInfo]:
    try:
        window = resolve_window(args.start_time, args.end_time, args.incident_time, bundle_span=span)
    except ValueError as exc:
        raise ToolError(str(exc), hint="use ISO 8601, e.g. 2026-07-30T14:02:11Z") from exc

    def fmt(ts: datetime | None) -> str | None:
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None

    return window, WindowInfo(
        window_start_utc=fmt(window.start), window_end_utc=fmt(window.end), resolution_reason=window.reason
    )


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.2f} TB"


def bounded(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
