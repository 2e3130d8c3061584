"""Safe extraction of bundle archives (`.tar.gz`, `.zip`).

Bundles come from nodes we are debugging, over S3, from people we do not know: an archive is
hostile input. `tarfile`'s "data" filter covers the classic escapes, but its errors do not say
which member was refused, it trusts header sizes, and it cannot see a decompression bomb, so every
member also goes through our own checks first:

- names: no absolute paths, no `..`; nothing is ever written through a symlink made earlier in the
  same archive (the "link then write through it" escape), and duplicates are refused, not merged;
- links: symlinks must be relative and land inside the bundle, checked once on their own and again
  after extraction when every link exists (a chain of individually harmless links can escape);
  hard links must name a regular file already extracted;
- no device files, FIFOs or other special members;
- bombs: total extracted bytes, overall compression ratio and member count are capped while the
  stream is read — sizes in headers are never trusted.

Extraction writes into a private temp directory next to `dest` and renames it into place only when
everything passed, so a failure leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.bundle.errors import BundleError

GIB = 1 << 30
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_MAX_SYMLINK_TARGET = 4096
# Per-member allowance for tar headers and padding when bounding the raw decompressed stream.
_HEADER_SLACK = 2048

ArchiveKind = Literal["tar.gz", "zip"]

_BOMB_HINT = "if this bundle is genuine, raise the extraction limits (ExtractLimits)"
_LAYOUT_HINT = "a bundle is a directory or the .tar.gz written by eks-log-collector.sh"


class ExtractLimits(BaseModel):
    """Caps that stop decompression bombs. Defaults fit a 1 GB+ real bundle with room to spare.

    `ratio_grace_bytes`: the ratio is only judged past this much output, because a small
    archive's tar padding alone compresses far beyond 200:1.
    """

    model_config = ConfigDict(frozen=True)

    max_total_bytes: int = Field(default=4 * GIB, gt=0)
    max_ratio: float = Field(default=200.0, gt=1)
    max_members: int = Field(default=100_000, gt=0)
    ratio_grace_bytes: int = Field(default=16 << 20, ge=0)


class ExtractResult(BaseModel):
    archive: Path
    kind: ArchiveKind
    dest: Path
    members: int
    files: int
    bytes_written: int
    compressed_bytes: int


class _LimitExceeded(Exception):
    """Raised deep inside a read; turned into a BundleError where the current member is known."""


@dataclass
class _Meter:
    limits: ExtractLimits
    compressed: int = 0
    expanded: int = 0
    written: int = 0

    def add_expanded(self, n: int) -> None:
        self.expanded += n
        lim = self.limits
        if self.expanded > lim.ratio_grace_bytes and self.expanded > lim.max_ratio * max(self.compressed, 1):
            raise _LimitExceeded(
                f"compression ratio over {lim.max_ratio:g}:1 ({self.expanded} bytes out of "
                f"{self.compressed} compressed): refusing a possible decompression bomb"
            )
        stream_cap = lim.max_total_bytes + lim.max_members * _HEADER_SLACK
        if self.expanded > stream_cap:
            raise _LimitExceeded(f"archive expands beyond {stream_cap} bytes: refusing a possible bomb")

    def add_written(self, n: int) -> None:
        self.written += n
        if self.written > self.limits.max_total_bytes:
            raise _LimitExceeded(
                f"extracted size exceeds the cap of {self.limits.max_total_bytes} bytes"
            )


class _CountingFile:
    """Counts the compressed bytes really read from disk (seekable, for zipfile too)."""

    def __init__(self, raw: BinaryIO, meter: _Meter):
        self._raw = raw
        self._meter = meter
        self.name = getattr(raw, "name", None)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._meter.compressed += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:  # the owner closes the real file
        pass


class _ExpandedReader:
    """The decompressed tar stream, metered as it is produced."""

    def __init__(self, inner: gzip.GzipFile, meter: _Meter):
        self._inner = inner
        self._meter = meter

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n if n is not None and n >= 0 else _CHUNK)
        self._meter.add_expanded(len(data))
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: Literal["file", "dir", "symlink", "hardlink", "special"]
    linkname: str = ""
    mtime: float | None = None
    what: str = ""  # for special members: what they are, for the error


def archive_kind(path: Path) -> ArchiveKind:
    """The archive's real format, from its first bytes (the name can lie)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise BundleError(f"cannot read archive: {exc.strerror or exc}", path=str(path)) from None
    if not head:
        raise BundleError("archive is empty (0 bytes)", path=str(path), hint=_LAYOUT_HINT)
    if head.startswith(_GZIP_MAGIC):
        return "tar.gz"
    if head in _ZIP_MAGICS:
        return "zip"
    raise BundleError("not a gzip-compressed tar archive (nor a zip)", path=str(path), hint=_LAYOUT_HINT)


