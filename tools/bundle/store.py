"""The local bundle store: where ingested bundles live, keyed by instance id and content digest.

Layout under the store home (`~/.sopgraph/bundles`, or `$SOPGRAPH_HOME/bundles`):

    <instance_id>/.lock                        flock taken while a record is placed
    <instance_id>/<digest[:16]>/record.json    the BundleRecord (with its manifest)
    <instance_id>/<digest[:16]>/extracted/     the files of an archive bundle
    <instance_id>/<digest[:16]>/cache/         indexes built over the bundle (findings, …)

Directory bundles are registered by reference: the record points at the directory and only the
record and cache live here. Every record directory is assembled in a private `.ingest-*` staging
directory in the home and renamed into place in one step under the instance lock, so a reader
never sees half a record, a failed ingest leaves nothing behind, and two processes ingesting the
same bundle end up with one record. Re-ingesting the same content is a no-op that returns the
existing record.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from tools.atomic import write_text_atomic
from tools.bundle.errors import BundleError
from tools.bundle.extract import ExtractLimits, archive_kind, extract_archive
from tools.bundle.manifest import Manifest, build_manifest, find_bundle_root, first_line, sha256_file

# Our own fixed patterns. EC2 ids are i- + 8 or 17 hex; SSM managed (hybrid) nodes are mi- + 17 hex.
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17}")
_BUNDLE_NAME = re.compile(r"eks_(?P<id>i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17})_(?P<rest>.+)")
_NAME_STAMP = re.compile(r"_(?P<date>\d{4}-\d{2}-\d{2})_(?P<hm>\d{4})-UTC(?:_|$)")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")

RECORD_FILE = "record.json"
_ID_FILE = "system/instance-id.txt"
_ID_HINT = "instance ids look like i-0123456789abcdef0 (or mi-… for hybrid nodes)"
_MISSING_HINT = "run collect for the instance, or pass --bundle PATH"


class BundleRecord(BaseModel):
    """One ingested bundle. `root` holds the bundle's files; `cache_dir` is writable for indexes."""

    instance_id: str
    digest: str
    root: Path
    cache_dir: Path
    manifest: Manifest
    ingested_at: datetime
    # Where the instance id came from: "system/instance-id.txt", "archive name", "directory name",
    # or "argument".
    instance_id_source: str | None = None
    # sha256 of the archive file, so re-ingesting the same tarball skips re-extraction.
    archive_sha256: str | None = None
    # For archive bundles: `root` relative to the record directory (the store can be moved).
    root_in_store: str | None = None
    notes: list[str] = []


def is_instance_id(value: str) -> bool:
    return bool(_INSTANCE_ID.fullmatch(value))


def _strip_archive_suffix(name: str) -> str:
    for suffix in _ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def instance_id_from_name(name: str) -> str | None:
    """The instance id in a collector archive (or extracted directory) name.

    `eks_<id>_<YYYY-MM-DD_HHMM-UTC>_<version>(.tar.gz)`; the S3 form `eks_<id>_<executionId>.tar.gz`
    names the instance the same way, so anything after the id is accepted.
    """
    m = _BUNDLE_NAME.fullmatch(_strip_archive_suffix(Path(name).name))
    return m.group("id") if m else None


