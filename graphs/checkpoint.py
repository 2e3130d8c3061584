"""Where run state lives: a SQLite file by default, Postgres when SOPGRAPH_DATABASE_URL is set.

Either way a thread interrupted for approval (or killed mid-run) resumes from its last checkpoint
in another process; with Postgres, on another machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def sopgraph_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    return Path(env.get("SOPGRAPH_HOME") or Path.home() / ".sopgraph")


def default_state_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    return Path(env.get("SOPGRAPH_STATE_DB") or sopgraph_home(env) / "state.db")


@contextmanager
def open_checkpointer(database_url: str | None = None, state_path: Path | None = None) -> Iterator[Any]:
    url = database_url if database_url is not None else os.environ.get("SOPGRAPH_DATABASE_URL")
    if url:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver
        return
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    path = state_path or default_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()