def extract_archive(archive: Path, dest: Path, *, limits: ExtractLimits | None = None) -> ExtractResult:
    """Extract `archive` into `dest` (which must not exist yet), all or nothing."""
    limits = limits or ExtractLimits()
    archive = Path(archive)
    if not archive.is_file():
        raise BundleError("no such archive file", path=str(archive))
    if dest.exists() or dest.is_symlink():
        raise BundleError("extraction target already exists", path=str(dest))
    kind = archive_kind(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    meter = _Meter(limits)
    writer = _Writer(tmp, archive, meter)
    try:
        if kind == "tar.gz":
            _extract_tar(archive, writer, meter)
        else:
            _extract_zip(archive, writer, meter)
        writer.verify_links()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExtractResult(
        archive=archive,
        kind=kind,
        dest=dest,
        members=writer.count,
        files=writer.files,
        bytes_written=meter.written,
        compressed_bytes=meter.compressed,
    )


def _tar_entry(info: tarfile.TarInfo) -> _Entry:
    mtime = float(info.mtime) if isinstance(info.mtime, int | float) else None
    if info.isreg():
        return _Entry(info.name, "file", mtime=mtime)
    if info.isdir():
        return _Entry(info.name, "dir", mtime=mtime)
    if info.issym():
        return _Entry(info.name, "symlink", linkname=info.linkname, mtime=mtime)
    if info.islnk():
        return _Entry(info.name, "hardlink", linkname=info.linkname, mtime=mtime)
    what = (
        "character device" if info.ischr()
        else "block device" if info.isblk()
        else "FIFO" if info.isfifo()
        else f"member of tar type {info.type!r}"
    )
    return _Entry(info.name, "special", what=what)


def _extract_tar(archive: Path, writer: _Writer, meter: _Meter) -> None:
    current: str | None = None
    with open(archive, "rb") as raw:
        stream = _ExpandedReader(gzip.GzipFile(fileobj=_CountingFile(raw, meter), mode="rb"), meter)  # type: ignore[arg-type]
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                for info in tar:
                    current = info.name
                    entry = _tar_entry(info)
                    rel = writer.admit(entry)
                    if rel is None:
                        continue
                    writer.check_link(rel, entry)
                    _data_filter_check(info, writer, archive)
                    if entry.kind == "file":
                        data = tar.extractfile(info)
                        if data is None:  # pragma: no cover - isreg() members always have data
                            raise BundleError("member has no data", path=str(archive), member=info.name)
                        writer.write_file(rel, entry, data)
                    else:
                        writer.make(rel, entry)
                current = None
            # The end-of-archive marker can come before the gzip stream ends: read the rest so a
            # truncated or corrupt tail is still noticed.
            stream.drain()
        except _LimitExceeded as exc:
            raise BundleError(str(exc), path=str(archive), member=current, hint=_BOMB_HINT) from None
        except EOFError:
            raise BundleError(
                "archive is truncated (gzip stream ends early)", path=str(archive), member=current
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise BundleError(f"corrupt gzip data ({exc})", path=str(archive), member=current) from None
        except tarfile.ReadError as exc:
            text = str(exc)
            if text == "empty file":
                raise BundleError("archive is empty", path=str(archive), hint=_LAYOUT_HINT) from None
            if current is None and writer.count == 0:
                raise BundleError(
                    f"not a tar archive inside the gzip ({text})", path=str(archive), hint=_LAYOUT_HINT
                ) from None
            raise BundleError(f"corrupt or truncated tar data ({text})", path=str(archive), member=current) from None
        except tarfile.TarError as exc:
            raise BundleError(f"bad tar data ({exc})", path=str(archive), member=current) from None
        except OSError as exc:
            raise BundleError(
                f"cannot extract: {exc.strerror or exc}", path=str(archive), member=current
            ) from None
    if writer.count == 0:
        raise BundleError("archive holds no members", path=str(archive), hint=_LAYOUT_HINT)


def _data_filter_check(info: tarfile.TarInfo, writer: _Writer, archive: Path) -> None:
    """The stdlib's "data" filter as a second opinion, after our own checks have passed."""
    try:
        tarfile.data_filter(info, str(writer.dest))
    except tarfile.FilterError as exc:
        raise BundleError(f"refused by tarfile's data filter: {exc}", path=str(archive), member=info.name) from None


def _extract_zip(archive: Path, writer: _Writer, meter: _Meter) -> None:
    current: str | None = None
    with open(archive, "rb") as raw:
        try:
            with zipfile.ZipFile(_CountingFile(raw, meter)) as zf:  # type: ignore[arg-type]
                infos = zf.infolist()
                if not infos:
                    raise BundleError("archive holds no members", path=str(archive), hint=_LAYOUT_HINT)
                if len(infos) > meter.limits.max_members:
                    raise _LimitExceeded(
                        f"archive lists {len(infos)} members, over the cap of {meter.limits.max_members}"
                    )
                for info in infos:
                    current = info.filename
                    if info.flag_bits & 0x1:
                        raise BundleError("encrypted zip members are not supported", path=str(archive), member=current)
                    entry = _zip_entry(zf, info)
                    rel = writer.admit(entry)
                    if rel is None:
                        continue
                    if entry.kind == "file":
                        with zf.open(info) as data:
                            writer.write_file(rel, entry, data, meter_expansion=True)  # type: ignore[arg-type]
                    else:
                        writer.make(rel, entry)
                current = None
        except _LimitExceeded as exc:
            raise BundleError(str(exc), path=str(archive), member=current, hint=_BOMB_HINT) from None
        except zipfile.BadZipFile as exc:
            raise BundleError(f"corrupt zip archive ({exc})", path=str(archive), member=current) from None
        except (EOFError, zlib.error) as exc:
            raise BundleError(f"corrupt or truncated zip data ({exc})", path=str(archive), member=current) from None
        except (NotImplementedError, RuntimeError) as exc:
            raise BundleError(f"unsupported zip member ({exc})", path=str(archive), member=current) from None
        except OSError as exc:
            raise BundleError(
                f"cannot extract: {exc.strerror or exc}", path=str(archive), member=current
            ) from None


def _zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Entry:
    try:
        mtime: float | None = datetime(*info.date_time, tzinfo=UTC).timestamp()
    except ValueError:
        mtime = None
    mode = info.external_attr >> 16
    ftype = stat.S_IFMT(mode)
    if info.is_dir() or ftype == stat.S_IFDIR:
        return _Entry(info.filename, "dir", mtime=mtime)
    if ftype == stat.S_IFLNK:
        with zf.open(info) as fh:
            target = fh.read(_MAX_SYMLINK_TARGET + 1)
        if len(target) > _MAX_SYMLINK_TARGET:
            return _Entry(info.filename, "special", what="symlink with an oversized target")
        return _Entry(info.filename, "symlink", linkname=target.decode("utf-8", "replace"), mtime=mtime)
    if ftype in (0, stat.S_IFREG):
        return _Entry(info.filename, "file", mtime=mtime)
    what = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFIFO: "FIFO",
            stat.S_IFSOCK: "socket"}.get(ftype, "special file")
    return _Entry(info.filename, "special", what=what)


def safe_relative(name: str) -> str | None:
    """A member name as a clean relative POSIX path; None for the archive root (`./`).

    Raises ValueError with the reason for absolute paths, `..` components and NUL bytes.
    """
    if "\x00" in name:
        raise ValueError("NUL byte in the member name")
    if name.startswith("/"):
        raise ValueError("absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("path escapes the bundle ('..' component)")
    return "/".join(parts) if parts else None


class _Writer:
    """Creates members under `dest`, refusing anything that could land outside it."""

    def __init__(self, dest: Path, archive: Path, meter: _Meter):
        self.dest = Path(os.path.realpath(dest))
        self.archive = archive
        self.meter = meter
        self.count = 0
        self.files = 0
        self._dirs: set[str] = {""}
        self._symlinks: list[tuple[str, str]] = []  # (rel, member name)

    def _fail(self, message: str, member: str) -> BundleError:
        return BundleError(message, path=str(self.archive), member=member)

    def admit(self, entry: _Entry) -> str | None:
        """Count the member and vet its name and type; the clean relative path, or None to skip."""
        self.count += 1
        if self.count > self.meter.limits.max_members:
            raise _LimitExceeded(f"more than {self.meter.limits.max_members} members")
        if entry.kind == "special":
            raise self._fail(f"refused: {entry.what} (only files, directories and links are allowed)", entry.name)
        try:
            rel = safe_relative(entry.name)
        except ValueError as exc:
            raise self._fail(f"refused: {exc}", entry.name) from None
        if rel is None and entry.kind != "dir":
            raise self._fail("refused: a non-directory member named as the archive root", entry.name)
        return rel

    def _ensure_parents(self, rel: str, member: str, create: bool = True) -> None:
        parts = rel.split("/")[:-1]
        prefix = ""
        for part in parts:
            prefix = f"{prefix}/{part}" if prefix else part
            if prefix in self._dirs:
                continue
            path = self.dest / prefix
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise self._fail(f"refused: {prefix!r} does not exist", member) from None
                os.mkdir(path, 0o755)
                self._dirs.add(prefix)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise self._fail(f"refused: would be written through the symlink {prefix!r}", member)
            if not stat.S_ISDIR(st.st_mode):
                raise self._fail(f"refused: parent {prefix!r} is not a directory", member)
            self._dirs.add(prefix)

    def _check_new(self, rel: str, member: str) -> Path:
        self._ensure_parents(rel, member)
        path = self.dest / rel
        if os.path.lexists(path):
            raise self._fail("refused: duplicate member (the path was already extracted)", member)
        return path

    def write_file(self, rel: str, entry: _Entry, data: BinaryIO, *, meter_expansion: bool = False) -> None:
        path = self._check_new(rel, entry.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = data.read(_CHUNK)
                if not chunk:
                    break
                if meter_expansion:
                    self.meter.add_expanded(len(chunk))
                self.meter.add_written(len(chunk))
                out.write(chunk)
        self.files += 1
        _set_mtime(path, entry.mtime)

    def make(self, rel: str | None, entry: _Entry) -> None:
        if entry.kind == "dir":
            self._make_dir(rel, entry)
        elif entry.kind == "symlink":
            self._make_symlink(rel or "", entry)
        elif entry.kind == "hardlink":
            self._make_hardlink(rel or "", entry)

    def _make_dir(self, rel: str | None, entry: _Entry) -> None:
        if rel is None:
            return
        self._ensure_parents(rel, entry.name)
        path = self.dest / rel
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
        else:
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                raise self._fail("refused: directory collides with an earlier non-directory member", entry.name)
        self._dirs.add(rel)

    def check_link(self, rel: str, entry: _Entry) -> None:
        """Our verdict on a link's target, given before the stdlib filter so the error is ours."""
        if entry.kind == "symlink":
            target = entry.linkname
            if not target:
                raise self._fail("refused: symlink with an empty target", entry.name)
            if target.startswith("/") or "\x00" in target:
                raise self._fail(
                    f"refused: symlink to absolute path {target!r} points outside the bundle", entry.name
                )
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if resolved == ".." or resolved.startswith("../"):
                raise self._fail(f"refused: symlink to {target!r} points outside the bundle", entry.name)
        elif entry.kind == "hardlink":
            self._hardlink_source(entry)

    def _hardlink_source(self, entry: _Entry) -> Path:
        try:
            target_rel = safe_relative(entry.linkname)
        except ValueError as exc:
            raise self._fail(f"refused: hard link to {entry.linkname!r}: {exc}", entry.name) from None
        if target_rel is None:
            raise self._fail("refused: hard link to the archive root", entry.name)
        self._ensure_parents(target_rel, entry.name, create=False)
        source = self.dest / target_rel
        try:
            st = os.lstat(source)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise self._fail(
                f"refused: hard link to {entry.linkname!r}, which is not a file extracted earlier", entry.name
            )
        return source

    def _make_symlink(self, rel: str, entry: _Entry) -> None:
        self.check_link(rel, entry)
        path = self._check_new(rel, entry.name)
        os.symlink(entry.linkname, path)
        self._symlinks.append((rel, entry.name))

    def _make_hardlink(self, rel: str, entry: _Entry) -> None:
        source = self._hardlink_source(entry)
        path = self._check_new(rel, entry.name)
        os.link(source, path, follow_symlinks=False)
        self.files += 1

    def verify_links(self) -> None:
        """Now that every link exists, a chain of them must still resolve inside the bundle."""
        for rel, member in self._symlinks:
            real = Path(os.path.realpath(self.dest / rel))
            if not real.is_relative_to(self.dest):
                raise self._fail("refused: symlink resolves outside the bundle through other links", member)


def _set_mtime(path: Path, mtime: float | None) -> None:
    # Preserved because the manifest falls back to the newest file mtime as the collection time.
    if mtime is None or mtime < 0:
        return
    with contextlib.suppress(OverflowError, ValueError, OSError):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
