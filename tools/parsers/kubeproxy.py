"""kube-proxy log lines about conntrack settings and rule-sync failures.

The bundle has no kube-proxy configuration (it lives in a ConfigMap), so the value kube-proxy set
for nf_conntrack_max is read from its log and compared with the sysctl. Every wording used across
Kubernetes versions is recognised — printf (≤1.19), `Set sysctl '…' to N`, structured klog
(`"Setting nf_conntrack_max" nfConntrackMax=N`, the intermediate `"nf_conntrack_max"=N` key, the
1.36 pkg/proxy/conntrack/sysctls.go lines) and JSON logging — inside a CRI/Docker envelope or not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal, NamedTuple, cast

from pydantic import BaseModel, ConfigDict

from tools.parsers.cri import CriLine, unwrap_cri
from tools.parsers.klog import KlogLine, parse_klog_line
from tools.parsers.timestamps import extract_timestamp, parse_iso_prefix

__all__ = [
    "ConntrackSetting",
    "CriLine",
    "SyncFailure",
    "parse_kube_proxy_conntrack",
    "parse_kube_proxy_sync_failures",
    "unwrap_cri",
]

SettingKey = Literal["nf_conntrack_max", "hashsize", "tcp_timeout_established", "tcp_timeout_close_wait", "other"]

_INT = r'"?(?P<value>\d{1,19})"?'
# (pattern, key or None when the key comes from the sysctl entry, form)
_PATTERNS: tuple[tuple[re.Pattern[str], SettingKey | None, str], ...] = (
    (re.compile(r"\bSetting nf_conntrack_max to (?P<value>\d{1,19})\b"), "nf_conntrack_max", "printf"),
    (re.compile(r"\bSetting conntrack hashsize to (?P<value>\d{1,19})\b"), "hashsize", "printf"),
    (re.compile(r"\bSet sysctl '(?P<entry>[^']{1,200})' to (?P<value>\d{1,19})\b"), None, "set_sysctl_printf"),
    (
        re.compile(rf'"Set sysctl" (?:.*? )?entry="(?P<entry>[^"]{{1,200}})" (?:.*? )?value={_INT}'),
        None,
        "set_sysctl_structured",
    ),
    (
        re.compile(rf'"Setting nf_conntrack_max" (?:.*? )?nfConntrackMax={_INT}'),
        "nf_conntrack_max",
        "structured",
    ),
    (
        re.compile(rf'"Setting nf_conntrack_max" (?:.*? )?"?nf_conntrack_max"?={_INT}'),
        "nf_conntrack_max",
        "structured_intermediate",
    ),
    (
        re.compile(rf'"Setting conntrack hashsize" (?:.*? )?(?:conntrackHashsize|"?hashsize"?)={_INT}'),
        "hashsize",
        "structured",
    ),
)
_MAX_SETTING_TEXT = 8192
# kube-proxy 1.36 moved the conntrack code to pkg/proxy/conntrack/sysctls.go.
_SOURCE_1_36 = "sysctls.go"

_JSON_VALUE_KEYS: dict[str, tuple[SettingKey | None, tuple[str, ...]]] = {
    "Setting nf_conntrack_max": ("nf_conntrack_max", ("nfConntrackMax", "nf_conntrack_max")),
    "Setting conntrack hashsize": ("hashsize", ("conntrackHashsize", "hashsize")),
    "Set sysctl": (None, ("value",)),
}


class ConntrackSetting(BaseModel):
    """One conntrack value kube-proxy logged that it set. `form` names the wording (printf,
    set_sysctl_printf, set_sysctl_structured, structured, structured_intermediate, structured_1_36,
    json). Extension (optional): `sysctl`, the sysctl path for "Set sysctl" lines."""

    model_config = ConfigDict(frozen=True)

    key: SettingKey
    value: int
    line: int
    timestamp: datetime | None
    form: str
    sysctl: str | None = None


class SyncFailure(BaseModel):
    """A failed kube-proxy rule sync. `detail` is the error text, including the multi-line
    `err=< ... >` block klog writes for iptables-restore failures (at most 50 lines)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["iptables_restore", "sync_failed", "other"]
    line: int
    timestamp: datetime | None
    severity: str | None
    text: str
    detail: str | None


def _key_for_sysctl(entry: str) -> SettingKey | None:
    """Map a sysctl path to a setting key; None for sysctls that are not conntrack's (route_localnet)."""
    name = entry.strip().replace("/", ".").removeprefix("net.netfilter.").removeprefix("net.")
    if not name.startswith("nf_conntrack_"):
        return None
    short = name.removeprefix("nf_conntrack_")
    if name == "nf_conntrack_max":
        return "nf_conntrack_max"
    if short in ("tcp_timeout_established", "tcp_timeout_close_wait"):
        return cast(SettingKey, short)
    return "other"


class _Unwrapped(NamedTuple):
    text: str
    timestamp: datetime | None
    klog: KlogLine | None


def _unwrap(line: str, year: int | None) -> _Unwrapped:
    """Strip the container envelope and klog header; the runtime's timestamp wins (it has a year)."""
    cri: CriLine | None = unwrap_cri(line)
    text = cri.text if cri is not None else line.rstrip("\r\n")
    klog = parse_klog_line(text, year)
    timestamp = cri.timestamp if cri is not None and cri.timestamp is not None else None
    if timestamp is None:
        timestamp = klog.timestamp if klog is not None else extract_timestamp(text, year)
    return _Unwrapped(text=text, timestamp=timestamp, klog=klog)


