"""klog headers (`I0730 14:02:11.123456   1 conntrack.go:59] msg`), used by kube-proxy and kubelet.

The source file in the header tells kube-proxy versions apart (cmd/kube-proxy/app/conntrack.go
before 1.36, pkg/proxy/conntrack/sysctls.go from 1.36), which changes whether it may lower
nf_conntrack_max; so the header is parsed, not just skipped.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tools.parsers.timestamps import parse_klog_time

_KLOG = re.compile(
    r"^(?P<sev>[IWEF])\d{4} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\s+(?P<pid>\d+)\s+"
    r"(?P<file>[^\s:\]]+):(?P<lineno>\d+)\] ?(?P<msg>.*)$",
    re.S,
)


class KlogLine(BaseModel):
    """A parsed klog line; `timestamp` is None unless a year was given (klog omits it)."""

    model_config = ConfigDict(frozen=True)

    severity: str
    timestamp: datetime | None
    pid: int
    source_file: str
    source_line: int
    message: str


def parse_klog_line(line: str, year: int | None = None) -> KlogLine | None:
    """Parse one klog line; None when the line has no klog header."""
    text = line.rstrip("\r\n")
    m = _KLOG.match(text)
    if m is None:
        return None
    try:
        pid, source_line = int(m["pid"]), int(m["lineno"])
    except ValueError:  # more digits than int() accepts from text
        return None
    return KlogLine(
        severity=m["sev"],
        timestamp=parse_klog_time(text, year),
        pid=pid,
        source_file=m["file"],
        source_line=source_line,
        message=m["msg"],
    )
