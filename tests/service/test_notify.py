"""Outgoing webhooks against a local stdlib HTTP receiver: body shape, retries, never blocking."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from graphs.service.notify import Notification, Notifier, slack_body
from graphs.service.worker import Worker
from tests.service.conftest import INSTANCES, bearer


class Receiver:
    """Answers with the queued status codes (then 200) and keeps every JSON body it got."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.codes: list[int] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                    code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.bodies) >= n:
                    return list(self.bodies)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} webhook calls, got {len(self.bodies)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_slack_body_escapes_control_characters_from_logs() -> None:
    n = Notification(kind="approval_needed", run_id="abc123", runbook_id="D3", instance_ids=["i-0123456789abcdef0"],
                     title="<!channel> table full & more",
                     pending=[{"approval_id": "abc-A1", "action": "sysctl -w x=<n>", "rating": "YELLOW"}],
                     link="http://sopgraph.example/runs/abc123")
    body = slack_body(n)
    assert set(body) == {"text", "blocks"} and body["blocks"][0]["type"] == "header"
    section = body["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; table full &amp; more" in section and "<!channel>" not in section
    assert "sysctl -w x=&lt;n&gt;" in section and "`abc-A1`" in section
    assert body["blocks"][2]["elements"][0]["text"] == "<http://sopgraph.example/runs/abc123|run abc123>"


def test_retries_server_errors_then_delivers(receiver: Receiver) -> None:
    receiver.codes = [500, 503]
    n = Notifier(receiver.url, backoff_s=0.01, attempts=4)
    n.notify(Notification(kind="finished", run_id="r1", runbook_id="D3"))
    assert n.flush(10)
    assert len(receiver.wait_for(3)) == 3 and n.sent == 1


def test_a_4xx_is_not_retried(receiver: Receiver) -> None:
    receiver.codes = [404]
    n = Notifier(receiver.url, backoff_s=0.01, attempts=4)
    n.notify(Notification(kind="finished", run_id="r1", runbook_id="D3"))
    assert n.flush(10)
    assert len(receiver.bodies) == 1 and n.sent == 0


def test_a_dead_receiver_never_blocks_the_caller() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = Notifier(f"http://127.0.0.1:{port}/hook", backoff_s=0.2, attempts=3, timeout_s=1)
    for k in range(20):
        n.notify(Notification(kind="failed", run_id=f"r{k}", runbook_id="D3", error="boom"))
    # notify() only queues: all twenty were accepted while the first is still being retried.
    assert n._q.qsize() + 1 >= 19 and n.sent == 0
    n.close(timeout_s=0.1)
    assert n.dropped >= 18  # closing gives up on what a dead receiver will never take
    n._thread.join(timeout=5)
    assert not n._thread.is_alive()


def test_worker_and_decision_announce_approval_escalation_and_finish(client_for, make_cfg, receiver: Receiver) -> None:
    cfg = make_cfg(webhook_url=receiver.url, public_url="http://sopgraph.example:8080")
    c = client_for(cfg)
    r = c.post("/v1/alerts", json={"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["both"]]},
               headers=bearer("am"))
    run_id = r.json()["runs"][0]["run_id"]
    assert Worker(cfg).run(once=True) == 1  # run() flushes its notifier on the way out
    first = receiver.wait_for(2)
    heads = [b["blocks"][0]["text"]["text"] for b in first]
    assert heads[0].startswith(":raised_hand: Approval needed: D3 on " + INSTANCES["both"])
    assert heads[1].startswith(":rotating_light: Escalation")  # the instance allowance is exceeded
    assert "AWS instance-level conntrack limit" in first[1]["blocks"][1]["text"]["text"]
    assert f"http://sopgraph.example:8080/runs/{run_id}" in first[0]["blocks"][2]["elements"][0]["text"]
    run = c.get(f"/v1/runs/{run_id}", headers=bearer("vic")).json()
    for who in ("alice", "root"):
        aid = run["pending_approvals"][0]["approval_id"]
        run = c.post(f"/v1/runs/{run_id}/approvals/{aid}", json={"decision": "approve"}, headers=bearer(who)).json()
    assert run["status"] == "done"
    bodies = receiver.wait_for(4)
    kinds = [b["blocks"][0]["text"]["text"].split(":")[1] for b in bodies]
    assert kinds == ["raised_hand", "rotating_light", "raised_hand", "white_check_mark"]  # no second escalation
    assert "Root cause:" in bodies[-1]["text"]