def _json_record(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith("{") or '"msg"' not in stripped:
        return None
    try:
        record = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _from_json(record: dict[str, Any], number: int, timestamp: datetime | None) -> ConntrackSetting | None:
    msg = record.get("msg")
    if not isinstance(msg, str) or msg not in _JSON_VALUE_KEYS:
        return None
    key, value_keys = _JSON_VALUE_KEYS[msg]
    sysctl: str | None = None
    if key is None:
        entry = record.get("entry")
        if not isinstance(entry, str):
            return None
        key, sysctl = _key_for_sysctl(entry), entry
        if key is None:
            return None
    for value_key in value_keys:
        value = record.get(value_key)
        if isinstance(value, str) and value.isdigit() and len(value) < 20:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if timestamp is None and isinstance(record.get("ts"), str):
                timestamp = parse_iso_prefix(record["ts"])
            return ConntrackSetting(
                key=key, value=value, line=number, timestamp=timestamp, form="json", sysctl=sysctl
            )
    return None


def _setting(text: str, klog: KlogLine | None, number: int, timestamp: datetime | None) -> ConntrackSetting | None:
    # The settings are short klog lines; bounding the text bounds the regex work on hostile input.
    text = text[:_MAX_SETTING_TEXT]
    if "onntrack" not in text and "Set sysctl" not in text:
        return None
    record = _json_record(text)
    if record is not None:
        return _from_json(record, number, timestamp)
    for pattern, fixed_key, form in _PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        sysctl = m.groupdict().get("entry")
        key = fixed_key if sysctl is None else _key_for_sysctl(sysctl)
        if key is None:
            return None
        if form == "structured" and klog is not None and klog.source_file == _SOURCE_1_36:
            form = "structured_1_36"
        return ConntrackSetting(
            key=key, value=int(m["value"]), line=number, timestamp=timestamp, form=form, sysctl=sysctl
        )
    return None


def parse_kube_proxy_conntrack(lines: Iterable[str], year: int | None = None) -> list[ConntrackSetting]:
    """Every conntrack setting kube-proxy logged, in file order (1-based line numbers).

    `year` dates bare klog lines (legacy var_log/kube-proxy.log); CRI-wrapped lines carry their own.
    """
    found: list[ConntrackSetting] = []
    for number, line in enumerate(lines, start=1):
        if "onntrack" not in line and "Set sysctl" not in line:
            continue
        unwrapped = _unwrap(line, year)
        setting = _setting(unwrapped.text, unwrapped.klog, number, unwrapped.timestamp)
        if setting is not None:
            found.append(setting)
    return found


_IPTABLES_RESTORE = re.compile(r"Failed to execute (?:ip6?tables|iptables)-restore")
_SYNC_FAILED = re.compile(r'"Sync failed"|\bSync failed\b')
_OTHER_SYNC = re.compile(r"(?i)\b(?:failed to sync|error syncing) (?:iptables|ipvs|nftables|proxy) rules\b")
_ERR_BLOCK_OPEN = re.compile(r"\berr=<\s*$")
_ERR_INLINE = re.compile(r'\berr="(?P<err>(?:[^"\\]|\\.){0,2000})"')
_MAX_DETAIL_LINES = 50


def _failure_kind(text: str) -> Literal["iptables_restore", "sync_failed", "other"] | None:
    if _IPTABLES_RESTORE.search(text):
        return "iptables_restore"
    if _SYNC_FAILED.search(text):
        return "sync_failed"
    if _OTHER_SYNC.search(text):
        return "other"
    return None


def _inline_detail(message: str) -> str | None:
    m = _ERR_INLINE.search(message)
    if m is not None:
        return m["err"]
    # printf era: `Failed to execute iptables-restore: exit status 1 (iptables-restore: line 7 failed)`
    head, sep, tail = message.partition("-restore: ")
    if sep and head:
        return tail.strip() or None
    return None


def parse_kube_proxy_sync_failures(lines: Iterable[str], year: int | None = None) -> list[SyncFailure]:
    """kube-proxy rule-sync failures: iptables-restore errors, "Sync failed" retries, and
    "failed to sync … rules" messages, each with its error text when the log has it."""
    found: list[SyncFailure] = []
    iterator: Iterator[tuple[int, str]] = enumerate(lines, start=1)
    block: list[str] | None = None
    block_owner: dict[str, Any] | None = None

    def flush() -> None:
        nonlocal block, block_owner
        if block_owner is not None:
            detail = "\n".join(block) if block else None
            found.append(SyncFailure(**block_owner, detail=detail))
        block, block_owner = None, None

    for number, line in iterator:
        if block is None and "ync" not in line and "-restore" not in line:
            continue
        unwrapped = _unwrap(line, year)
        text = unwrapped.text
        if block is not None:
            if text.strip() == ">" or len(block) >= _MAX_DETAIL_LINES:
                flush()
                continue
            if parse_klog_line(text) is None:
                block.append(text.strip())
                continue
            flush()
        kind = _failure_kind(text)
        if kind is None:
            continue
        message = unwrapped.klog.message if unwrapped.klog is not None else text
        owner: dict[str, Any] = {
            "kind": kind,
            "line": number,
            "timestamp": unwrapped.timestamp,
            "severity": unwrapped.klog.severity if unwrapped.klog is not None else None,
            "text": text,
        }
        if _ERR_BLOCK_OPEN.search(message):
            block, block_owner = [], owner
            continue
        found.append(SyncFailure(**owner, detail=_inline_detail(message)))
    flush()
    return found
