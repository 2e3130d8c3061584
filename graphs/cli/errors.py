"""Exit codes and the one exception type commands raise for bad input."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_WAITING_APPROVAL = 3


class CliError(Exception):
    """Bad input or an unmet precondition: printed as one line on stderr, exit 2 by default."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
