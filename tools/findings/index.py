"""Build (and cache) a bundle's findings index: every catalog match, grouped, with stable F-NNN ids.

Unlike the public MCP server's indexer (first 1 MB / 5000 lines of at most 200 files, no
conntrack or ENA patterns, ethtool/sysctl skipped), this reads whole files, streaming, and reads
the ENA, sysctl and conntrack counters through their parsers.

Speed comes from never running Python per line: each group of files that shares the same
applicable patterns (a "file class") is searched with ONE alternation of those patterns, by
ripgrep for plain files (when available) and by RE2 over 1 MB blocks for gzip-rotated files and
as the fallback. Only lines the alternation hits reach Python, where one RE2 set match tells which
patterns they are evidence for. Only the first `LINE_BYTES` of a line are classified, so a
pathological single-line file costs a bounded amount of work.
"""

from __future__ import annotations

import contextlib
import gzip
import statistics
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import takewhile
from pathlib import Path
from typing import BinaryIO

import re2
from pydantic import ValidationError

from tools.atomic import write_text_atomic
from tools.bundle.textio import MAX_LINE_CHARS, BundleFile, bundle_files, is_binary, is_gzip, iter_lines
from tools.findings.catalog import (
    CATALOG_VERSION,
    CONNTRACK_FILE,
    ETHTOOL_FILE,
    PATTERNS,
    SYSCTL_FILE,
    Pattern,
    line_patterns_for,
    re2_options,
)
from tools.findings.model import (
    SEVERITY_ORDER,
    Finding,
    FindingsIndex,
    FindingSource,
    SkippedFile,
    finding_id,
)
from tools.parsers.conntrack import parse_conntrack_stats
from tools.parsers.dmesg import parse_dmesg_line
from tools.parsers.ethtool import parse_ethtool
from tools.parsers.sysctl import conntrack_sysctls
from tools.parsers.timestamps import boot_time_from, extract_timestamp, uptime_to_utc
from tools.search_engine import choose_engine, rg_binary

INDEX_VERSION = 1
CACHE_FILE = "findings_index.json"
LINE_BYTES = MAX_LINE_CHARS  # bytes of one line that are classified
SAMPLE_CHARS = 300
LINES_LISTED = 10
# Per (pattern, file): timestamps are parsed for this many hits; later hits are still counted and
# the last one's time is read at the end, so first/last times stay right at any volume.
TS_CAP = 10_000
_CHUNK = 1 << 20
_RG_BATCH = 400
_RG_PREVIEW_MARK = b" [... omitted end of long line]"
_CONNTRACK_TABLE_HEADER = "*** Output of conntrack -L"

# Files that hold no log lines and can be huge; parsed files (ethtool, sysctl, conntrack) are
# handled by their parsers instead.
_NOT_LOG_FILES = {"networking/conntrack6.txt": "conntrack -L listing (table entries, no log lines)"}
_DMESG_RAW = "kernel/dmesg.current"
_DMESG_HUMAN = "kernel/dmesg.human.current"
_SYSLOG_UPTIME = re2.compile(r"\bkernel: \[\s*(\d{1,10}\.\d{1,9})\]")

_COUNTER_NOTE = "counter snapshot at collection time; the bundle has no time for it"
_SOURCES: dict[str, FindingSource] = {
    "ethtool_counter": "ethtool",
    "sysctl_ratio": "sysctl",
    "conntrack_stat": "conntrack_stats",
}


class IndexBuildError(Exception):
    """The index could not be built (engine failure); message is user-facing."""


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------


