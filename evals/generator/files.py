"""In-memory form of a bundle before it is written: files made of byte parts and filler parts.

Large benign volume (filler) is generated lazily while writing, so a 1 GB bundle never sits in
memory; everything a diagnosis looks at is plain bytes, so the ground truth can be parsed back
from exactly what was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Folders the collector always creates (COMMON_DIRECTORIES of eks-log-collector.sh 0.7.9).
COMMON_DIRECTORIES = ("kernel", "modinfo", "system", "docker", "containerd", "storage", "var_log", "networking",
                      "sandbox-image", "ipamd", "sysctls", "kubelet", "nodeadm", "cni", "gpu")


class LazyPart(Protocol):
    """A part whose bytes are produced on demand; `size` is exact and known before generation."""

    size: int

    def chunks(self) -> Iterator[bytes]: ...


Part = bytes | LazyPart


@dataclass
class BundleFile:
    path: str  # bundle-relative, "/"-separated
    parts: list[Part]
    gzip: bool = False  # rotated log: the parts are gzip-compressed when written
    mtime: datetime | None = None  # rotation time for rotated logs, else the collection time

    @property
    def size(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p.size for p in self.parts)


@dataclass
class Bundle:
    """All files of one node's bundle, by path, plus directories that must exist even when empty."""

    files: dict[str, BundleFile] = field(default_factory=dict)
    directories: set[str] = field(default_factory=lambda: set(COMMON_DIRECTORIES))

    def add(self, path: str, content: str | bytes | Iterable[str], *, gzip: bool = False,
            mtime: datetime | None = None) -> BundleFile:
        if path in self.files:
            raise ValueError(f"generator bug: {path} written twice")
        data = _to_bytes(content)
        bundle_file = BundleFile(path, [data] if data else [], gzip=gzip, mtime=mtime)
        self.files[path] = bundle_file
        return bundle_file

    def add_parts(self, path: str, parts: list[Part], *, mtime: datetime | None = None) -> BundleFile:
        if path in self.files:
            raise ValueError(f"generator bug: {path} written twice")
        bundle_file = BundleFile(path, [p for p in parts if not isinstance(p, bytes) or p], mtime=mtime)
        self.files[path] = bundle_file
        return bundle_file


def _to_bytes(content: str | bytes | Iterable[str]) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    return "".join(content).encode()


def lines_text(lines: Iterable[str]) -> str:
    """Join lines, each newline-terminated, as every command in the collector writes them."""
    return "".join(f"{line}\n" for line in lines)
