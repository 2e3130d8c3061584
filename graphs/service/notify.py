"""Outgoing webhook (Slack incoming-webhook body) when a run needs approval, finishes, escalates or fails.

Sending happens on a background thread with a bounded queue: a slow or dead receiver costs the
worker nothing but a log line. Each message is retried with backoff on connection errors, 5xx
and 429; a 4xx is the receiver saying no, and retrying would not change its mind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Literal

from pydantic import BaseModel, Field

log = logging.getLogger("sopgraph.service.notify")

Kind = Literal["approval_needed", "finished", "escalated", "failed"]
_HEADERS = {
    "approval_needed": ":raised_hand: Approval needed",
    "finished": ":white_check_mark: Run finished",
    "escalated": ":rotating_light: Escalation",
    "failed": ":x: Run failed",
}


class Notification(BaseModel):
    kind: Kind
    run_id: str
    runbook_id: str
    instance_ids: list[str] = Field(default_factory=list)
    title: str = ""
    root_cause: str | None = None
    severity: str | None = None
    pending: list[dict[str, Any]] = Field(default_factory=list)
    escalation_reasons: list[str] = Field(default_factory=list)
    error: str | None = None
    link: str | None = None


def _mrkdwn(text: Any) -> str:
    """Slack's three control characters; everything else in log-derived text is shown as is."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    nodes = ", ".join(n.instance_ids) or "no instance"
    head = f"{_HEADERS[n.kind]}: {n.runbook_id} on {nodes}"
    lines = []
    if n.title:
        lines.append(f"*Alert:* {_mrkdwn(n.title)}")
    if n.root_cause:
        lines.append(f"*Root cause:* {_mrkdwn(n.root_cause)}" + (f" ({_mrkdwn(n.severity)})" if n.severity else ""))
    for p in n.pending:
        lines.append(f"*Waiting for approval ({_mrkdwn(p.get('rating', ''))}):* {_mrkdwn(p.get('action', ''))} "
                     f"`{_mrkdwn(p.get('approval_id', ''))}`")
    for r in n.escalation_reasons:
        lines.append(f"*Escalate:* {_mrkdwn(r)}")
    if n.error:
        lines.append(f"*Error:* {_mrkdwn(n.error)}")
    link = f"<{n.link}|run {n.run_id[:12]}>" if n.link else f"run {n.run_id}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900] or "(no details)"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": link}]},
    ]
    text = f"{head}. " + (f"Root cause: {n.root_cause}. " if n.root_cause else "") + f"Run {n.run_id}"
    return {"text": _mrkdwn(text), "blocks": blocks}


class Notifier:
    def __init__(self, url: str | None, *, timeout_s: float = 5.0, attempts: int = 4, backoff_s: float = 0.5,
                 public_url: str | None = None, max_queued: int = 1000):
        self.url = url
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.public_url = public_url.rstrip("/") if public_url else None
        self._q: queue.Queue[Notification | None] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        self._closed = threading.Event()

    def link(self, run_id: str) -> str | None:
        return f"{self.public_url}/runs/{run_id}" if self.public_url else None

    def notify(self, n: Notification) -> None:
        """Queue `n` and return at once; never raises."""
        if not self.url:
            return
        if n.link is None:
            n = n.model_copy(update={"link": self.link(n.run_id)})
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="sopgraph-notify", daemon=True)
                self._thread.start()
        try:
            self._q.put_nowait(n)
        except queue.Full:
            self.dropped += 1
            log.warning("notification queue full; dropped %s for run %s", n.kind, n.run_id)

    def _loop(self) -> None:
        while True:
            n = self._q.get()
            try:
                if n is None:
                    return
                self._send(n)
            finally:
                self._q.task_done()

    def _send(self, n: Notification) -> bool:
        body = json.dumps(slack_body(n)).encode("utf-8")
        assert self.url is not None
        for attempt in range(1, self.attempts + 1):
            req = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "sopgraph"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read(1024)
                self.sent += 1
                return True
            except urllib.error.HTTPError as exc:
                retry = exc.code >= 500 or exc.code == 429
                log.warning("webhook answered %s for %s of run %s (attempt %d/%d)", exc.code, n.kind, n.run_id,
                            attempt, self.attempts)
                if not retry:
                    return False
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                log.warning("webhook unreachable for %s of run %s (attempt %d/%d): %s", n.kind, n.run_id,
                            attempt, self.attempts, getattr(exc, "reason", exc))
            if attempt < self.attempts and self._closed.wait(self.backoff_s * (2 ** (attempt - 1))):
                break  # closing: what is left is dropped with a log line, not retried forever
        log.error("gave up sending %s of run %s after %d attempts", n.kind, n.run_id, self.attempts)
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait (bounded) until everything queued was sent or given up on."""
        deadline = time.monotonic() + timeout_s
        while self._q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._q.unfinished_tasks

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what can be delivered within `timeout_s`; drop (and log) the rest."""
        self.flush(timeout_s)
        self._closed.set()
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            self._q.task_done()
            if item is not None:
                self.dropped += 1
                log.warning("not sent (shutting down): %s of run %s", item.kind, item.run_id)
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._q.put_nowait(None)


def notifications_for(job_id: str, runbook_id: str, instance_ids: list[str], title: str, status: str,
                      report: dict[str, Any] | None, pending: list[dict[str, Any]],
                      error: str | None = None, escalation: bool = True) -> list[Notification]:
    """What a run reaching `status` should announce: its state, and an escalation when the report asks.

    `escalation=False` after a decision: the escalation was announced when the run first stopped.
    """
    report = report or {}
    base = {"run_id": job_id, "runbook_id": runbook_id, "instance_ids": instance_ids, "title": title,
            "root_cause": report.get("root_cause"), "severity": report.get("severity")}
    out = []
    if status == "waiting_approval":
        out.append(Notification(kind="approval_needed", pending=[
            {k: p.get(k) for k in ("approval_id", "action", "rating")} for p in pending], **base))
    elif status == "done":
        out.append(Notification(kind="finished", **base))
    elif status == "failed":
        out.append(Notification(kind="failed", error=error, **base))
    if escalation and report.get("escalate") and status in ("waiting_approval", "done"):
        out.append(Notification(kind="escalated", escalation_reasons=list(report.get("escalation_reasons") or []),
                                **base))
    return out
