"""`networking/conntrack.txt`: the `conntrack -S` per-CPU counters and the `conntrack -L` table.

The counters' names depend on the kernel and on the conntrack-tools version (pre-5.10 `ignore=`,
5.10+ `clash_resolve=`, `chaintoolong=`, or `unknownN=` for attributes the tool does not know),
so counters are read generically and the form is reported rather than assumed. The table can
hold a million lines on a full node: it is counted while streaming, never stored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

StatsForm = Literal["pre_5_10", "5_10", "chaintoolong", "unknown_n", "empty"]

_CPU_LINE = re.compile(r"^\s*cpu=(?P<cpu>\d+)\s+(?P<rest>.*)$", re.S)
_COUNTER = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\d+)$")
_UNKNOWN = re.compile(r"^unknown\d+$")
_STATS_HEADER = "*** Output of conntrack -S"
_TABLE_HEADER = "*** Output of conntrack -L"
_FAMILIES = {"ipv4", "ipv6"}


class ConntrackStats(BaseModel):
    """Per-CPU counters (each dict also carries its `cpu` number) and their sums (without `cpu`).

    Extension (optional): `cpu_lines`, the 1-based input line of each per-CPU entry.
    """

    model_config = ConfigDict(frozen=True)

    per_cpu: list[dict[str, int]]
    sums: dict[str, int]
    form: StatsForm
    cpus: int
    cpu_lines: list[int] = []


class ConntrackTable(BaseModel):
    """Counts over `conntrack -L` entries. `by_state` counts only entries that carry a state
    (TCP, SCTP, DCCP); `by_dport` is keyed by the original-direction destination port.

    Extensions (optional): `first_line`/`last_line` of the entries, `skipped` non-entry lines.
    """

    model_config = ConfigDict(frozen=True)

    entries: int
    by_state: dict[str, int]
    by_protocol: dict[str, int]
    by_dport: dict[str, int]
    unreplied: int
    assured: int
    first_line: int | None = None
    last_line: int | None = None
    skipped: int = 0


class ConntrackFile(BaseModel):
    """Both sections of conntrack.txt; a missing header leaves its section empty and flagged."""

    model_config = ConfigDict(frozen=True)

    stats: ConntrackStats
    table: ConntrackTable
    has_stats_section: bool
    has_table_section: bool


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:  # more digits than int() accepts from text
        return None


class _StatsAccumulator:
    def __init__(self) -> None:
        self.per_cpu: list[dict[str, int]] = []
        self.lines: list[int] = []
        self.sums: Counter[str] = Counter()

    def feed(self, number: int, line: str) -> bool:
        m = _CPU_LINE.match(line)
        if m is None:
            return False
        cpu = _int(m["cpu"])
        if cpu is None:
            return False
        counters: dict[str, int] = {"cpu": cpu}
        for token in m["rest"].split():
            c = _COUNTER.match(token)
            if c is None or c["name"] == "cpu":
                continue
            value = _int(c["value"])
            if value is not None:
                counters[c["name"]] = value
                self.sums[c["name"]] += value
        self.per_cpu.append(counters)
        self.lines.append(number)
        return True

    def result(self) -> ConntrackStats:
        names = set(self.sums)
        form: StatsForm
        if not self.per_cpu:
            form = "empty"
        elif "ignore" in names:
            form = "pre_5_10"
        elif any(_UNKNOWN.match(n) for n in names):
            form = "unknown_n"
        elif "chaintoolong" in names:
            form = "chaintoolong"
        else:
            form = "5_10"
        return ConntrackStats(
            per_cpu=self.per_cpu,
            sums=dict(self.sums),
            form=form,
            cpus=len(self.per_cpu),
            cpu_lines=self.lines,
        )


class _TableAccumulator:
    def __init__(self) -> None:
        self.entries = 0
        self.by_state: Counter[str] = Counter()
        self.by_protocol: Counter[str] = Counter()
        self.by_dport: Counter[str] = Counter()
        self.unreplied = 0
        self.assured = 0
        self.first_line: int | None = None
        self.last_line: int | None = None
        self.skipped = 0

    def feed(self, number: int, line: str) -> bool:
        tokens = line.split()
        if not tokens:
            return False
        # `-o extended` prefixes `ipv4 2`.
        if tokens[0] in _FAMILIES and len(tokens) > 2 and tokens[1].isdigit():
            tokens = tokens[2:]
        # protocol name, protocol number, seconds to expiry.
        if (
            len(tokens) < 4
            or not tokens[0].isalpha()
            or not tokens[1].isdigit()
            or not tokens[2].isdigit()
            or not any(t.startswith("src=") for t in tokens[3:])
        ):
            self.skipped += 1
            return False
        self.entries += 1
        self.by_protocol[tokens[0].lower()] += 1
        state = tokens[3]
        if "=" not in state and not state.startswith("["):
            self.by_state[state] += 1
        for token in tokens[3:]:
            if token.startswith("dport="):
                self.by_dport[token[len("dport=") :]] += 1
                break
        if "[UNREPLIED]" in tokens:
            self.unreplied += 1
        if "[ASSURED]" in tokens:
            self.assured += 1
        if self.first_line is None:
            self.first_line = number
        self.last_line = number
        return True

    def result(self) -> ConntrackTable:
        return ConntrackTable(
            entries=self.entries,
            by_state=dict(self.by_state),
            by_protocol=dict(self.by_protocol),
            by_dport=dict(self.by_dport),
            unreplied=self.unreplied,
            assured=self.assured,
            first_line=self.first_line,
            last_line=self.last_line,
            skipped=self.skipped,
        )


def parse_conntrack_stats(lines: Iterable[str]) -> ConntrackStats:
    """Parse `conntrack -S` output; non-`cpu=` lines (headers, errors) are ignored."""
    acc = _StatsAccumulator()
    for number, line in enumerate(lines, start=1):
        acc.feed(number, line)
    return acc.result()


def parse_conntrack_table(lines: Iterable[str]) -> ConntrackTable:
    """Count `conntrack -L` entries in one pass; lines that are not entries are counted as skipped."""
    acc = _TableAccumulator()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            acc.feed(number, line)
    return acc.result()


def parse_conntrack_file(lines: Iterable[str]) -> ConntrackFile:
    """Split conntrack.txt on its `*** Output of conntrack -S/-L ***` headers and parse both parts.

    Lines before any header are routed by shape (a `cpu=` line is a counter line, anything else
    is tried as a table entry), so a file with a lost header still yields what it holds.
    """
    stats = _StatsAccumulator()
    table = _TableAccumulator()
    section: Literal["stats", "table"] | None = None
    has_stats = has_table = False
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_STATS_HEADER):
            section, has_stats = "stats", True
            continue
        if stripped.startswith(_TABLE_HEADER):
            section, has_table = "table", True
            continue
        if section == "stats" or (section is None and _CPU_LINE.match(line)):
            stats.feed(number, line)
        else:
            table.feed(number, line)
    return ConntrackFile(
        stats=stats.result(),
        table=table.result(),
        has_stats_section=has_stats,
        has_table_section=has_table,
    )
