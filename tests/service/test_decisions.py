"""Approvals over HTTP: who may decide what, the audit log, and the page's forms (CSRF, escaping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphs.audit import read_entries
from graphs.service.auth import csrf_for
from graphs.service.worker import Worker
from tests.service.conftest import INSTANCES, TOKENS, alertmanager_payload, bearer


def _waiting_run(client: Any, cfg: Any, scenario: str = "both", **alert: Any) -> dict[str, Any]:
    payload = alertmanager_payload(instance_id=INSTANCES[scenario], **alert)
    r = client.post("/v1/alerts/alertmanager", json=payload, headers=bearer("am"))
    assert r.status_code == 202, r.text
    assert Worker(cfg).run(once=True) == 1
    run = client.get(f"/v1/runs/{r.json()['runs'][0]['run_id']}", headers=bearer("vic")).json()
    assert run["status"] == "waiting_approval", run
    return run


def _decide(client: Any, run: dict[str, Any], approval_id: str, who: str, decision: str = "approve",
            reason: str = "checked the evidence") -> Any:
    return client.post(f"/v1/runs/{run['id']}/approvals/{approval_id}", json={"decision": decision, "reason": reason},
                       headers=bearer(who))


def test_yellow_by_operator_red_only_by_admin_when_no_approver_list(client_for, make_cfg, home: Path) -> None:
    cfg = make_cfg()
    c = client_for(cfg)
    run = _waiting_run(c, cfg)
    [yellow] = run["pending_approvals"]
    assert yellow["rating"] == "YELLOW"
    assert _decide(c, run, yellow["approval_id"], "vic").status_code == 403  # a viewer
    r = _decide(c, run, yellow["approval_id"], "alice")
    assert r.status_code == 200, r.text
    after = r.json()
    [red] = after["pending_approvals"]
    assert red["rating"] == "RED" and after["status"] == "waiting_approval"
    refused = _decide(c, run, red["approval_id"], "alice")
    assert refused.status_code == 403 and "RED actions need an admin" in refused.json()["error"]
    still = c.get(f"/v1/runs/{run['id']}", headers=bearer("vic")).json()
    assert still["status"] == "waiting_approval" and still["pending_approvals"][0]["approval_id"] == red["approval_id"]
    audit = read_entries(home / "audit.log")
    assert [(e["approval_id"], e["by"], e["decision"]) for e in audit] == [(yellow["approval_id"], "alice", "approved")]
    r = _decide(c, run, red["approval_id"], "root", decision="reject", reason="upsizing needs a change ticket")
    assert r.status_code == 200 and r.json()["status"] == "done"
    actions = {a["approval_id"]: a["status"] for a in r.json()["report"]["proposed_actions"] if a["approval_id"]}
    assert actions == {yellow["approval_id"]: "approved", red["approval_id"]: "rejected"}
    audit = read_entries(home / "audit.log")
    assert [(e["by"], e["decision"], e["reason"]) for e in audit][-1] == ("root", "rejected",
                                                                          "upsizing needs a change ticket")
    again = _decide(c, run, red["approval_id"], "root")
    assert again.status_code == 409 and "already decided" in again.json()["error"]
    assert len(read_entries(home / "audit.log")) == 2


@pytest.fixture
def runbook_with_approvers(tmp_path: Path) -> Path:
    """D3 with an approver list, under another id: only sre-lead may decide its RED actions."""
    from runbooks.catalog import library_dir

    d = tmp_path / "runbooks"
    d.mkdir()
    text = (library_dir() / "D3-conntrack-exhaustion.md").read_text()
    text = text.replace('title: "D3 — Conntrack Exhaustion"', 'title: "D3A — Conntrack Exhaustion (approvers)"', 1)
    text = text.replace("safety_ratings:", "approvers:\n  - \"sre-lead\"\n\nsafety_ratings:", 1)
    (d / "D3A-conntrack.md").write_text(text)
    return d


def test_red_action_only_by_identities_on_the_runbook_approver_list(client_for, make_cfg, runbook_with_approvers) -> None:
    cfg = make_cfg(runbook_dirs=[str(runbook_with_approvers)])
    c = client_for(cfg)
    r = c.post("/v1/alerts", json={"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["both"]],
                                   "runbook": "D3A"}, headers=bearer("am"))
    assert r.status_code == 202, r.text
    assert Worker(cfg).run(once=True) == 1
    run = c.get(f"/v1/runs/{r.json()['runs'][0]['run_id']}", headers=bearer("vic")).json()
    [yellow] = run["pending_approvals"]
    assert yellow["approvers"] == ["sre-lead"]
    assert _decide(c, run, yellow["approval_id"], "alice").status_code == 200  # YELLOW: an operator may
    red = c.get(f"/v1/runs/{run['id']}", headers=bearer("vic")).json()["pending_approvals"][0]
    assert red["rating"] == "RED"
    for who in ("root", "alice"):  # admin is not enough when the runbook names its approvers
        r = _decide(c, run, red["approval_id"], who)
        assert r.status_code == 403 and "not on the runbook's approver list" in r.json()["error"]
    r = _decide(c, run, red["approval_id"], "sre-lead")
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert r.json()["report"]["approvals"][-1]["by"] == "sre-lead"


def test_unknown_run_and_approval_and_bad_decision(client_for, make_cfg) -> None:
    cfg = make_cfg()
    c = client_for(cfg)
    run = _waiting_run(c, cfg, scenario="kernel_table_full")
    assert c.post("/v1/runs/nope/approvals/x", json={"decision": "approve"}, headers=bearer("alice")).status_code == 404
    assert _decide(c, run, "nope-A9", "alice").status_code == 404
    r = c.post(f"/v1/runs/{run['id']}/approvals/{run['pending_approvals'][0]['approval_id']}",
               json={"decision": "maybe"}, headers=bearer("alice"))
    assert r.status_code == 400


def test_page_forms_need_the_csrf_field_and_escape_alert_text(client_for, make_cfg) -> None:
    cfg = make_cfg()
    c = client_for(cfg)
    run = _waiting_run(c, cfg, scenario="kernel_table_full", summary="<script>alert('x')</script> table full")
    aid = run["pending_approvals"][0]["approval_id"]
    token = TOKENS["alice"][0]
    assert c.post("/login", data={"token": "wrong-token-wrong-token"}).status_code == 401
    r = c.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    page = c.get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert f'name="csrf" value="{csrf_for(token)}"' in page
    # A cross-site form post carries the cookie but cannot know the CSRF field.
    r = c.post(f"/v1/runs/{run['id']}/approvals/{aid}", data={"decision": "approve"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post(f"/v1/runs/{run['id']}/approvals/{aid}", data={"decision": "approve", "csrf": csrf_for(token),
                                                              "reason": "<b>ok</b>"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/runs/{run['id']}"
    detail = c.get(f"/runs/{run['id']}").text
    assert 'id="run-status" class="status st-done">done<' in detail
    assert "&lt;b&gt;ok&lt;/b&gt;" in detail and "<b>ok</b>" not in detail
    assert c.get("/runs/nope").status_code == 404
