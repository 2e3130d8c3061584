"""Reading a GetAutomationExecution answer the way the public EKS Node Log MCP server does.

Same status strings, the same task states and the same progress rule (anchor-tool-semantics §5.2)
so an agent prompt written for that server reads our status results unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

SUCCESS = frozenset({"Success", "CompletedWithSuccess"})
FAILED = frozenset({
    "Failed", "TimedOut", "Cancelled", "CompletedWithFailure", "ApprovalRejected", "Rejected",
    "ChangeCalendarOverrideRejected", "Exited",
})
TERMINAL = SUCCESS | FAILED
_TASK_STATE = {
    "Pending": "running", "InProgress": "running", "Waiting": "running", "Success": "completed",
    "CompletedWithSuccess": "completed", "TimedOut": "failed", "Failed": "failed",
    "CompletedWithFailure": "failed", "Cancelling": "cancelling", "Cancelled": "cancelled",
}
_STEP_DONE = frozenset({"Success", "Failed", "TimedOut", "Cancelled", "Skipped", "Exited"})


def task_state(status: str) -> str:
    if status in _TASK_STATE:
        return _TASK_STATE[status]
    return "failed" if status in FAILED else "running"


def progress(execution: dict[str, Any]) -> int:
    """100 on success, 0 on failure, else finished steps / steps capped at 95 (10 before any step)."""
    status = execution.get("AutomationExecutionStatus", "")
    if status in SUCCESS:
        return 100
    if status in FAILED:
        return 0
    if status in ("Pending", "InProgress", "Waiting"):
        steps = execution.get("StepExecutions") or []
        if not steps:
            return 10
        done = sum(1 for s in steps if s.get("StepStatus") in _STEP_DONE)
        return min(95, int(100 * done / len(steps)))
    return 0


def failure_reason(execution: dict[str, Any]) -> str:
    """Outputs.FailureMessage, else the first failed step, else the execution's message."""
    outputs = execution.get("Outputs") or {}
    for key, values in outputs.items():
        if key.split(".")[-1] == "FailureMessage" and values:
            return str(values[0])
    for step in execution.get("StepExecutions") or []:
        if step.get("StepStatus") in ("Failed", "TimedOut", "Cancelled"):
            message = step.get("FailureMessage") or step.get("Response") or step.get("StepStatus")
            return f"Step '{step.get('StepName', '?')}' failed: {message}"
    if execution.get("FailureMessage"):
        return str(execution["FailureMessage"])
    if execution.get("AutomationExecutionStatus") == "TimedOut":
        return "the automation timed out"
    return "Unknown failure reason"


def instance_of(execution: dict[str, Any]) -> str | None:
    values = (execution.get("Parameters") or {}).get("EKSInstanceId") or []
    return str(values[0]) if values else None


def texts(execution: dict[str, Any]) -> Iterator[str]:
    """Every human-readable string in the execution: messages, step outputs, failure details."""
    if execution.get("FailureMessage"):
        yield str(execution["FailureMessage"])
    yield from _values(execution.get("Outputs"))
    for step in execution.get("StepExecutions") or []:
        for key in ("FailureMessage", "Response"):
            if step.get(key):
                yield str(step[key])
        details = step.get("FailureDetails") or {}
        if details.get("FailureType"):
            yield str(details["FailureType"])
        yield from _values(details.get("Details"))
        yield from _values(step.get("Outputs"))


def _values(mapping: Any) -> Iterator[str]:
    if not isinstance(mapping, dict):
        return
    for values in mapping.values():
        for v in values if isinstance(values, list) else [values]:
            if v:
                yield str(v)


class StepDetail(BaseModel):
    stepName: str
    status: str
    startTime: str | None = None
    endTime: str | None = None


def step_details(execution: dict[str, Any]) -> list[StepDetail]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)

    return [
        StepDetail(stepName=str(s.get("StepName", "?")), status=str(s.get("StepStatus", "?")),
                   startTime=iso(s.get("ExecutionStartTime")), endTime=iso(s.get("ExecutionEndTime")))
        for s in execution.get("StepExecutions") or []
    ]
