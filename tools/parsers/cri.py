"""Container log line envelopes in `var_log/` (files copied from /var/log/containers and /var/log/pods).

containerd writes the CRI format `<RFC3339Nano> <stdout|stderr> <F|P> <text>`; Docker-era nodes
wrote json-file lines `{"log": "...\\n", "stream": "stderr", "time": "..."}`. Both are unwrapped
to the application's own line plus the runtime's timestamp, which, unlike klog's, has a year.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tools.parsers.timestamps import parse_iso_prefix

_CRI = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})) "
    r"(?P<stream>stdout|stderr) (?P<tags>[A-Z](?::[A-Z])*)(?: (?P<text>.*))?$",
    re.S,
)


class CriLine(BaseModel):
    """An unwrapped container log line. `partial` marks a CRI `P` chunk (the line continues in the
    next record), so callers do not read half a message as a whole one."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime | None
    stream: str
    partial: bool
    text: str


def _unwrap_json(line: str) -> CriLine | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    log, stream, time = record.get("log"), record.get("stream"), record.get("time")
    if not isinstance(log, str) or not isinstance(stream, str):
        return None
    return CriLine(
        timestamp=parse_iso_prefix(time) if isinstance(time, str) else None,
        stream=stream,
        partial=not log.endswith("\n"),
        text=log.rstrip("\r\n"),
    )


def unwrap_cri(line: str) -> CriLine | None:
    """Unwrap one CRI or Docker json-file line; None when the line has no container envelope."""
    text = line.rstrip("\r\n")
    m = _CRI.match(text)
    if m is not None:
        return CriLine(
            timestamp=parse_iso_prefix(m["ts"]),
            stream=m["stream"],
            partial="P" in m["tags"].split(":"),
            text=m["text"] or "",
        )
    if text.startswith("{") and '"log"' in text:
        return _unwrap_json(text)
    return None
