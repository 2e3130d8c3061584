"""The approval page in a real browser: Debian's headless Chromium driven by Selenium + chromedriver.

End to end on the default SQLite setup, through the real commands: `sopgraph serve` and
`sopgraph worker` in their own processes, an alert posted over HTTP, then a person signs in,
reads the evidence behind the pending action, clicks Approve, and sees the run done.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from graphs.audit import read_entries
from tests.service.conftest import INSTANCES, TOKENS, child_env, need, spawn, stop, token_entries

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2000"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _wait(predicate, timeout: float, what: str, procs=()) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(p.output()[-2000:] for p in procs))


@pytest.fixture
def browser() -> Any:
    need("chromium + chromedriver", bool(shutil.which("chromium") and shutil.which("chromedriver")),
         "apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sopgraph-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_sign_in_read_evidence_approve_and_see_the_run_done(browser, store, home: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(home, SOPGRAPH_TOKENS=json.dumps(token_entries()), SOPGRAPH_POLL_S="0.1")
    procs = [spawn(["serve", "--port", str(port), "--log-level", "warning"], env, tmp_path / "serve.log"),
             spawn(["worker", "--log-level", "warning"], env, tmp_path / "worker.log")]
    try:
        _wait(lambda: _http("GET", base + "/healthz")[0] == 200, 60, "sopgraph serve", procs)
        code, body = _http("POST", base + "/v1/alerts", TOKENS["am"][0],
                           {"text": "nf_conntrack: table full, dropping packet",
                            "instance_ids": [INSTANCES["kernel_table_full"]]})
        assert code == 202, body
        run_id = body["runs"][0]["run_id"]
        run = _wait(lambda: (r := _http("GET", f"{base}/v1/runs/{run_id}", TOKENS["vic"][0])[1])
                    and r.get("status") == "waiting_approval" and r, 90, "the run to wait for approval", procs)
        [pending] = run["pending_approvals"]
        assert pending["rating"] == "YELLOW" and pending["evidence"]

        browser.get(base + "/")
        assert browser.current_url.endswith("/login")  # not signed in: sent to the sign-in form
        browser.find_element(By.ID, "token").send_keys(TOKENS["alice"][0])
        browser.find_element(By.ID, "login-submit").click()
        _wait(lambda: browser.find_elements(By.ID, "pending"), 15, "the runs page")
        card = browser.find_element(By.ID, f"pending-{pending['approval_id']}")
        assert pending["action"] in card.find_element(By.CLASS_NAME, "action").text
        shown = [li.text for li in card.find_elements(By.CSS_SELECTOR, "ul.evidence li")]
        assert len(shown) == len(pending["evidence"])
        for item, text in zip(pending["evidence"], shown, strict=True):
            assert item["content"] in text and all(fid in text for fid in item["finding_ids"])
        assert "alice" in browser.find_element(By.CLASS_NAME, "who").text

        card.find_element(By.NAME, "reason").send_keys("raising nf_conntrack_max, table is at 100%")
        browser.find_element(By.ID, f"approve-{pending['approval_id']}").click()
        _wait(lambda: browser.find_elements(By.ID, "run-status"), 30, "the run page")
        assert browser.find_element(By.ID, "run-status").text == "done"
        assert "approved by alice" in browser.find_element(By.ID, "decisions").text
        assert "raising nf_conntrack_max" in browser.find_element(By.ID, "decisions").text
    finally:
        stop(procs)
    entries = [e for e in read_entries(home / "audit.log") if e["thread_id"] == run_id]
    assert [(e["approval_id"], e["decision"], e["by"]) for e in entries] == [(pending["approval_id"], "approved", "alice")]
