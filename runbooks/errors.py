"""Runbook problems, located by file and line.

Parsing and linting share one collector so that the linter reports every problem the parser
noticed (not just the first), while `parse_runbook` still stops at the first fatal one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

IssueSeverity = Literal["error", "warning"]

UNNAMED = "<text>"


class RunbookError(Exception):
    """A runbook that cannot be used as written. `line` is 1-based; 0 means "the whole file"."""

    def __init__(self, path: str | None, line: int, message: str):
        self.path = path
        self.line = line
        self.message = message
        super().__init__(self.location() + message)

    def location(self) -> str:
        if self.path is None and self.line == 0:
            return ""
        return f"{self.path or UNNAMED}:{self.line}: "


class LintIssue(BaseModel):
    path: str
    line: int
    severity: IssueSeverity
    message: str

    def format(self) -> str:
        """The `FILE:LINE: severity: message` form editors and CI annotate from."""
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


class Diagnostics:
    """Collects issues while parsing; fatal ones make the runbook unusable."""

    def __init__(self, path: str | None):
        self.path = path
        self.issues: list[LintIssue] = []
        self._fatal: list[LintIssue] = []

    def error(self, line: int, message: str, *, fatal: bool = False) -> None:
        issue = LintIssue(path=self.path or UNNAMED, line=line, severity="error", message=message)
        self.issues.append(issue)
        if fatal:
            self._fatal.append(issue)

    def warning(self, line: int, message: str) -> None:
        self.issues.append(LintIssue(path=self.path or UNNAMED, line=line, severity="warning", message=message))

    @property
    def has_fatal(self) -> bool:
        return bool(self._fatal)

    def raise_first_fatal(self) -> None:
        if self._fatal:
            first = self._fatal[0]
            raise RunbookError(self.path, first.line, first.message)

    def sorted(self) -> list[LintIssue]:
        return sorted(self.issues, key=lambda i: (i.line, i.severity != "error"))
