"""The HTTP API on SQLite: intake, dedup, refusals, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphs.service.worker import Worker
from tests.service.conftest import (
    INSTANCES,
    alertmanager_payload,
    bearer,
    eventbridge_payload,
    hostname_in,
)


def _counts(client: Any) -> dict[str, int]:
    return client.get("/v1/runs", headers=bearer("vic")).json()["counts"]


def test_alertmanager_alert_is_queued_and_visible(client_for) -> None:
    c = client_for()
    r = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(instance_id=INSTANCES["both"]), headers=bearer("am"))
    assert r.status_code == 202, r.text
    [run] = r.json()["runs"]
    assert run["runbook_id"] == "D3" and run["instance_ids"] == [INSTANCES["both"]] and not run["duplicate"]
    got = c.get(f"/v1/runs/{run['run_id']}", headers=bearer("vic")).json()
    assert got["status"] == "queued" and got["alert"]["source"] == "alertmanager"
    assert got["alert"]["title"] == "Conntrack table full on node"
    assert _counts(c)["queued"] == 1


def test_eventbridge_alarm_is_queued(client_for) -> None:
    c = client_for()
    r = c.post("/v1/alerts/eventbridge", json=eventbridge_payload(instance_id=INSTANCES["healthy"]),
               headers=bearer("am"))
    assert r.status_code == 202, r.text
    assert r.json()["runs"][0]["instance_ids"] == [INSTANCES["healthy"]]


def test_node_name_resolves_to_the_instance_whose_bundle_has_that_hostname(client_for, bundles) -> None:
    c = client_for()
    node = hostname_in(bundles["kernel_table_full"])
    r = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(node=node), headers=bearer("am"))
    assert r.status_code == 202, r.text
    assert r.json()["runs"][0]["instance_ids"] == [INSTANCES["kernel_table_full"]]
    short = node.split(".")[0]
    r = c.post("/v1/alerts", json={"text": "conntrack_allowance_exceeded", "node_names": [short]}, headers=bearer("am"))
    assert r.json()["runs"][0]["instance_ids"] == [INSTANCES["kernel_table_full"]]


def test_unmatched_unknown_node_and_missing_bundle_are_422_and_enqueue_nothing(client_for) -> None:
    c = client_for()
    cases = [
        ("/v1/alerts/alertmanager", alertmanager_payload(instance_id=INSTANCES["both"], alertname="DiskFull",
                                                          summary="Disk full", description="root fs at 97%"),
         "no runbook's triggers match"),
        ("/v1/alerts/alertmanager", alertmanager_payload(node="ip-10-9-9-9.ec2.internal"), "not known in the bundle store"),
        ("/v1/alerts", {"text": "nf_conntrack: table full, dropping packet"}, "names no instance"),
        ("/v1/alerts", {"text": "nf_conntrack: table full, dropping packet", "instance_ids": ["i-0fff0000000000fff"]},
         "no bundle for instance i-0fff0000000000fff"),
        ("/v1/alerts", {"text": "anything", "instance_ids": [INSTANCES["both"]], "runbook": "Z9"}, "unknown runbook"),
    ]
    for path, payload, reason in cases:
        r = c.post(path, json=payload, headers=bearer("am"))
        assert r.status_code == 422, (payload, r.text)
        assert reason in r.json()["error"]
    assert sum(_counts(c).values()) == 0


def test_malformed_payloads_are_400_and_enqueue_nothing(client_for) -> None:
    c = client_for()
    bad = alertmanager_payload(instance_id=INSTANCES["both"])
    bad["alerts"][0]["labels"] = ["not", "a", "map"]
    for path, body in [("/v1/alerts/alertmanager", b'{"version": "4", "alerts": ['),
                       ("/v1/alerts/eventbridge", b'{"detail-type": "CloudWatch Alarm State Change"}'),
                       ("/v1/alerts", b"[1, 2, 3]")]:
        r = c.post(path, content=body, headers={**bearer("am"), "Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]
    r = c.post("/v1/alerts/alertmanager", json=bad, headers=bearer("am"))
    assert r.status_code == 400 and "alerts.0.labels" in r.json()["error"]
    big = {"text": "nf_conntrack: table full, dropping packet " + "x" * 3000, "instance_ids": [INSTANCES["both"]]}
    c2 = client_for(max_body_bytes=1024)
    assert c2.post("/v1/alerts", json=big, headers=bearer("am")).status_code == 413
    assert sum(_counts(c).values()) == 0


def test_resolved_alerts_and_ok_alarms_are_not_runs(client_for) -> None:
    c = client_for()
    r = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(instance_id=INSTANCES["both"], status="resolved"),
               headers=bearer("am"))
    assert r.status_code == 200 and r.json()["runs"] == [] and r.json()["ignored"][0]["kind"] == "not_firing"
    r = c.post("/v1/alerts/eventbridge", json=eventbridge_payload(instance_id=INSTANCES["both"], state="OK"),
               headers=bearer("am"))
    assert r.status_code == 200 and r.json()["runs"] == []
    assert sum(_counts(c).values()) == 0


def test_the_same_incident_from_three_sources_is_one_run_within_the_window(client_for, bundles) -> None:
    c = client_for(dedup_window_s=600)
    iid = INSTANCES["both"]
    first = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(instance_id=iid), headers=bearer("am")).json()
    again = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(instance_id=iid), headers=bearer("am")).json()
    cw = c.post("/v1/alerts/eventbridge", json=eventbridge_payload(instance_id=iid), headers=bearer("am")).json()
    by_node = c.post("/v1/alerts/alertmanager", json=alertmanager_payload(node=hostname_in(bundles["both"])),
                     headers=bearer("am")).json()
    ids = {x["runs"][0]["run_id"] for x in (first, again, cw, by_node)}
    assert len(ids) == 1
    assert [x["runs"][0]["duplicate"] for x in (first, again, cw, by_node)] == [False, True, True, True]
    run = c.get(f"/v1/runs/{ids.pop()}", headers=bearer("vic")).json()
    assert run["duplicates"] == 3
    other = c.post("/v1/alerts", json={"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]},
                   headers=bearer("am")).json()
    assert not other["runs"][0]["duplicate"]
    assert _counts(c)["queued"] == 2


def test_a_zero_window_does_not_deduplicate(client_for) -> None:
    c = client_for(dedup_window_s=0)
    body = {"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]}
    a = c.post("/v1/alerts", json=body, headers=bearer("am")).json()["runs"][0]
    b = c.post("/v1/alerts", json=body, headers=bearer("am")).json()["runs"][0]
    assert a["run_id"] != b["run_id"] and not b["duplicate"]


def test_auth_refusals(client_for) -> None:
    c = client_for()
    body = {"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]}
    r = c.post("/v1/alerts", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert c.post("/v1/alerts", json=body, headers={"Authorization": "Bearer not-a-real-token-at-all"}).status_code == 401
    assert c.post("/v1/alerts", json=body, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    r = c.post("/v1/alerts", json=body, headers=bearer("vic"))
    assert r.status_code == 403 and "may not post alerts" in r.json()["error"]
    assert c.get("/v1/runs").status_code == 401
    assert c.get("/v1/runs/abc").status_code == 401
    assert c.post("/v1/runs/abc/approvals/x", json={"decision": "approve"}).status_code == 401
    assert sum(_counts(c).values()) == 0
    assert c.get("/healthz").status_code == 200


def test_public_reads_open_gets_but_never_writes(client_for) -> None:
    c = client_for(public_reads=True)
    assert c.get("/v1/runs").status_code == 200
    body = {"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]}
    assert c.post("/v1/alerts", json=body).status_code == 401
    assert c.post("/v1/runs/abc/approvals/x", json={"decision": "approve"}).status_code == 401


def test_no_tokens_configured_refuses_every_write(client_for) -> None:
    c = client_for(tokens=[])
    body = {"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]}
    assert c.post("/v1/alerts", json=body, headers=bearer("root")).status_code == 401


def test_runs_listing_filters_and_unknown_run(client_for) -> None:
    c = client_for()
    assert c.get("/v1/runs/nope", headers=bearer("vic")).status_code == 404
    assert c.get("/v1/runs?status=bogus", headers=bearer("vic")).status_code == 400
    assert c.get("/v1/runs?limit=x", headers=bearer("vic")).status_code == 400


def test_worker_runs_the_queued_alert_to_its_report(client_for, make_cfg, home: Path) -> None:
    cfg = make_cfg()
    c = client_for(cfg)
    r = c.post("/v1/alerts", json={"text": "conntrack_allowance_exceeded", "instance_ids": [INSTANCES["healthy"]]},
               headers=bearer("am"))
    run_id = r.json()["runs"][0]["run_id"]
    assert Worker(cfg).run(once=True) == 1
    run: dict[str, Any] = c.get(f"/v1/runs/{run_id}", headers=bearer("vic")).json()
    assert run["status"] == "done" and run["phase"] == "done" and run["attempts"] == 1
    assert run["report"]["thread_id"] == run["thread_id"] == run_id
    assert run["report"]["instance_ids"] == [INSTANCES["healthy"]]
    assert run["report"]["labels"] == []  # a healthy node: the alert is not evidence
    assert run["pending_approvals"] == [] and run["lease_owner"] is None
