"""Syslog lines from `var_log/messages` (AL2 rsyslog) and `var_log/syslog` (Ubuntu).

Kernel messages reach these files in two shapes: AL2 drops the dmesg uptime bracket, Ubuntu's
imklog keeps it after `kernel:`. The bracket is moved to `uptime_s` so that the message text is
the same on both and matches the dmesg message.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tools.parsers.timestamps import MONTHS, parse_iso_prefix, parse_syslog_time

# `Jul 30 14:02:11 ip-10-0-12-34 kernel: msg`, `Jul  3 ... systemd[1]: msg`; rsyslog's
# high-precision template puts an RFC3339 stamp first instead.
_TRADITIONAL = re.compile(r"^(?P<stamp>[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) (?P<rest>.*)$", re.S)
_RFC3339 = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?) (?P<rest>.*)$", re.S
)
# host, then program with optional [pid], then ': '. Program names may hold '/', '.', '-', '@'.
_REST = re.compile(r"^(?P<host>\S+) (?P<prog>[^\s:\[\]]+)(?:\[(?P<pid>\d{1,10})\])?:(?: (?P<msg>.*))?$", re.S)
_KERNEL_UPTIME = re.compile(r"^\[\s*(?P<up>\d+\.\d+)\](?: |$)(?P<msg>.*)$", re.S)


class SyslogLine(BaseModel):
    """One syslog record. `timestamp` is None when the line has no year and none was given.

    `uptime_s` (optional extension) holds the dmesg uptime of Ubuntu-style kernel lines, which is
    removed from `message`.
    """

    model_config = ConfigDict(frozen=True)

    timestamp: datetime | None
    host: str
    program: str
    pid: int | None
    message: str
    uptime_s: float | None = None


def parse_syslog_line(line: str, year: int | None = None) -> SyslogLine | None:
    """Parse one syslog line; None when it is not in a syslog shape (blank, continuation, garbage).

    `year` supplies what traditional syslog omits (take it from the bundle's collection date); a
    year rollover inside one file is the caller's to handle.
    """
    text = line.rstrip("\r\n")
    m = _TRADITIONAL.match(text)
    if m is not None:
        if m["stamp"][:3] not in MONTHS:
            return None
        timestamp = parse_syslog_time(m["stamp"], year)
    else:
        m = _RFC3339.match(text)
        if m is None:
            return None
        timestamp = parse_iso_prefix(m["stamp"])
    rest = _REST.match(m["rest"])
    if rest is None:
        return None
    program = rest["prog"]
    message = rest["msg"] or ""
    uptime: float | None = None
    if program == "kernel":
        k = _KERNEL_UPTIME.match(message)
        if k is not None and math.isfinite(float(k["up"])):
            uptime = float(k["up"])
            message = k["msg"]
    return SyslogLine(
        timestamp=timestamp,
        host=rest["host"],
        program=program,
        pid=int(rest["pid"]) if rest["pid"] else None,
        message=message,
        uptime_s=uptime,
    )
