"""Write a generated bundle as the collector would leave it: a directory or `eks_<id>_<time>_0.7.9.tar.gz`.

Everything is deterministic for a spec (file order, tar headers, gzip header time), so the same
seed gives byte-identical bundles, and large filler is streamed straight to disk or into the
archive. The ground truth is parsed back from what was written (see `truth.py`).
"""

from __future__ import annotations

import difflib
import gzip
import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from evals.generator import (
    conntrack_files,
    container_logs,
    host_logs,
    kernel_logs,
    network_files,
    node_files,
    sysctl,
    timefmt,
    truth,
)
from evals.generator.files import Bundle, BundleFile, Part
from evals.generator.spec import BundleSpec, GroundTruth
from evals.generator.world import World, build_world

COLLECTOR_VERSION = "0.7.9"
MB = 1_000_000
# How benign volume is spread over the chatty logs (renormalised over the files that exist).
FILLER_SHARES = {"kubelet": 0.40, "containerd": 0.20, "ipamd": 0.25, "messages": 0.15}


class GeneratorError(ValueError):
    """A spec that cannot be honoured (unknown path to omit or truncate, existing destination)."""


class GeneratedBundle(BaseModel):
    path: Path
    instance_id: str
    form: Literal["dir", "tar.gz"]
    truth: GroundTruth
    files: int
    bytes: int  # uncompressed bytes of all regular files
    archive_bytes: int | None = None  # size of the .tar.gz for the archive form


@dataclass
class _Out:
    """A file as it will be written: its parts (gzip already applied) and an optional cut."""

    path: str
    parts: list[Part]
    cut: int | None
    mtime: datetime

    @property
    def size(self) -> int:
        full = sum(len(p) if isinstance(p, bytes) else p.size for p in self.parts)
        return full if self.cut is None else self.cut

    def chunks(self) -> Iterator[bytes]:
        left = self.size
        for part in self.parts:
            if left <= 0:
                return
            pieces = [part] if isinstance(part, bytes) else part.chunks()
            for piece in pieces:
                if len(piece) > left:
                    yield piece[:left]
                    return
                left -= len(piece)
                yield piece


def bundle_name(spec: BundleSpec, world: World) -> str:
    return f"eks_{spec.instance_id}_{timefmt.archive_stamp(world.collected)}_{COLLECTOR_VERSION}"


def _filler_sizes(spec: BundleSpec, world: World) -> dict[str, int]:
    total = int(spec.filler_mb * MB)
    if not total:
        return {}
    shares = dict(FILLER_SHARES)
    if not host_logs.messages_written(world):
        shares.pop("messages")
    norm = sum(shares.values())
    sizes = {key: int(total * share / norm) for key, share in shares.items()}
    sizes["kubelet"] += total - sum(sizes.values())
    return sizes


def assemble(spec: BundleSpec) -> tuple[World, Bundle]:
    """All files of the bundle in memory (filler still lazy), before omissions and truncation."""
    world = build_world(spec)
    bundle = Bundle()
    fillers = _filler_sizes(spec, world)
    records = kernel_logs.kernel_records(world)
    kernel_logs.build(world, bundle, records)
    host_logs.build(world, bundle, records, fillers)
    container_logs.build(world, bundle)
    sysctl.build(world, bundle)
    conntrack_files.build(world, bundle)
    network_files.build(world, bundle)
    node_files.build(world, bundle, fillers)
    return world, bundle


