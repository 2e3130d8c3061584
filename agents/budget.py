"""Per-run token budget and usage counters shared by every model call of one diagnosis.

A run may fan out into several agent nodes (and, on a server, several threads), so the counters
live behind a lock and the check happens *before* a call: once a limit is reached no further
request is sent, which is the only way a budget can bound spend rather than merely report it.
A single call can still overshoot by up to its own `max_tokens`; the budget stops the next one.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """What the report's `usage` block shows; the same shape for offline and paid models."""

    model_config = ConfigDict(extra="forbid")

    model_calls: int = Field(default=0, ge=0)
    input_chars: int = Field(default=0, ge=0)
    output_chars: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    def add(self, other: Usage) -> Usage:
        """Return the sum; a new object, so a snapshot handed to a report never changes under it."""
        return Usage(
            model_calls=self.model_calls + other.model_calls,
            input_chars=self.input_chars + other.input_chars,
            output_chars=self.output_chars + other.output_chars,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class BudgetExceeded(Exception):
    """Raised before a model call when the run has already spent its allowance.

    The graph catches it to finish with what it has (the deterministic core still decides),
    so the message says which limit was hit and by how much.
    """

    def __init__(self, kind: str, used: int, limit: int):
        self.kind = kind
        self.used = used
        self.limit = limit
        super().__init__(
            f"token budget exhausted: {used} {kind} tokens used of {limit} allowed; "
            f"no further model calls are made in this run (raise the limit to allow more)"
        )


class TokenBudget:
    """Thread-safe token allowance for one run. A limit of None means unlimited.

    `spent` seeds the counters, so a run resumed in another process (after an approval
    interrupt) keeps counting against the same allowance instead of starting afresh.
    """

    def __init__(
        self,
        max_input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        *,
        spent: Usage | None = None,
    ):
        for name, value in (("max_input_tokens", max_input_tokens), ("max_output_tokens", max_output_tokens)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        self.max_input_tokens = max_input_tokens
        self.max_output_tokens = max_output_tokens
        self._lock = threading.Lock()
        self._usage = spent.model_copy() if spent is not None else Usage()

    @property
    def usage(self) -> Usage:
        """A snapshot of everything charged so far."""
        with self._lock:
            return self._usage.model_copy()

    def check(self) -> None:
        """Raise `BudgetExceeded` if either limit is already reached; call before each request."""
        with self._lock:
            used_in, used_out = self._usage.input_tokens, self._usage.output_tokens
        if self.max_input_tokens is not None and used_in >= self.max_input_tokens:
            raise BudgetExceeded("input", used_in, self.max_input_tokens)
        if self.max_output_tokens is not None and used_out >= self.max_output_tokens:
            raise BudgetExceeded("output", used_out, self.max_output_tokens)

    def charge(self, usage: Usage) -> Usage:
        """Add one call's usage and return the new total."""
        with self._lock:
            self._usage = self._usage.add(usage)
            return self._usage.model_copy()

    def remaining(self) -> tuple[int | None, int | None]:
        """(input, output) tokens left, None where unlimited; never negative."""
        with self._lock:
            used_in, used_out = self._usage.input_tokens, self._usage.output_tokens
        left_in = None if self.max_input_tokens is None else max(0, self.max_input_tokens - used_in)
        left_out = None if self.max_output_tokens is None else max(0, self.max_output_tokens - used_out)
        return left_in, left_out

    def __copy__(self) -> TokenBudget:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenBudget:
        """A budget is a shared accumulator: copies of a model (or config) must spend from it."""
        return self

    def __getstate__(self) -> dict[str, object]:
        # Pickling (another process) cannot share the counters; it carries a snapshot instead.
        return {"max_input_tokens": self.max_input_tokens, "max_output_tokens": self.max_output_tokens,
                "usage": self.usage}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["max_input_tokens"], state["max_output_tokens"], spent=state["usage"])  # type: ignore[misc, arg-type]

    def __repr__(self) -> str:
        return (
            f"TokenBudget(max_input_tokens={self.max_input_tokens}, "
            f"max_output_tokens={self.max_output_tokens}, usage={self.usage!r})"
        )
