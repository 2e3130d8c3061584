"""Ground truth parsed back from the bytes that were written.

Computing the truth from the final bytes, not from the generator's intentions, is what makes
`missing` and `truncate` honest: a count that was cut out of a file is not in the truth either.
These are our own fixed patterns (not user input), so Python `re` is used.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from evals.generator.conntrack_files import LIST_HEADER, STATS_HEADER
from evals.generator.spec import GroundTruth, Label
from evals.generator.world import World

KERNEL_TABLE_FULL = re.compile(
    r"^(?:\[\s*\d+\.\d{6}\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\])(?:\[\s*[TC]\d+\])? "
    r"(?:nf_conntrack: )?nf_conntrack: table full(?: in netns \d+)?, dropping packet$"
    r"|^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: (?:nf_conntrack: )?nf_conntrack: table full"
    r"(?: in netns \d+)?, dropping packet$"
)
SYSCTL = re.compile(r"^net\.netfilter\.nf_conntrack_(count|max|buckets) = (\d+)$")
STAT = re.compile(r"(\w+)=(\d+)")
ETHTOOL_STAT = re.compile(r"^ {5}(\w+): (\d+)$")
KUBE_PROXY_MAX = re.compile(r'"Setting nf_conntrack_max" nfConntrackMax=(\d+)')
COREDNS_TIMEOUT = re.compile(r"\[ERROR\] plugin/errors: \d+ \S+ \w+: read udp \S+->\d+\.\d+\.\d+\.\d+:53: i/o timeout")
APP_DNS_FAILURE = re.compile(r"lookup \S+ on \d+\.\d+\.\d+\.\d+:53: (?:read udp \S+: i/o timeout|server misbehaving"
                             r"|no such host)")
DIAL_TIMEOUT = re.compile(r"dial tcp \d+\.\d+\.\d+\.\d+:\d+: i/o timeout")

KERNEL_LOG_FILES = re.compile(r"^(kernel/dmesg[^/]*|var_log/messages(\.\d+)?)$")


@dataclass(frozen=True)
class Visible:
    """The complete lines of one written file that a reader can see (decompressed for .gz)."""

    path: str
    lines: list[str]


def complete_lines(data: bytes) -> list[str]:
    """Only newline-terminated lines: a line cut by truncation is not evidence."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    return lines[:-1]


def gunzip_prefix(data: bytes) -> bytes:
    """What a reader recovers from a possibly truncated gzip stream."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        return decompressor.decompress(data)
    except zlib.error:
        return b""


def compute(world: World, visible: Iterable[Visible], missing: list[str], truncated: list[str]) -> GroundTruth:
    spec = world.spec
    evidence: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sysctl: dict[str, int] = {}
    stats: list[dict[str, int]] | None = None
    listing: int | None = None
    ethtool: dict[str, dict[str, int]] | None = None
    kube_proxy_max: int | None = None
    table_full = dns = dial = herrings = 0
    for item in visible:
        path, lines = item.path, item.lines
        kernel_file = bool(KERNEL_LOG_FILES.match(path))
        for line in lines:
            if "table full" in line:
                if kernel_file and KERNEL_TABLE_FULL.match(line):
                    table_full += 1
                    evidence["table_full"][path] += 1
                else:
                    herrings += 1
                    evidence["red_herring"][path] += 1
            if path.startswith(("var_log/", "kubelet/")):
                if COREDNS_TIMEOUT.search(line) or APP_DNS_FAILURE.search(line):
                    dns += 1
                    evidence["dns_errors"][path] += 1
                if DIAL_TIMEOUT.search(line):
                    dial += 1
                    evidence["connection_errors"][path] += 1
            if "kube-proxy" in path and (match := KUBE_PROXY_MAX.search(line)):
                kube_proxy_max = int(match.group(1))
                evidence["kube_proxy_max"][path] += 1
        if path == "sysctls/sysctl_all.txt":
            for line in lines:
                if match := SYSCTL.match(line):
                    sysctl[match.group(1)] = int(match.group(2))
        elif path == "networking/conntrack.txt":
            stats, listing = _conntrack(lines)
        elif path == "networking/ethtool.txt":
            ethtool = _ethtool(lines)
    exceeded: dict[str, dict[str, int]] = {}
    available: dict[str, int] = {}
    for iface, counters in (ethtool or {}).items():
        over = {name: value for name, value in counters.items() if name.endswith("_allowance_exceeded") and value > 0}
        if over:
            exceeded[iface] = over
        if "conntrack_allowance_available" in counters:
            available[iface] = counters["conntrack_allowance_available"]
    stats_drop = sum(row.get("drop", 0) for row in stats) if stats else None
    labels: list[Label] = []
    if table_full > 0 or (stats_drop or 0) > 0:
        labels.append("kernel_conntrack")
    if any(c.get("conntrack_allowance_exceeded", 0) > 0 for c in exceeded.values()):
        labels.append("aws_instance_limit")
    return GroundTruth(
        labels=labels, conntrack_count=sysctl.get("count"), conntrack_max=sysctl.get("max"),
        conntrack_buckets=sysctl.get("buckets"), table_full_lines=table_full, allowance_exceeded=exceeded,
        conntrack_available=available, dns_errors=dns, kube_proxy_conntrack_max=kube_proxy_max,
        instance_id=spec.instance_id, kernel_release=world.kernel.release, missing=sorted(missing),
        truncated=sorted(truncated), scenario=spec.scenario, kernel=spec.kernel, incident_time=world.incident,
        collection_time=world.collected, stats_drop=stats_drop,
        stats_early_drop=sum(row.get("early_drop", 0) for row in stats) if stats else None,
        stats_insert_failed=sum(row.get("insert_failed", 0) for row in stats) if stats else None,
        listing_entries=listing, connection_errors=dial, red_herring_lines=herrings,
        evidence_files={kind: dict(files) for kind, files in sorted(evidence.items())},
    )


def _conntrack(lines: list[str]) -> tuple[list[dict[str, int]] | None, int | None]:
    stats: list[dict[str, int]] | None = None
    listing: int | None = None
    section = None
    for line in lines:
        if line == STATS_HEADER:
            section, stats = "stats", []
        elif line == LIST_HEADER:
            section, listing = "list", 0
        elif section == "stats" and line.startswith("cpu=") and stats is not None:
            stats.append({name: int(value) for name, value in STAT.findall(line.split("\t", 1)[-1])})
        elif section == "list" and line and listing is not None:
            listing += 1
    return stats, listing


def _ethtool(lines: list[str]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in lines:
        if line.startswith("Interface "):
            current = result.setdefault(line.removeprefix("Interface ").strip(), {})
        elif current is not None and (match := ETHTOOL_STAT.match(line)):
            current[match.group(1)] = int(match.group(2))
    return result