def collected_at_from_name(name: str) -> datetime | None:
    """The collection time the log collector stamps into the archive name (minute precision, UTC)."""
    base = _strip_archive_suffix(Path(name).name)
    if not _BUNDLE_NAME.fullmatch(base):
        return None
    m = _NAME_STAMP.search(base)
    if not m:
        return None
    try:
        return datetime.strptime(f"{m.group('date')} {m.group('hm')}", "%Y-%m-%d %H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def default_store_home(env: Mapping[str, str] = os.environ) -> Path:
    """`$SOPGRAPH_HOME/bundles` when set, else `~/.sopgraph/bundles`."""
    home = env.get("SOPGRAPH_HOME")
    if home:
        return Path(home).expanduser() / "bundles"
    user_home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return user_home / ".sopgraph" / "bundles"


class _Identity(BaseModel):
    instance_id: str
    source: str
    notes: list[str] = []


def _resolve_identity(
    root: Path, names: list[tuple[str, str]], explicit: str | None, shown_as: str
) -> _Identity:
    """instance-id.txt, then the collector's name, then the caller's id; a contradiction is an error."""
    notes: list[str] = []
    file_id: str | None = None
    line = first_line(root, _ID_FILE)
    if line:
        if is_instance_id(line):
            file_id = line
        else:
            notes.append(f"{_ID_FILE} holds {line[:40]!r}, which is not an instance id; ignored")
    name_id, name_source = None, None
    for name, label in names:
        name_id = instance_id_from_name(name)
        if name_id:
            name_source = label
            break
    if file_id and name_id and file_id != name_id:
        notes.append(f"{_ID_FILE} says {file_id} but the {name_source} says {name_id}; using {_ID_FILE}")
    bundle_id, bundle_source = (file_id, _ID_FILE) if file_id else (name_id, name_source)
    if explicit is not None and bundle_id is not None and explicit != bundle_id:
        raise BundleError(
            f"instance id {explicit} was given, but the bundle names {bundle_id} (from its {bundle_source})",
            path=shown_as,
            hint="drop the instance id argument, or pass the bundle of that instance",
        )
    if bundle_id is not None:
        return _Identity(instance_id=bundle_id, source=bundle_source or "", notes=notes)
    if explicit is not None:
        return _Identity(instance_id=explicit, source="argument", notes=notes)
    raise BundleError(
        "cannot tell which instance this bundle is from: no usable "
        f"{_ID_FILE} and the name is not eks_<instance-id>_<date>_<version>",
        path=shown_as,
        hint="pass the instance id explicitly (--instance i-…)",
    )


def _stamp(names: list[tuple[str, str]]) -> tuple[datetime | None, str]:
    for name, label in names:
        when = collected_at_from_name(name)
        if when is not None:
            return when, label
    return None, "unknown"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _newest_key(record: BundleRecord) -> tuple[datetime, datetime]:
    floor = datetime.min.replace(tzinfo=UTC)
    return (record.manifest.collected_at or floor, record.ingested_at)


def _identify(root: Path, source: Path, name: tuple[str, str], kind: str, explicit: str | None,
              *, wrapper: bool) -> tuple[_Identity, Manifest]:
    """Instance identity and manifest of a bundle root, from its files and the names it came under."""
    names = [name]
    if wrapper:
        names.append((root.name, "directory name"))
    identity = _resolve_identity(root, names, explicit, str(source))
    collected_at, stamp_source = _stamp(names)
    manifest = build_manifest(
        root,
        instance_id=identity.instance_id,
        source=str(source),
        source_kind=kind,
        collected_at=collected_at,
        collected_at_source=stamp_source,
    )
    _require_files(manifest, str(source))
    return identity, manifest


class BundleStore:
    """Ingest bundles (directory or archive) and find them again by instance id or digest."""

    def __init__(self, home: Path | None = None, *, limits: ExtractLimits | None = None):
        self.home = Path(home).expanduser() if home is not None else default_store_home()
        self.limits = limits or ExtractLimits()

    # ---------------------------------------------------------------- ingest

    def ingest(self, source: Path, instance_id: str | None = None) -> BundleRecord:
        """Register a bundle and return its record; the same content again returns the same record."""
        if instance_id is not None and not is_instance_id(instance_id):
            raise BundleError(f"{instance_id!r} is not an EC2 instance id", hint=_ID_HINT, code="invalid_args")
        source = Path(source).expanduser()
        if not source.exists():
            raise BundleError("no such file or directory", path=str(source), code="not_found")
        source = source.resolve()
        if source.is_dir():
            return self._ingest_dir(source, instance_id)
        if source.is_file():
            return self._ingest_archive(source, instance_id)
        raise BundleError("not a directory or an archive file", path=str(source))

    def _ingest_dir(self, source: Path, explicit: str | None) -> BundleRecord:
        root = find_bundle_root(source)
        identity, manifest = _identify(root, source, (source.name, "directory name"), "dir", explicit,
                                       wrapper=root != source)
        with self._staging() as staging:
            return self._place(staging, manifest, identity, root=root, root_in_store=None, archive_sha256=None)

    def _ingest_archive(self, source: Path, explicit: str | None) -> BundleRecord:
        kind = archive_kind(source)
        archive_sha = sha256_file(source)
        known = self._known_archive(source, archive_sha, explicit)
        if known is not None:
            return known
        with self._staging() as staging:
            extracted = staging / "extracted"
            extract_archive(source, extracted, limits=self.limits)
            root = find_bundle_root(extracted, shown_as=str(source))
            identity, manifest = _identify(root, source, (source.name, "archive name"), kind, explicit,
                                           wrapper=root != extracted)
            return self._place(
                staging,
                manifest,
                identity,
                root=root,
                root_in_store=root.relative_to(staging).as_posix(),
                archive_sha256=archive_sha,
            )

    def _known_archive(self, source: Path, archive_sha: str, explicit: str | None) -> BundleRecord | None:
        """The record of this very archive (same bytes, same name) if it was ingested before.

        Same bytes and name mean the same extracted content, id and collection time, so the only
        thing left to decide is whether an explicit id agrees with the one recorded.
        """
        for record in self.list():
            if record.archive_sha256 != archive_sha or Path(record.manifest.source).name != source.name:
                continue
            if record.instance_id_source == "argument":
                if explicit == record.instance_id:
                    return record
                continue
            if explicit is not None and explicit != record.instance_id:
                raise BundleError(
                    f"instance id {explicit} was given, but the bundle names {record.instance_id} "
                    f"(from its {record.instance_id_source})",
                    path=str(source),
                    hint="drop the instance id argument, or pass the bundle of that instance",
                )
            if record.root.is_dir():
                return record
        return None

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        self.home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=self.home))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _place(
        self,
        staging: Path,
        manifest: Manifest,
        identity: _Identity,
        *,
        root: Path,
        root_in_store: str | None,
        archive_sha256: str | None,
    ) -> BundleRecord:
        instance_dir = self.home / manifest.instance_id
        instance_dir.mkdir(parents=True, exist_ok=True)
        final = instance_dir / manifest.digest[:16]
        with _locked(instance_dir):
            if (final / RECORD_FILE).is_file():
                try:
                    existing = self._load(final)
                except BundleError:
                    existing = None  # damaged: replaced below by the record being written
                if existing is not None and existing.digest != manifest.digest:
                    raise BundleError("a different bundle already uses this digest prefix", path=str(final))
                if existing is not None and existing.root.is_dir():
                    return existing
            if final.exists():  # debris (no, damaged or emptied record) cannot be a bundle we serve
                shutil.rmtree(final)
            (staging / "cache").mkdir(exist_ok=True)
            record = BundleRecord(
                instance_id=manifest.instance_id,
                digest=manifest.digest,
                root=(final / root_in_store) if root_in_store else root,
                cache_dir=final / "cache",
                manifest=manifest,
                ingested_at=datetime.now(UTC),
                instance_id_source=identity.source,
                archive_sha256=archive_sha256,
                root_in_store=root_in_store,
                notes=identity.notes,
            )
            if manifest.source_kind == "dir":
                record.notes.extend(self._drop_stale_dir_records(instance_dir, manifest))
            write_text_atomic(staging / RECORD_FILE, record.model_dump_json())
            os.rename(staging, final)
            return record

    def _drop_stale_dir_records(self, instance_dir: Path, manifest: Manifest) -> builtins.list[str]:
        """A directory bundle's older records describe content that is no longer there."""
        notes = []
        for record_dir in self._record_dirs(instance_dir):
            try:
                old = self._load(record_dir)
            except BundleError:
                continue
            if old.manifest.source_kind == "dir" and old.manifest.source == manifest.source:
                shutil.rmtree(record_dir, ignore_errors=True)  # only record.json + cache live here
                notes.append(f"replaced record {old.digest[:16]}: the directory's content changed")
        return notes

    # ---------------------------------------------------------------- lookup

    def get(self, instance_id: str) -> BundleRecord:
        """The instance's latest bundle: newest collection time, then newest ingest."""
        if not is_instance_id(instance_id):
            raise BundleError(f"{instance_id!r} is not an EC2 instance id", hint=_ID_HINT, code="invalid_args")
        records = self._records(self.home / instance_id)
        if not records:
            raise BundleError(
                f"no bundle stored for instance {instance_id}", hint=_MISSING_HINT, code="not_found"
            )
        return _present(max(records, key=_newest_key))

    def get_digest(self, digest: str) -> BundleRecord:
        """By full digest or an unambiguous prefix of at least 8 hex digits."""
        key = digest.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", key):
            raise BundleError(f"{digest!r} is not a bundle digest (8-64 hex digits)", code="invalid_args")
        matches = [r for r in self.list() if r.digest.startswith(key)]
        if not matches:
            raise BundleError(f"no bundle with digest {digest}", hint=_MISSING_HINT, code="not_found")
        if len({r.digest for r in matches}) > 1:
            raise BundleError(f"digest prefix {digest} matches several bundles", hint="give more digits")
        return _present(max(matches, key=lambda r: r.ingested_at))

    def list(self) -> builtins.list[BundleRecord]:
        """Every record, newest first."""
        records: builtins.list[BundleRecord] = []
        if not self.home.is_dir():
            return records
        for instance_dir in sorted(self.home.iterdir()):
            if instance_dir.name.startswith(".") or not instance_dir.is_dir():
                continue
            records.extend(self._records(instance_dir))
        return sorted(records, key=_newest_key, reverse=True)

    def instances(self) -> builtins.list[str]:
        return sorted({r.instance_id for r in self.list()})

    def _record_dirs(self, instance_dir: Path) -> builtins.list[Path]:
        if not instance_dir.is_dir():
            return []
        return [d for d in sorted(instance_dir.iterdir()) if not d.name.startswith(".") and d.is_dir()]

    def _records(self, instance_dir: Path) -> builtins.list[BundleRecord]:
        out = []
        for record_dir in self._record_dirs(instance_dir):
            if not (record_dir / RECORD_FILE).is_file():
                continue
            try:
                out.append(self._load(record_dir))
            except BundleError:
                continue  # a damaged record must not hide the others; ingesting again replaces it
        return out

    def _load(self, record_dir: Path) -> BundleRecord:
        path = record_dir / RECORD_FILE
        try:
            record = BundleRecord.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise BundleError(f"unreadable bundle record ({type(exc).__name__})", path=str(path)) from None
        updates: dict[str, Path] = {"cache_dir": record_dir / "cache"}
        if record.root_in_store:
            updates["root"] = record_dir / record.root_in_store
        return record.model_copy(update=updates)


def _require_files(manifest: Manifest, shown_as: str) -> None:
    if not manifest.files:
        raise BundleError(
            "bundle holds no files (only empty folders)",
            path=shown_as,
            hint="collect the bundle again; the collector may have failed on the node",
        )


def _present(record: BundleRecord) -> BundleRecord:
    if not record.root.is_dir():
        raise BundleError(
            "the bundle's files are gone (moved or deleted since ingest)",
            path=str(record.root),
            hint="ingest the bundle again with --bundle PATH",
            code="not_found",
        )
    return record
