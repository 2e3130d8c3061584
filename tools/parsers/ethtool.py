"""`networking/ethtool.txt`: `ethtool -S` per interface, as written by the log collector.

Each block is an `Interface <name>` line, then either `NIC statistics:` with 5-space indented
`name: value` counters, or an error text (`no stats available` for lo, "Cannot get stats strings
information: Operation not supported" for veths). The ENA allowance counters are what separates
an EC2 conntrack-allowance limit from a kernel table limit; a counter is evidence only when > 0,
which `allowance_exceeded(nonzero_only=True)` gives directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

ALLOWANCE_EXCEEDED: tuple[str, ...] = (
    "bw_in_allowance_exceeded",
    "bw_out_allowance_exceeded",
    "pps_allowance_exceeded",
    "conntrack_allowance_exceeded",
    "linklocal_allowance_exceeded",
)
CONNTRACK_AVAILABLE = "conntrack_allowance_available"

_INTERFACE = re.compile(r"^Interface\s+(?P<name>\S+)\s*$")
_NIC_HEADER = "NIC statistics:"
_VALUE = re.compile(r"^-?\d+$")
_NO_STATS = "no stats available"


class InterfaceStats(BaseModel):
    """One interface's block. `counters`/`lines` map counter name → value / 1-based input line.

    `no_stats` is set for `no stats available` (lo); `error` holds any other text ethtool printed
    instead of statistics (first line of it). `name` is "" for statistics that precede any
    `Interface` line (a bare `ethtool -S` capture).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    counters: dict[str, int]
    lines: dict[str, int]
    no_stats: bool
    error: str | None
    header_line: int

    def allowance_exceeded(self, nonzero_only: bool = False) -> dict[str, int]:
        """The `*_allowance_exceeded` counters present on this interface (absent ones are omitted).

        With `nonzero_only`, only counters > 0 — the ones that are evidence of a limit being hit.
        """
        return {
            name: self.counters[name]
            for name in ALLOWANCE_EXCEEDED
            if name in self.counters and (not nonzero_only or self.counters[name] > 0)
        }

    def conntrack_available(self) -> int | None:
        """`conntrack_allowance_available`: connections left before the EC2 allowance, if reported."""
        return self.counters.get(CONNTRACK_AVAILABLE)

    @property
    def ena_ge_2_8_1(self) -> bool:
        """The counter exists only from ENA 2.8.1 (on Nitro); the bundle has no `ethtool -i`."""
        return CONNTRACK_AVAILABLE in self.counters


class _Block:
    def __init__(self, name: str, header_line: int) -> None:
        self.name = name
        self.header_line = header_line
        self.counters: dict[str, int] = {}
        self.lines: dict[str, int] = {}
        self.no_stats = False
        self.error: str | None = None
        self.in_stats = False

    def freeze(self) -> InterfaceStats:
        return InterfaceStats(
            name=self.name,
            counters=self.counters,
            lines=self.lines,
            no_stats=self.no_stats,
            error=self.error,
            header_line=self.header_line,
        )


def _counter(line: str) -> tuple[str, int] | None:
    """`     name: value` (indented; split on the last ':' so that the cost stays linear)."""
    if not line[:1].isspace():
        return None
    name, sep, value = line.strip().rpartition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not _VALUE.match(value):
        return None
    try:
        return name, int(value)
    except ValueError:  # more digits than int() accepts from text
        return None


def parse_ethtool(lines: Iterable[str]) -> list[InterfaceStats]:
    """Parse every interface block, in file order. Unparseable lines inside a statistics block are
    skipped; text outside one is kept as the interface's error."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped:
            continue
        m = _INTERFACE.match(line)
        if m is not None:
            current = _Block(m["name"], number)
            blocks.append(current)
            continue
        if stripped == _NIC_HEADER:
            if current is None or current.in_stats:
                current = _Block("" if current is None else current.name, number)
                blocks.append(current)
            current.in_stats = True
            continue
        if current is None:
            continue
        counter = _counter(line) if current.in_stats else None
        if counter is not None:
            current.counters[counter[0]] = counter[1]
            current.lines[counter[0]] = number
            continue
        if stripped.lower() == _NO_STATS:
            current.no_stats = True
        elif current.error is None and not current.counters:
            current.error = stripped
    return [block.freeze() for block in blocks]
