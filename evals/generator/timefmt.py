"""Timestamp renderings used by the node's logs.

Each log family has its own clock format, and a diagnosis correlates them (dmesg uptime vs
journal wall clock vs CRI RFC3339), so they are produced from one datetime by these functions and
never by `datetime.now()`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def ctime(dt: datetime) -> str:
    """`dmesg --ctime` / `date` style: `Wed Jul 30 14:02:11 2026` (day padded with a space)."""
    return f"{dt:%a %b} {dt.day:2d} {dt:%H:%M:%S %Y}"


def syslog(dt: datetime) -> str:
    """rsyslog / journalctl short format: `Jul 30 14:02:11`."""
    return f"{dt:%b} {dt.day:2d} {dt:%H:%M:%S}"


def klog(dt: datetime) -> str:
    """klog header time: `0730 14:02:11.123456` (the level letter is added by the caller)."""
    return f"{dt:%m%d %H:%M:%S}.{dt.microsecond:06d}"


def rfc3339nano(dt: datetime, nanos: int = 0) -> str:
    """CRI log time: `2026-07-30T14:02:11.123456789Z` (containerd writes nanoseconds)."""
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}{nanos % 1000:03d}Z"


def rfc3339milli(dt: datetime) -> str:
    """zap JSON time used by the VPC CNI: `2026-07-30T14:02:11.123Z`."""
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def iso_micro(dt: datetime) -> str:
    """containerd logrus time: `2026-07-30T14:02:11.123456789Z`."""
    return rfc3339nano(dt, dt.microsecond % 1000)


def uptime_stamp(uptime: timedelta) -> str:
    """dmesg raw prefix `[104235.156774]`: seconds right-aligned in 5 columns, then microseconds."""
    total_us = int(uptime / timedelta(microseconds=1))
    return f"[{total_us // 1_000_000:5d}.{total_us % 1_000_000:06d}]"


def journal_day(dt: datetime) -> str:
    """journalctl header time `Mon 2026-07-27 08:11:02 UTC`."""
    return f"{dt:%a %Y-%m-%d %H:%M:%S} UTC"


def archive_stamp(dt: datetime) -> str:
    """The collector's CURRENT_TIME: `date --utc +%Y-%m-%d_%H%M-%Z` -> `2026-07-30_1412-UTC`."""
    return f"{dt.astimezone(UTC):%Y-%m-%d_%H%M}-UTC"


def rotate_stamp(dt: datetime) -> str:
    """kubelet container-log rotation suffix `20260730-091512`."""
    return f"{dt:%Y%m%d-%H%M%S}"
