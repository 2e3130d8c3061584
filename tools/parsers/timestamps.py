"""Wall-clock timestamps from any log line form found in an EKS node bundle.

Correlating events across files (dmesg, syslog, kube-proxy, CoreDNS, ipamd) needs one clock, so
every form is turned into an aware UTC datetime here and nowhere else. Forms without a year
(klog, syslog) need the caller's `year` — we never guess one, because a wrong year silently
reorders a timeline. Forms without a zone are taken as UTC: EKS AMIs run in UTC and the log
collector records no zone of its own.

dmesg's raw `[uptime]` prefix is seconds since boot, not a wall-clock time; `uptime_to_utc`
converts it for callers that know the boot time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}

_ISO = (
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:[.,](?P<frac>\d{1,9}))?"
)
_ZONE = r"(?P<zone>Z|UTC|[+-]\d{2}:?\d{2})"

# CRI / plain RFC3339 at the start of a line; the zone is optional there (cloud-init style).
_ISO_START = re.compile(rf"^\s*{_ISO}\s?{_ZONE}?(?![\d:])")
# logrus / Go `time="2026-07-30T09:01:12Z"`.
_GO_TIME = re.compile(rf'\btime="{_ISO}\s?{_ZONE}?"')
# RFC3339 anywhere in the line (JSON "ts" fields, curl banners); a zone is required here so that
# stray dates inside a message are not mistaken for the event time.
_ISO_ANYWHERE = re.compile(rf"(?<![\d-]){_ISO}\s?{_ZONE}(?![\d:])")
# dmesg --ctime: `[Wed Jul 30 14:02:11 2026]` (day may be space padded).
_CTIME = re.compile(
    r"^\s*\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) "
    r"(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2}) (?P<y>\d{4})\]"
)
# klog header: `I0730 14:02:11.123456`.
_KLOG = re.compile(
    r"^\s*[IWEF](?P<mo>\d{2})(?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?\b"
)
# syslog: `Jul 30 14:02:11` / `Jul  3 14:02:11`.
_SYSLOG = re.compile(
    r"^\s*(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?\b"
)


def _micro(frac: str | None) -> int:
    """Nanosecond fractions (CRI, RFC3339Nano) are truncated: datetime holds microseconds."""
    if not frac:
        return 0
    return int(frac[:6].ljust(6, "0"))


def _zone(zone: str | None) -> timedelta:
    if zone is None or zone in ("Z", "UTC"):
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def make_utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0,
    offset: timedelta = timedelta(0),
) -> datetime | None:
    """Build an aware UTC datetime, or None when the fields are not a real date (Feb 30, hour 25)."""
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        return (local - offset).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _from_iso(m: re.Match[str]) -> datetime | None:
    return make_utc(
        int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]),
        _micro(m["frac"]), _zone(m["zone"]),
    )


def parse_ctime(text: str) -> datetime | None:
    """Parse a dmesg `--ctime` bracket at the start of `text`."""
    m = _CTIME.match(text)
    if m is None:
        return None
    return make_utc(int(m["y"]), MONTHS[m["mon"]], int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]))


def parse_syslog_time(text: str, year: int | None) -> datetime | None:
    """Parse a `Jul 30 14:02:11` prefix; None without a year, since syslog does not record one."""
    m = _SYSLOG.match(text)
    if m is None or year is None or m["mon"] not in MONTHS:
        return None
    return make_utc(
        year, MONTHS[m["mon"]], int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), _micro(m["frac"])
    )


def parse_klog_time(text: str, year: int | None) -> datetime | None:
    """Parse a klog `I0730 14:02:11.123456` header; None without a year (klog omits it)."""
    m = _KLOG.match(text)
    if m is None or year is None:
        return None
    return make_utc(
        year, int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), _micro(m["frac"])
    )


def parse_iso_prefix(text: str) -> datetime | None:
    """Parse an RFC3339(Nano) / ISO timestamp at the start of `text` (CRI prefix, JSON-less logs)."""
    m = _ISO_START.match(text)
    return _from_iso(m) if m else None


def extract_timestamp(line: str, year: int | None = None) -> datetime | None:
    """Return the event time of a log line as an aware UTC datetime, or None.

    Forms at the start of the line win over forms found inside it, because a message can quote
    other times (a CRI-wrapped klog line carries two; the CRI one is the complete one).
    """
    if not line:
        return None
    # Bound the work on pathological lines: every supported timestamp sits near the start or in a
    # `time=`/`ts` field that loggers emit early.
    head = line[:4096]
    for parse in (parse_iso_prefix, parse_ctime):
        found = parse(head)
        if found is not None:
            return found
    for parse_no_year in (parse_klog_time, parse_syslog_time):
        found = parse_no_year(head, year)
        if found is not None:
            return found
    m = _GO_TIME.search(head)
    if m is not None:
        return _from_iso(m)
    m = _ISO_ANYWHERE.search(head)
    if m is not None:
        return _from_iso(m)
    return None


def uptime_to_utc(uptime_s: float, boot_time: datetime) -> datetime:
    """Turn dmesg's seconds-since-boot into wall-clock UTC; a naive boot_time is taken as UTC."""
    if boot_time.tzinfo is None:
        boot_time = boot_time.replace(tzinfo=UTC)
    try:
        return (boot_time + timedelta(seconds=uptime_s)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"uptime {uptime_s!r} s after {boot_time.isoformat()} is not a representable time") from exc


def boot_time_from(uptime_s: float, wallclock: datetime) -> datetime:
    """Infer the boot time from one event seen both as uptime (dmesg) and wall clock (dmesg -T)."""
    if wallclock.tzinfo is None:
        wallclock = wallclock.replace(tzinfo=UTC)
    try:
        return (wallclock - timedelta(seconds=uptime_s)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"uptime {uptime_s!r} s before {wallclock.isoformat()} is not a representable time") from exc