def build_index(root: Path, *, year_hint: int | None = None, digest: str | None = None) -> FindingsIndex:
    """Scan a bundle directory and return its findings index (no caching; see `load_or_build`).

    `year_hint` is the collection year: syslog and klog lines carry no year of their own.
    """
    started = time.perf_counter()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"bundle directory {root} does not exist")
    engine = choose_engine()
    rg = rg_binary() if engine == "rg" else None
    builder = _Builder(root, year_hint)
    files = bundle_files(root)

    classes: dict[tuple[str, ...], _FileClass] = {}
    for bf in files:
        if bf.rel in (ETHTOOL_FILE, SYSCTL_FILE, CONNTRACK_FILE):
            builder.parse_counters(bf)
            continue
        if bf.rel in _NOT_LOG_FILES:
            builder.skip(bf.rel, _NOT_LOG_FILES[bf.rel])
            continue
        patterns = line_patterns_for(bf.rel)
        if not patterns:
            builder.skip(bf.rel, "no catalog pattern applies to this file")
            continue
        problem = _unreadable(bf.path)
        if problem:
            builder.skip(bf.rel, problem)
            continue
        if is_binary(bf.path):
            builder.skip(bf.rel, "binary (NUL byte in the first 8 KB)")
            continue
        key = tuple(p.id for p in patterns)
        cls = classes.get(key)
        if cls is None:
            cls = classes[key] = _FileClass(patterns)
        cls.files.append(bf)
        builder.scanned(bf)

    for cls in classes.values():
        plain = [bf for bf in cls.files if not _gzipped(bf)]
        packed = [bf for bf in cls.files if _gzipped(bf)]
        if rg is not None and plain:
            by_rel = {bf.rel: bf for bf in plain}
            for rel, number, raw in _scan_rg(rg, root, [bf.rel for bf in plain], cls.union):
                hit_file = by_rel.get(rel)
                if hit_file is not None:
                    builder.hit(cls, hit_file, number, raw)
        else:
            packed = plain + packed
        for bf in packed:
            for number, raw in _scan_re2(bf.path, cls.compiled_union):
                builder.hit(cls, bf, number, raw)

    index = builder.finish(engine=engine, total_files=len(files), digest=digest)
    index.built_seconds = round(time.perf_counter() - started, 3)
    return index


