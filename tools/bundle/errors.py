"""The one error type the bundle store raises.

Everything that can go wrong with a bundle (a hostile archive member, a directory that is not a
bundle, an unknown instance) is something the user can act on, so it is a `ToolError`: the tool
registry turns it into a structured result with the hint, and the CLI prints it without a
traceback. The archive member and the path are kept as fields so callers can point at them.
"""

from __future__ import annotations

from tools.registry import ToolError


class BundleError(ToolError):
    """A bundle problem, naming the file or archive (`path`) and the offending `member` if any."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        member: str | None = None,
        hint: str | None = None,
        code: str = "bad_bundle",
    ):
        self.reason = message
        self.path = path
        self.member = member
        super().__init__(_format(message, path, member), hint=hint, code=code)

    def __str__(self) -> str:
        return self.message


def _format(message: str, path: str | None, member: str | None) -> str:
    where = []
    if path:
        where.append(str(path))
    if member is not None:
        where.append(f"member {member!r}")
    return f"{': '.join(where)}: {message}" if where else message
