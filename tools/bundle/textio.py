"""Reading bundle files as text, safely and lazily.

Bundles hold gzip-rotated logs, binary files (systemd-analyze.svg is fine, core dumps are not),
non-UTF-8 bytes and occasionally a single line of hundreds of megabytes. Everything that reads a
bundle goes through here so those cases are handled once: rotated files read transparently, bytes
that are not UTF-8 are replaced, and no line is ever materialised beyond `MAX_LINE_CHARS`.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# A longer line is cut here and the rest of it is skipped without being held in memory.
MAX_LINE_CHARS = 64 * 1024
_CHUNK = 1 << 20
TRUNCATION_MARK = " …[line truncated]"

# Our own fixed pattern (reviewed, bounded): rotation suffixes written by logrotate and kubelet.
_ROTATION = re.compile(
    r"(?:\.(?P<num>\d{1,3}))?(?:\.(?P<stamp>\d{8}(?:-\d{6})?))?(?P<gz>\.gz)?$"
)


def is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz" or is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def iter_lines(path: Path, max_line_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Yield the lines of a (possibly gzipped) file without their newline.

    Reads in fixed chunks so a 100 MB single line costs `max_line_chars`, not 100 MB. A corrupt
    gzip stream ends the iteration at the last good byte instead of raising mid-analysis.
    """
    limit = max_line_chars * 4  # bytes; UTF-8 needs at most 4 per character
    with _open_binary(path) as fh:
        pending = bytearray()
        overflow = False
        # read1 hands back what is already decompressed, so a truncated gzip still yields its head.
        read = getattr(fh, "read1", fh.read)
        while True:
            try:
                chunk = read(_CHUNK)
            except (EOFError, OSError, gzip.BadGzipFile):
                break
            if not chunk:
                break
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    if not overflow:
                        pending += chunk[start:]
                        if len(pending) > limit:
                            del pending[limit:]
                            overflow = True
                    break
                if not overflow:
                    pending += chunk[start:nl]
                yield _decode(pending, overflow, max_line_chars)
                pending = bytearray()
                overflow = False
                start = nl + 1
        if pending or overflow:
            yield _decode(pending, overflow, max_line_chars)


def _decode(raw: bytes | bytearray, overflow: bool, max_line_chars: int) -> str:
    text = bytes(raw).decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    if overflow or len(text) > max_line_chars:
        return text[:max_line_chars] + TRUNCATION_MARK
    return text


def read_text(path: Path, max_chars: int = 1 << 20) -> str:
    """The start of a small file as text (uname, instance-id, resolv.conf). Bounded by `max_chars`."""
    with _open_binary(path) as fh:
        try:
            raw = fh.read(max_chars * 4)
        except (EOFError, OSError, gzip.BadGzipFile):
            raw = b""
    return raw.decode("utf-8", errors="replace")[:max_chars]


def is_binary(path: Path, sniff: int = 8192) -> bool:
    """A file whose (decompressed) head holds a NUL byte is treated as binary and not scanned."""
    try:
        with _open_binary(path) as fh:
            head = fh.read(sniff)
    except (EOFError, OSError, gzip.BadGzipFile):
        return True
    return b"\x00" in head


def logical_path(rel: str) -> str:
    """The live file a rotated one belongs to: `messages.1` → `messages`, `x.log.20260730-1.gz` → `x.log`."""
    m = _ROTATION.search(rel)
    if m and (m.group("num") or m.group("stamp") or m.group("gz")):
        return rel[: m.start()]
    return rel


def rotation_rank(rel: str) -> int:
    """0 for the live file; higher for older generations (`.1` → 1, `.2.gz` → 2, dated → 1)."""
    m = _ROTATION.search(rel)
    if not m:
        return 0
    if m.group("num"):
        return int(m.group("num"))
    if m.group("stamp") or m.group("gz"):
        return 1
    return 0


@dataclass(frozen=True)
class BundleFile:
    rel: str
    path: Path
    size: int
    logical: str
    rotation: int


def bundle_files(root: Path) -> list[BundleFile]:
    """Regular files under `root`, sorted, never following a link out of the bundle."""
    root = root.resolve()
    out: list[BundleFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            try:
                if p.is_symlink():
                    target = p.resolve()
                    if not target.is_relative_to(root) or not target.is_file():
                        continue
                if not p.is_file():
                    continue
                size = p.stat().st_size
            except OSError:
                continue
            rel = p.relative_to(root).as_posix()
            out.append(BundleFile(rel, p, size, logical_path(rel), rotation_rank(rel)))
    return out
