"""Alert payloads → what a run needs: the text to match triggers against, instances, node names.

Three shapes: Alertmanager's webhook (version 4), a CloudWatch alarm state change delivered by
EventBridge, and a generic {text, instance_ids}. Each is validated by a pydantic model, so a bad
payload gets a 400 that names the field; resolved alerts and alarms leaving ALARM are not runs.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Source = Literal["alertmanager", "eventbridge", "generic"]

# Our own fixed patterns (never from input): an EC2 instance id; a node name in the EC2 form.
_INSTANCE_ID = re.compile(r"\b(?:i|mi)-[0-9a-f]{8}(?:[0-9a-f]{9})?\b")
_NODE_NAME_KEYS = ("node", "nodename", "node_name", "kubernetes_node", "kubernetes_io_hostname", "hostname",
                   "NodeName", "k8s_node_name")
_INSTANCE_KEYS = ("instance_id", "instanceid", "InstanceId", "ec2_instance_id", "instance")


class AlertError(Exception):
    """A payload we cannot use: 400 when it is malformed, 415/413 for transport problems."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ParsedAlert(BaseModel):
    source: Source
    index: int
    firing: bool
    text: str
    title: str
    labels: dict[str, str] = Field(default_factory=dict)
    instance_ids: list[str] = Field(default_factory=list)
    node_names: list[str] = Field(default_factory=list)
    runbook: str | None = None
    source_fingerprint: str | None = None
    starts_at: str | None = None


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AmAlert(_Loose):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AmWebhook(_Loose):
    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AmAlert] = Field(min_length=1)


class CwMetric(_Loose):
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)


class CwMetricStat(_Loose):
    metric: CwMetric


class CwMetricQuery(_Loose):
    id: str | None = None
    metricStat: CwMetricStat | None = None
    expression: str | None = None
    label: str | None = None


class CwConfiguration(_Loose):
    description: str | None = None
    metrics: list[CwMetricQuery] = Field(default_factory=list)


class CwState(_Loose):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    reasonData: str | None = None
    timestamp: str | None = None


class CwAlarmDetail(_Loose):
    alarmName: str
    state: CwState
    previousState: CwState | None = None
    configuration: CwConfiguration = Field(default_factory=CwConfiguration)


class EventBridgeEvent(_Loose):
    version: str | None = None
    id: str | None = None
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str | None = None
    time: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: CwAlarmDetail


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    instance_ids: list[str] = Field(default_factory=list, max_length=20)
    node_names: list[str] = Field(default_factory=list, max_length=20)
    labels: dict[str, str] = Field(default_factory=dict)
    runbook: str | None = None
    fingerprint: str | None = None


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise AlertError("body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise AlertError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _validation_reason(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors()[:4]:
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{exc.error_count() - 4} more)" if exc.error_count() > 4 else ""
    return f"not a valid {what}: " + "; ".join(parts) + more


def _instances_and_nodes(labels: dict[str, str]) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    nodes: list[str] = []
    lowered = {k.lower(): v for k, v in labels.items()}
    for key in _INSTANCE_KEYS:
        value = lowered.get(key.lower())
        if value:
            ids += [m for m in _INSTANCE_ID.findall(value) if m not in ids]
    for key in _NODE_NAME_KEYS:
        value = lowered.get(key.lower())
        if value and not _INSTANCE_ID.fullmatch(value):
            nodes.append(value)
    # Prometheus' `instance` label is often host:port of the node exporter on the node.
    inst = lowered.get("instance")
    if inst and not _INSTANCE_ID.search(inst):
        host = inst.rsplit(":", 1)[0] if re.fullmatch(r".+:\d{1,5}", inst) else inst
        if host and host not in nodes:
            nodes.append(host)
    return ids, [n for i, n in enumerate(nodes) if n not in nodes[:i]]


def _text(*parts: Any) -> str:
    return "\n".join(str(p) for p in parts if p)