def load_or_build(root: Path, cache_dir: Path, digest: str, *, year_hint: int | None = None) -> FindingsIndex:
    """The bundle's index from `cache_dir` when it was built for this digest, catalog and year;
    otherwise build it and store it atomically (a crash never leaves a half-written cache)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / CACHE_FILE
    cached = _read_cache(path)
    if (
        cached is not None
        and cached.digest == digest
        and cached.catalog_version == CATALOG_VERSION
        and cached.index_version == INDEX_VERSION
        and cached.year_hint == year_hint
    ):
        return cached
    index = build_index(root, year_hint=year_hint, digest=digest)
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, index.model_dump_json())
    return index


# ------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------


def _read_cache(path: Path) -> FindingsIndex | None:
    try:
        return FindingsIndex.model_validate_json(path.read_bytes())
    except (OSError, ValueError, ValidationError):
        # Missing, unreadable, corrupt or from an older model: rebuilding is always correct.
        return None


# ------------------------------------------------------------------------------------------
# Scanning engines
# ------------------------------------------------------------------------------------------


class _FileClass:
    """Files sharing one set of applicable line patterns: one alternation, one RE2 set."""

    def __init__(self, patterns: tuple[Pattern, ...]):
        self.patterns = patterns
        self.files: list[BundleFile] = []
        # (?m): in block scanning `^` must mean "start of a line", as it does for ripgrep.
        self.union = "(?m)" + "|".join(f"(?:{p.search_regex})" for p in patterns)
        self.compiled_union = re2.compile(self.union.encode(), re2_options())
        self.set = re2.Set.SearchSet(re2_options())
        for p in patterns:
            self.set.Add(p.regex or "")
        self.set.Compile()

    def classify(self, text: str) -> list[Pattern]:
        found = self.set.Match(text)
        return [self.patterns[i] for i in sorted(found)] if found else []


def _gzipped(bf: BundleFile) -> bool:
    return bf.rel.endswith(".gz") or is_gzip(bf.path)


def _unreadable(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return None


def _scan_rg(rg: str, root: Path, rels: list[str], union: str) -> Iterator[tuple[str, int, bytes]]:
    """Lines of plain files that the alternation hits, via ripgrep (multi-threaded, SIMD literals)."""
    base = [
        rg, "--no-config", "--no-ignore", "--hidden", "--no-messages", "--no-unicode", "--text",
        "--encoding", "none", "--line-number", "--with-filename", "--null", "--no-heading",
        "--color", "never", "--max-columns", str(LINE_BYTES), "--max-columns-preview",
        "--regex-size-limit", "64M", "--dfa-size-limit", "64M", "-e", union, "--",
    ]  # fmt: skip
    for i in range(0, len(rels), _RG_BATCH):
        batch = rels[i : i + _RG_BATCH]
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [*base, *batch], cwd=root, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL
            )
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    path, sep, rest = raw.partition(b"\0")
                    number, colon, text = rest.partition(b":")
                    if not sep or not colon or not number.isdigit():
                        continue
                    text = text.rstrip(b"\n").rstrip(b"\r")
                    if text.endswith(_RG_PREVIEW_MARK):
                        text = text[: -len(_RG_PREVIEW_MARK)]
                    yield path.decode("utf-8", errors="surrogateescape"), int(number), text[:LINE_BYTES]
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()
                proc.wait()
            if proc.returncode == 2:
                err.seek(0)
                message = err.read(2000).decode("utf-8", errors="replace")
                if "regex" in message:
                    raise IndexBuildError(f"ripgrep rejected the catalog alternation: {message.strip()}")


def _open_stream(path: Path) -> BinaryIO:
    if path.suffix == ".gz" or is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _scan_re2(path: Path, union: re2._Regexp) -> Iterator[tuple[int, bytes]]:
    """Lines the alternation hits, searching 1 MB blocks (gzip transparently, truncated gzip up to
    its last good byte). Only newline counting and the DFA touch every byte."""
    lineno = 1  # number of the line starting at buf[0]
    carry = b""
    skipping = False  # inside an over-long line whose head was already searched
    with _open_stream(path) as fh:
        read = getattr(fh, "read1", fh.read)
        while True:
            try:
                block = read(_CHUNK)
            except (EOFError, OSError, zlib.error, gzip.BadGzipFile):
                block = b""
            eof = not block
            if skipping:
                if eof:
                    return
                nl = block.find(b"\n")
                if nl < 0:
                    continue
                block = block[nl + 1 :]
                lineno += 1
                skipping = False
            buf = carry + block if carry else block
            if eof:
                end = len(buf)
            else:
                end = buf.rfind(b"\n") + 1
                if end == 0:
                    if len(buf) > LINE_BYTES:
                        head = buf[:LINE_BYTES]
                        if union.search(head) is not None:
                            yield lineno, head
                        carry, skipping = b"", True
                    else:
                        carry = buf
                    continue
            yield from _hits_in(buf, end, lineno, union)
            if eof:
                return
            lineno += buf.count(b"\n", 0, end)
            carry = buf[end:]


def _hits_in(buf: bytes, end: int, lineno: int, union: re2._Regexp) -> Iterator[tuple[int, bytes]]:
    pos = counted = 0
    while pos < end:
        m = union.search(buf, pos, end)
        if m is None:
            return
        start = buf.rfind(b"\n", 0, m.start()) + 1
        stop = buf.find(b"\n", m.start(), end)
        if stop < 0:
            stop = end
        lineno += buf.count(b"\n", counted, start)
        counted = start
        text = buf[start : min(stop, start + LINE_BYTES)]
        yield lineno, text.rstrip(b"\r")
        pos = stop + 1


# ------------------------------------------------------------------------------------------
# Grouping and finishing
# ------------------------------------------------------------------------------------------


@dataclass
class _Group:
    pattern: Pattern
    bf: BundleFile
    count: int = 0
    first_line: int = 0
    last_line: int = 0
    lines: list[int] = field(default_factory=list)
    sample: str = ""
    first_text: str = ""
    last_text: str = ""
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    up_min: float | None = None
    up_max: float | None = None
    undated: int = 0


class _Builder:
    def __init__(self, root: Path, year_hint: int | None):
        self.root = root
        self.year = year_hint
        self.groups: dict[tuple[str, str], _Group] = {}
        self.counter_findings: list[Finding] = []
        self.skipped: list[SkippedFile] = []
        self.files_scanned = 0
        self.bytes_scanned = 0
        self.notes: list[str] = []

    def skip(self, rel: str, reason: str) -> None:
        self.skipped.append(SkippedFile(file=rel, reason=reason))

    def scanned(self, bf: BundleFile) -> None:
        self.files_scanned += 1
        self.bytes_scanned += bf.size

    # -- line hits ---------------------------------------------------------------------------

    def hit(self, cls: _FileClass, bf: BundleFile, number: int, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        for pattern in cls.classify(text):
            key = (pattern.id, bf.rel)
            g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = _Group(pattern, bf, first_line=number, sample=_sample(text), first_text=text)
            g.count += 1
            g.last_line = number
            g.last_text = text
            if len(g.lines) < LINES_LISTED:
                g.lines.append(number)
            if g.count <= TS_CAP:
                self._note_time(g, text)

    def _line_time(self, rel: str, text: str) -> tuple[datetime | None, float | None]:
        """(wall clock, dmesg uptime) of one line; dmesg raw uptimes wait for the boot time."""
        if rel.startswith("kernel/dmesg"):
            d = parse_dmesg_line(text)
            if d is not None:
                if d.wallclock is not None:
                    return d.wallclock, None
                return None, d.uptime_s
        return extract_timestamp(text, self.year), None

    def _note_time(self, g: _Group, text: str) -> None:
        ts, up = self._line_time(g.bf.rel, text)
        if ts is not None:
            g.ts_min = ts if g.ts_min is None or ts < g.ts_min else g.ts_min
            g.ts_max = ts if g.ts_max is None or ts > g.ts_max else g.ts_max
        elif up is not None:
            g.up_min = up if g.up_min is None or up < g.up_min else g.up_min
            g.up_max = up if g.up_max is None or up > g.up_max else g.up_max
        else:
            g.undated += 1

    # -- parsed counters ---------------------------------------------------------------------

    def parse_counters(self, bf: BundleFile) -> None:
        problem = _unreadable(bf.path)
        if problem:
            self.skip(bf.rel, problem)
            return
        if is_binary(bf.path):
            self.skip(bf.rel, "binary (NUL byte in the first 8 KB)")
            return
        self.scanned(bf)
        patterns = [p for p in PATTERNS if p.kind != "line" and p.applies_to(bf.rel)]
        if bf.rel == ETHTOOL_FILE:
            self._ethtool(bf, patterns)
        elif bf.rel == SYSCTL_FILE:
            self._sysctl(bf, patterns)
        elif bf.rel == CONNTRACK_FILE:
            self._conntrack(bf, patterns)

    def _counter_finding(
        self,
        p: Pattern,
        bf: BundleFile,
        sample: str,
        value: int,
        lines: list[int],
        *,
        count: int = 1,
        interface: str | None = None,
        limit: int | None = None,
    ) -> Finding:
        return Finding(
            id="",
            pattern_id=p.id,
            category=p.category,
            severity=p.severity,
            title=p.title,
            file=bf.rel,
            logical=bf.logical,
            line_start=min(lines),
            line_end=max(lines),
            lines=lines[:LINES_LISTED],
            count=count,
            ts_note=_COUNTER_NOTE,
            sample=_sample(sample),
            source=_SOURCES[p.kind],
            value=value,
            limit=limit,
            interface=interface,
            counter=p.counter,
        )

    def _ethtool(self, bf: BundleFile, patterns: list[Pattern]) -> None:
        for stats in parse_ethtool(iter_lines(bf.path)):
            for p in patterns:
                value = stats.counters.get(p.counter or "")
                if value is None or value <= p.threshold:
                    continue
                self.counter_findings.append(
                    self._counter_finding(
                        p, bf, f"{p.counter}: {value}", value, [stats.lines[p.counter or ""]],
                        interface=stats.name or None,
                    )
                )

    def _sysctl(self, bf: BundleFile, patterns: list[Pattern]) -> None:
        ct = conntrack_sysctls(iter_lines(bf.path))
        if ct.count is None or not ct.max or ct.count_line is None:
            return
        for p in patterns:
            if ct.count < p.threshold * ct.max:
                continue
            pct = 100.0 * ct.count / ct.max
            sample = (
                f"net.netfilter.nf_conntrack_count = {ct.count} ({pct:.1f}% of "
                f"net.netfilter.nf_conntrack_max = {ct.max})"
            )
            lines = sorted({ct.count_line, ct.max_line or ct.count_line})
            self.counter_findings.append(
                self._counter_finding(p, bf, sample, ct.count, lines, limit=ct.max)
            )

    def _conntrack(self, bf: BundleFile, patterns: list[Pattern]) -> None:
        # Only the `conntrack -S` head is needed; the `-L` table that follows can be a million lines.
        head = list(takewhile(lambda ln: not ln.strip().startswith(_CONNTRACK_TABLE_HEADER), iter_lines(bf.path)))
        stats = parse_conntrack_stats(head)
        for p in patterns:
            name = p.counter or ""
            total = stats.sums.get(name, 0)
            if total <= p.threshold:
                continue
            rows = [
                (line, cpu[name])
                for cpu, line in zip(stats.per_cpu, stats.cpu_lines, strict=False)
                if cpu.get(name, 0) > 0
            ]
            if not rows:
                continue
            lines = [line for line, _ in rows]
            sample = head[lines[0] - 1].strip()
            self.counter_findings.append(
                self._counter_finding(p, bf, sample, total, lines, count=len(rows))
            )

    # -- finish ------------------------------------------------------------------------------

    def finish(self, *, engine: str, total_files: int, digest: str | None) -> FindingsIndex:
        for g in self.groups.values():
            if g.count > TS_CAP:
                self._note_time(g, g.last_text)
        boot, boot_source = (None, None)
        if any(g.up_min is not None for g in self.groups.values()):
            boot, boot_source = self._boot_time()
            if boot is None:
                self.notes.append(
                    "dmesg uptimes were not converted to wall-clock time: no boot time could be derived "
                    f"(needs {_DMESG_HUMAN} alongside {_DMESG_RAW}, or a syslog kernel line with an uptime)"
                )
        findings = [self._finding(g, boot) for g in self.groups.values()] + self.counter_findings
        findings.sort(
            key=lambda f: (
                SEVERITY_ORDER[f.severity], f.category, f.file, f.line_start, f.pattern_id,
                f.interface or "", f.counter or "",
            )
        )  # fmt: skip
        for n, f in enumerate(findings, start=1):
            f.id = finding_id(n)
        return FindingsIndex(
            index_version=INDEX_VERSION,
            catalog_version=CATALOG_VERSION,
            digest=digest,
            year_hint=self.year,
            engine=engine,
            total_files=total_files,
            files_scanned=self.files_scanned,
            bytes_scanned=self.bytes_scanned,
            files_skipped=sorted(self.skipped, key=lambda s: s.file),
            boot_time=boot,
            boot_time_source=boot_source,
            notes=self.notes,
            findings=findings,
        )

    def _finding(self, g: _Group, boot: datetime | None) -> Finding:
        first, last = g.ts_min, g.ts_max
        note = None
        if g.up_min is not None and g.up_max is not None and boot is not None:
            lo, hi = uptime_to_utc(g.up_min, boot), uptime_to_utc(g.up_max, boot)
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
        if first is None:
            note = self._why_undated(g, boot)
        p = g.pattern
        return Finding(
            id="",
            pattern_id=p.id,
            category=p.category,
            severity=p.severity,
            title=p.title,
            file=g.bf.rel,
            logical=g.bf.logical,
            line_start=g.first_line,
            line_end=g.last_line,
            lines=g.lines,
            count=g.count,
            first_ts=first,
            last_ts=last,
            ts_note=note,
            sample=g.sample,
        )

    def _why_undated(self, g: _Group, boot: datetime | None) -> str:
        if g.up_min is not None and boot is None:
            return "dmesg uptime only; boot time unknown"
        if self.year is None and extract_timestamp(g.first_text, 2000) is not None:
            return "the line's time has no year and no year hint was given"
        return "no timestamp in the matching lines"

    def _boot_time(self) -> tuple[datetime | None, str | None]:
        """When the kernel booted, so dmesg's seconds-since-boot become wall-clock times.

        Preferred: the same records seen in dmesg.current (uptime) and dmesg.human.current (ctime),
        both snapshots of the current boot's ring buffer. Fallback: a syslog kernel line that
        carries both its syslog time and the uptime bracket (the latest one, to stay in this boot).
        """
        raw, human = self.root / _DMESG_RAW, self.root / _DMESG_HUMAN
        if raw.is_file() and human.is_file():
            estimates = _align_dmesg(iter_lines(raw), iter_lines(human))
            if estimates:
                boot = statistics.median_low(estimates)
                return boot, f"{_DMESG_HUMAN} aligned with {_DMESG_RAW} ({len(estimates)} records)"
        best: tuple[datetime, float, str] | None = None
        for g in self.groups.values():
            if g.bf.rel.startswith("kernel/"):
                continue
            for text in (g.first_text, g.last_text):
                m = _SYSLOG_UPTIME.search(text)
                ts = extract_timestamp(text, self.year) if m else None
                if m and ts is not None and (best is None or ts > best[0]):
                    best = (ts, float(m.group(1)), g.bf.rel)
        if best is not None:
            return boot_time_from(best[1], best[0]), f"syslog kernel line with uptime in {best[2]}"
        return None, None


def _align_dmesg(raw_lines: Iterable[str], human_lines: Iterable[str]) -> list[datetime]:
    """Boot-time estimates from records whose message occurs exactly once in both snapshots."""
    uptimes: dict[str, list[float]] = {}
    for line in raw_lines:
        d = parse_dmesg_line(line)
        if d is not None and d.uptime_s is not None and d.message.strip():
            uptimes.setdefault(d.message, []).append(d.uptime_s)
    clocks: dict[str, list[datetime]] = {}
    for line in human_lines:
        d = parse_dmesg_line(line)
        if d is not None and d.wallclock is not None and d.message in uptimes:
            clocks.setdefault(d.message, []).append(d.wallclock)
    estimates: list[datetime] = []
    for message, walls in clocks.items():
        ups = uptimes[message]
        if len(walls) == 1 and len(ups) == 1:
            with contextlib.suppress(ValueError):
                estimates.append(boot_time_from(ups[0], walls[0]).astimezone(UTC))
    return estimates


def _sample(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"
