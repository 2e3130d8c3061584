"""Kernel ring-buffer lines from `kernel/dmesg.current`, `dmesg.boot` and `dmesg.human.current`.

The bundle holds the same records in up to three prefix forms (raw uptime, `--ctime` wall clock,
and the CONFIG_PRINTK_CALLER `[uptime][T123]` variant); one parser yields the message and
whichever clock the line carries so that "table full" matching ignores the prefix entirely.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.parsers.timestamps import parse_ctime

# `[104235.156774] msg`, `[    3.201144] msg`, optionally followed by `[  T896]` / `[    C3]`.
_RAW = re.compile(r"^\[\s*(?P<up>\d+\.\d+)\](?:\[\s*(?P<caller>[TC]\d+)\])?(?: |$)(?P<msg>.*)$", re.S)
_CTIME = re.compile(
    r"^\[(?P<stamp>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\]"
    r"(?:\[\s*(?P<caller>[TC]\d+)\])?(?: |$)(?P<msg>.*)$",
    re.S,
)


class DmesgLine(BaseModel):
    """One kernel record. `uptime_s` is seconds since boot (raw and caller forms); `wallclock` is
    the `--ctime` time taken as UTC (EKS nodes run in UTC; dmesg prints local time)."""

    model_config = ConfigDict(frozen=True)

    form: Literal["raw", "ctime", "caller"]
    uptime_s: float | None
    wallclock: datetime | None
    caller: str | None
    message: str


def parse_dmesg_line(line: str) -> DmesgLine | None:
    """Parse one dmesg line; None for lines without a kernel prefix (blank, wrapped, garbage)."""
    text = line.rstrip("\r\n")
    m = _RAW.match(text)
    if m is not None:
        uptime = float(m["up"])
        if not math.isfinite(uptime):
            return None
        caller = m["caller"]
        return DmesgLine(
            form="caller" if caller else "raw",
            uptime_s=uptime,
            wallclock=None,
            caller=caller,
            message=m["msg"],
        )
    m = _CTIME.match(text)
    if m is not None:
        return DmesgLine(
            form="ctime",
            uptime_s=None,
            wallclock=parse_ctime("[" + m["stamp"] + "]"),
            caller=m["caller"],
            message=m["msg"],
        )
    return None