def parse_alertmanager(payload: Any) -> list[ParsedAlert]:
    if isinstance(payload, dict) and str(payload.get("version", "")) not in ("4", ""):
        raise AlertError(f"Alertmanager webhook version {payload.get('version')!r} is not supported (only 4)")
    try:
        hook = AmWebhook.model_validate(payload)
    except ValidationError as exc:
        raise AlertError(_validation_reason(exc, "Alertmanager webhook (version 4)")) from None
    if hook.version != "4":
        raise AlertError("Alertmanager webhook version is missing (expected \"4\")")
    out = []
    for i, a in enumerate(hook.alerts):
        labels = {**hook.commonLabels, **a.labels}
        annotations = {**hook.commonAnnotations, **a.annotations}
        ids, nodes = _instances_and_nodes(labels)
        title = annotations.get("summary") or labels.get("alertname") or "alert"
        text = _text(*(f"{k}={v}" for k, v in sorted(labels.items())), *annotations.values())
        out.append(ParsedAlert(source="alertmanager", index=i, firing=a.status == "firing", text=text, title=title,
                               labels=labels, instance_ids=ids, node_names=nodes, source_fingerprint=a.fingerprint,
                               starts_at=a.startsAt))
    return out


def parse_eventbridge(payload: Any) -> list[ParsedAlert]:
    try:
        event = EventBridgeEvent.model_validate(payload)
    except ValidationError as exc:
        raise AlertError(_validation_reason(exc, "EventBridge CloudWatch alarm event")) from None
    if event.source != "aws.cloudwatch" or event.detail_type != "CloudWatch Alarm State Change":
        raise AlertError(f"unsupported EventBridge event {event.source!r} / {event.detail_type!r} "
                         "(expected aws.cloudwatch / CloudWatch Alarm State Change)", status=422)
    d = event.detail
    labels: dict[str, str] = {"alarmName": d.alarmName}
    ids: list[str] = []
    nodes: list[str] = []
    metric_text = []
    for q in d.configuration.metrics:
        if q.metricStat is None:
            if q.expression:
                metric_text.append(q.expression)
            continue
        m = q.metricStat.metric
        metric_text.append(f"{m.namespace or ''} {m.name or ''}".strip())
        for k, v in m.dimensions.items():
            labels.setdefault(k, v)
        more_ids, more_nodes = _instances_and_nodes(m.dimensions)
        ids += [i for i in more_ids if i not in ids]
        nodes += [n for n in more_nodes if n not in nodes]
    text = _text(d.alarmName, d.configuration.description, d.state.reason, *metric_text,
                 *(f"{k}={v}" for k, v in sorted(labels.items())))
    return [ParsedAlert(source="eventbridge", index=0, firing=d.state.value == "ALARM", text=text,
                        title=d.alarmName, labels=labels, instance_ids=ids, node_names=nodes,
                        source_fingerprint=event.id, starts_at=d.state.timestamp or event.time)]


def parse_generic(payload: Any) -> list[ParsedAlert]:
    try:
        g = GenericAlert.model_validate(payload)
    except ValidationError as exc:
        raise AlertError(_validation_reason(exc, "alert ({text, instance_ids})")) from None
    bad = [i for i in g.instance_ids if not _INSTANCE_ID.fullmatch(i)]
    if bad:
        raise AlertError(f"instance_ids: {bad[0]!r} is not an EC2 instance id (like i-0123456789abcdef0)")
    ids, nodes = _instances_and_nodes(g.labels)
    ids = [*g.instance_ids, *(i for i in ids if i not in g.instance_ids)]
    nodes = [*g.node_names, *(n for n in nodes if n not in g.node_names)]
    text = _text(g.text, *(f"{k}={v}" for k, v in sorted(g.labels.items())))
    return [ParsedAlert(source="generic", index=0, firing=True, text=text, title=g.text.splitlines()[0][:120],
                        labels=g.labels, instance_ids=ids, node_names=nodes, runbook=g.runbook,
                        source_fingerprint=g.fingerprint)]


PARSERS = {"alertmanager": parse_alertmanager, "eventbridge": parse_eventbridge, "generic": parse_generic}
