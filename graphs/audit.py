"""The append-only audit log of approval decisions: who, when, what, why, on which thread.

One JSON object per line, flushed and fsync'd before the decision is acted on, so a crash never
leaves an action that ran without its record. Writing is idempotent per (thread, approval id):
LangGraph re-runs an interrupted node from its start on resume, and a decision must not be
logged twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def default_audit_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("SOPGRAPH_HOME") or Path.home() / ".sopgraph")
    return Path(env.get("SOPGRAPH_AUDIT_LOG") or home / "audit.log")


def read_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    return out


def append_decision(path: Path, entry: dict[str, Any]) -> bool:
    """Append `entry` unless this thread's approval id already has a decision. True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        for line in fh:
            try:
                seen = json.loads(line)
            except ValueError:
                continue
            if seen.get("thread_id") == entry.get("thread_id") and seen.get("approval_id") == entry.get("approval_id"):
                return False
        fh.seek(0, os.SEEK_END)
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return True
