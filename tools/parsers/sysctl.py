"""`sysctl --all` output (`sysctls/sysctl_all.txt`).

The public MCP server reads only the first 64 KB of this file, which can cut off the
`net.netfilter.*` keys on large hosts; these parsers read every line, streaming, so the file's
size never matters. `conntrack_sysctls` keeps only the nf_conntrack keys, with their line numbers
so findings can cite them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

_NETFILTER_PREFIX = "net.netfilter.nf_conntrack_"
_LEGACY_MAX = "net.nf_conntrack_max"


def split_sysctl_line(line: str) -> tuple[str, str] | None:
    """Split `key = value` on the first '='; None for lines that are not a sysctl assignment.

    Values keep their inner tabs (`net.ipv4.tcp_rmem = 4096\t131072\t6291456`) and may be empty.
    """
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key or any(ch.isspace() for ch in key):
        return None
    return key, value.strip()


def parse_sysctl(lines: Iterable[str]) -> dict[str, str]:
    """Every `key = value` of the file; later duplicates win, like a later `sysctl -w` would."""
    values: dict[str, str] = {}
    for line in lines:
        pair = split_sysctl_line(line)
        if pair is not None:
            values[pair[0]] = pair[1]
    return values


class ConntrackSysctls(BaseModel):
    """The nf_conntrack sysctls as read. Fields are None when the key is absent or not an integer.

    `timeouts` maps the short name (`tcp_timeout_established`, `udp_timeout`, ...) to seconds.
    Extensions (optional): `buckets_line`, `legacy_max_line`, `values` (every nf_conntrack key,
    raw text, full name) and `lines` (full name → 1-based line).
    """

    model_config = ConfigDict(frozen=True)

    count: int | None
    max: int | None
    buckets: int | None
    legacy_max: int | None
    timeouts: dict[str, int]
    count_line: int | None
    max_line: int | None
    buckets_line: int | None = None
    legacy_max_line: int | None = None
    values: dict[str, str] = {}
    lines: dict[str, int] = {}


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def conntrack_sysctls(lines: Iterable[str]) -> ConntrackSysctls:
    """Stream the file and keep only nf_conntrack keys (keys written with '/' are normalised)."""
    values: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if "nf_conntrack" not in line:
            continue
        pair = split_sysctl_line(line)
        if pair is None:
            continue
        key = pair[0].replace("/", ".")
        if key.startswith(_NETFILTER_PREFIX) or key == _LEGACY_MAX:
            values[key] = pair[1]
            where[key] = number

    timeouts: dict[str, int] = {}
    for key, raw in values.items():
        short = key.removeprefix(_NETFILTER_PREFIX)
        if key.startswith(_NETFILTER_PREFIX) and "timeout" in short:
            seconds = _int_or_none(raw)
            if seconds is not None:
                timeouts[short] = seconds

    def field(short: str) -> tuple[int | None, int | None]:
        full = short if short == _LEGACY_MAX else _NETFILTER_PREFIX + short
        value = _int_or_none(values.get(full))
        return value, (where.get(full) if value is not None else None)

    count, count_line = field("count")
    maximum, max_line = field("max")
    buckets, buckets_line = field("buckets")
    legacy, legacy_line = field(_LEGACY_MAX)
    return ConntrackSysctls(
        count=count,
        max=maximum,
        buckets=buckets,
        legacy_max=legacy,
        timeouts=timeouts,
        count_line=count_line,
        max_line=max_line,
        buckets_line=buckets_line,
        legacy_max_line=legacy_line,
        values=values,
        lines=where,
    )