def _suggest(path: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(path, candidates, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _apply_missing(bundle: Bundle, missing: list[str]) -> None:
    for entry in missing:
        target = entry.rstrip("/")
        if target in bundle.files:
            del bundle.files[target]
            continue
        under = [p for p in bundle.files if p.startswith(target + "/")]
        dirs = [d for d in bundle.directories if d == target or d.startswith(target + "/")]
        if not under and not dirs:
            raise GeneratorError(f"missing: {entry!r} is not a file or folder of this bundle"
                                 f"{_suggest(target, sorted(bundle.files))}")
        for path in under:
            del bundle.files[path]
        bundle.directories.difference_update(dirs)


def _cut(file: BundleFile, data_head: bytes | None) -> int:
    """A cut near half the file, strictly inside a line (at least one byte of it on each side)."""
    size = file.size
    cut = max(1, size // 2)
    content = data_head if data_head is not None else b""
    while cut < size - 1 and (content[cut - 1:cut] == b"\n" or content[cut:cut + 1] == b"\n"):
        cut += 1
    return min(cut, size)


def _head_bytes(file: BundleFile, limit: int) -> bytes:
    buf = bytearray()
    for part in file.parts:
        pieces = [part] if isinstance(part, bytes) else part.chunks()
        for piece in pieces:
            buf += piece
            if len(buf) >= limit:
                return bytes(buf[:limit])
    return bytes(buf)


def _prepare(world: World, bundle: Bundle, truncate: list[str]) -> tuple[list[_Out], list[truth.Visible]]:
    outs: list[_Out] = []
    visible: list[truth.Visible] = []
    wanted = set(truncate)
    for path in wanted:
        if path not in bundle.files:
            raise GeneratorError(f"truncate: {path!r} is not a file of this bundle (or it was omitted)"
                                 f"{_suggest(path, sorted(bundle.files))}")
    for path in sorted(bundle.files):
        file = bundle.files[path]
        mtime = file.mtime or world.collected
        if file.gzip:
            raw = b"".join(p for p in file.parts if isinstance(p, bytes))
            packed = gzip.compress(raw, compresslevel=6, mtime=0)
            cut = max(1, len(packed) // 2) if path in wanted else None
            outs.append(_Out(path, [packed], cut, mtime))
            shown = truth.gunzip_prefix(packed if cut is None else packed[:cut])
            visible.append(truth.Visible(path, truth.complete_lines(shown)))
            continue
        cut = None
        if path in wanted:
            cut = _cut(file, _head_bytes(file, file.size // 2 + 4096))
        outs.append(_Out(path, file.parts, cut, mtime))
        shown_parts: list[bytes] = []
        offset = 0
        for part in file.parts:
            length = len(part) if isinstance(part, bytes) else part.size
            if isinstance(part, bytes):
                end = length if cut is None else max(0, min(length, cut - offset))
                shown_parts.append(part[:end])
            offset += length
        visible.append(truth.Visible(path, truth.complete_lines(b"".join(shown_parts))))
    return outs, visible


def _directories(bundle: Bundle, outs: list[_Out]) -> list[str]:
    dirs = set(bundle.directories)
    for out in outs:
        parts = out.path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]))
    return sorted(dirs)


def _write_dir(root: Path, dirs: list[str], outs: list[_Out], collected: datetime) -> None:
    root.mkdir(parents=True)
    for directory in dirs:
        (root / directory).mkdir(parents=True, exist_ok=True)
    for out in outs:
        target = root / out.path
        with open(target, "wb", buffering=4 * 1024 * 1024) as handle:
            for chunk in out.chunks():
                handle.write(chunk)
        stamp = out.mtime.timestamp()
        os.utime(target, (stamp, stamp))
    stamp = collected.timestamp()
    for directory in [*reversed(dirs), ""]:
        os.utime(root / directory, (stamp, stamp))


class _ChunkReader(io.RawIOBase):
    """A read()-able view of a chunk iterator, so tarfile can stream a member without a temp file."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _tar_order(dirs: list[str], outs: list[_Out]) -> list[tuple[str, _Out | None]]:
    """GNU tar's recursive order (`--sort=name`): a directory, then its entries."""
    children: dict[str, list[tuple[str, _Out | None]]] = {}
    for directory in dirs:
        parent = directory.rsplit("/", 1)[0] if "/" in directory else ""
        children.setdefault(parent, []).append((directory, None))
    for out in outs:
        parent = out.path.rsplit("/", 1)[0] if "/" in out.path else ""
        children.setdefault(parent, []).append((out.path, out))
    order: list[tuple[str, _Out | None]] = []

    def walk(parent: str) -> None:
        for name, out in sorted(children.get(parent, []), key=lambda item: item[0]):
            order.append((name, out))
            if out is None:
                walk(name)

    walk("")
    return order


def _write_tar(target: Path, dirs: list[str], outs: list[_Out], collected: datetime) -> None:
    stamp = int(collected.timestamp())

    def info(name: str, kind: bytes, size: int, mtime: int) -> tarfile.TarInfo:
        member = tarfile.TarInfo(name)
        member.type, member.size, member.mtime = kind, size, mtime
        member.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        member.uid = member.gid = 0
        member.uname = member.gname = "root"
        return member

    with open(target, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=stamp) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive:
        archive.addfile(info("./", tarfile.DIRTYPE, 0, stamp))
        for name, out in _tar_order(dirs, outs):
            if out is None:
                archive.addfile(info(f"./{name}/", tarfile.DIRTYPE, 0, stamp))
            else:
                member = info(f"./{name}", tarfile.REGTYPE, out.size, int(out.mtime.timestamp()))
                archive.addfile(member, _ChunkReader(out.chunks()))


def write_bundle(spec: BundleSpec, dest_dir: Path, form: Literal["dir", "tar.gz"] = "dir", *,
                 overwrite: bool = False) -> GeneratedBundle:
    """Generate the bundle for `spec` under `dest_dir` and return where it is and what it contains."""
    if form not in ("dir", "tar.gz"):
        raise GeneratorError(f"form must be 'dir' or 'tar.gz', not {form!r}")
    world, bundle = assemble(spec)
    _apply_missing(bundle, spec.missing)
    outs, visible = _prepare(world, bundle, spec.truncate)
    ground = truth.compute(world, visible, spec.missing, spec.truncate)
    dirs = _directories(bundle, outs)
    name = bundle_name(spec, world)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / (name + (".tar.gz" if form == "tar.gz" else ""))
    if target.exists():
        if not overwrite:
            raise GeneratorError(f"{target} already exists; remove it or pass overwrite=True")
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    if form == "dir":
        _write_dir(target, dirs, outs, world.collected)
        archive_bytes = None
    else:
        _write_tar(target, dirs, outs, world.collected)
        archive_bytes = target.stat().st_size
    return GeneratedBundle(path=target, instance_id=spec.instance_id, form=form, truth=ground, files=len(outs),
                           bytes=sum(o.size for o in outs), archive_bytes=archive_bytes)
