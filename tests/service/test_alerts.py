"""Alert payloads parsed into what a run needs; bad payloads named precisely."""

from __future__ import annotations

import pytest

from graphs.service.alerts import AlertError, load_json, parse_alertmanager, parse_eventbridge, parse_generic
from tests.service.conftest import alertmanager_payload, eventbridge_payload


def test_alertmanager_v4_alert_carries_text_labels_and_instance() -> None:
    [a] = parse_alertmanager(alertmanager_payload(instance_id="i-0123456789abcdef0"))
    assert a.firing and a.source == "alertmanager"
    assert a.instance_ids == ["i-0123456789abcdef0"]
    assert "nf_conntrack: table full, dropping packet" in a.text
    assert "alertname=NodeConntrackTableFull" in a.text
    assert a.labels["cluster"] == "prod-east" and a.source_fingerprint == "3f1c9a0b2d4e5f60"
    assert a.title == "Conntrack table full on node"


def test_alertmanager_node_label_and_exporter_instance_become_node_names() -> None:
    [a] = parse_alertmanager(alertmanager_payload(node="ip-10-0-1-2.ec2.internal"))
    assert a.instance_ids == []
    assert a.node_names == ["ip-10-0-1-2.ec2.internal"]  # the :9100 of `instance` stripped, not repeated


def test_alertmanager_group_with_resolved_alert() -> None:
    payload = alertmanager_payload(instance_id="i-0123456789abcdef0")
    resolved = dict(payload["alerts"][0], status="resolved")
    payload["alerts"].append(resolved)
    first, second = parse_alertmanager(payload)
    assert first.firing and not second.firing
    assert second.index == 1


@pytest.mark.parametrize("mutate, needle", [
    (lambda p: p.update(version="3"), "version '3' is not supported"),
    (lambda p: p.update(alerts=[]), "alerts"),
    (lambda p: p["alerts"][0].update(labels="node=x"), "alerts.0.labels"),
    (lambda p: p["alerts"][0].update(status="pending"), "alerts.0.status"),
    (lambda p: p.pop("alerts"), "alerts: Field required"),
])
def test_alertmanager_malformed(mutate, needle: str) -> None:
    payload = alertmanager_payload(instance_id="i-0123456789abcdef0")
    mutate(payload)
    with pytest.raises(AlertError) as err:
        parse_alertmanager(payload)
    assert err.value.status == 400
    assert needle in err.value.reason


def test_eventbridge_cloudwatch_alarm() -> None:
    [a] = parse_eventbridge(eventbridge_payload(instance_id="i-0123456789abcdef0"))
    assert a.firing and a.source == "eventbridge"
    assert a.instance_ids == ["i-0123456789abcdef0"]
    assert "conntrack_allowance_exceeded" in a.text
    assert a.title == "eks-conntrack-allowance-exceeded"
    assert a.labels["driver"] == "ena"


def test_eventbridge_ok_state_is_not_firing_and_other_events_are_refused() -> None:
    [a] = parse_eventbridge(eventbridge_payload(instance_id="i-0123456789abcdef0", state="OK"))
    assert not a.firing
    other = eventbridge_payload(instance_id="i-0123456789abcdef0")
    other["detail-type"] = "EC2 Instance State-change Notification"
    with pytest.raises(AlertError) as err:
        parse_eventbridge(other)
    assert err.value.status == 422 and "unsupported EventBridge event" in err.value.reason
    broken = eventbridge_payload(instance_id="i-0123456789abcdef0")
    del broken["detail"]["state"]
    with pytest.raises(AlertError) as err:
        parse_eventbridge(broken)
    assert "detail.state" in err.value.reason


def test_generic_alert() -> None:
    [a] = parse_generic({"text": "conntrack_allowance_exceeded on eth0", "instance_ids": ["i-0123456789abcdef0"],
                         "labels": {"node": "ip-10-0-1-2.ec2.internal"}})
    assert a.instance_ids == ["i-0123456789abcdef0"] and a.node_names == ["ip-10-0-1-2.ec2.internal"]
    with pytest.raises(AlertError, match="not an EC2 instance id"):
        parse_generic({"text": "x", "instance_ids": ["web-1"]})
    with pytest.raises(AlertError, match="text"):
        parse_generic({"instance_ids": ["i-0123456789abcdef0"]})
    with pytest.raises(AlertError, match="surprise"):
        parse_generic({"text": "x", "surprise": 1})


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(AlertError) as err:
        load_json(b'{\n  "text": "x",\n  oops\n}')
    assert err.value.status == 400 and "line 3 column 3" in err.value.reason
