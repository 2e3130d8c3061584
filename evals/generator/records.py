"""Log records shared by several files, and their renderings.

The same kubelet line is in kubelet/kubelet.log (journalctl) and, on AL2, in var_log/messages
(rsyslog); the same kernel line is in dmesg.current, dmesg.human.current and var_log/messages.
Keeping one record and rendering it per file keeps those copies identical, as on a real node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evals.generator import timefmt


@dataclass(frozen=True)
class Record:
    """A line a host service wrote to the journal."""

    at: datetime
    ident: str
    pid: int | None
    text: str


@dataclass(frozen=True)
class KernelRecord:
    """A printk line; `caller` is the CONFIG_PRINTK_CALLER id (`T896` task or `C1` CPU context)."""

    at: datetime
    text: str
    caller: str


def journal_line(record: Record, hostname: str) -> str:
    """journalctl's default `short` output: `Jul 30 14:02:11 host ident[pid]: text`."""
    tag = f"{record.ident}[{record.pid}]" if record.pid is not None else record.ident
    return f"{timefmt.syslog(record.at)} {hostname} {tag}: {record.text}"


def rsyslog_kernel_line(record: KernelRecord, short_hostname: str) -> str:
    """rsyslog (imjournal) renders kernel messages without the uptime bracket."""
    return f"{timefmt.syslog(record.at)} {short_hostname} kernel: {record.text}"


def dmesg_raw(record: KernelRecord, boot: datetime, with_caller: bool) -> str:
    stamp = timefmt.uptime_stamp(record.at - boot)
    if with_caller:
        return f"{stamp}[{record.caller:>6}] {record.text}"
    return f"{stamp} {record.text}"


def dmesg_human(record: KernelRecord, with_caller: bool) -> str:
    stamp = f"[{timefmt.ctime(record.at)}]"
    if with_caller:
        return f"{stamp}[{record.caller:>6}] {record.text}"
    return f"{stamp} {record.text}"
