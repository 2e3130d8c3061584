"""What a bundle holds: its files with hashes, and the few facts about the node that name it.

The manifest is built once at ingest and stored with the bundle's record, so later tools can ask
"is `networking/ethtool.txt` here?" and show the kernel, region and cluster without reopening the
bundle. Its content digest — sha256 over the sorted (path, sha256) pairs — identifies the bundle:
the same files give the same digest wherever they came from, and the findings index cache is keyed
by it. Facts read from the bundle are only recorded when they parse; a garbage `region.txt`
(an IMDS error page, say) gives no region rather than a wrong one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, PrivateAttr

from tools.bundle.errors import BundleError
from tools.bundle.textio import bundle_files, read_text

# The top-level folders the EKS log collector always writes; one of them marks a bundle.
LAYOUT_DIRS: tuple[str, ...] = ("kernel", "networking", "sysctls", "var_log", "system")
_LAYOUT_HINT = "expected a bundle with at least one of: " + ", ".join(f"{d}/" for d in LAYOUT_DIRS)
_IGNORED_TOP = ("__MACOSX",)
_HASH_CHUNK = 1 << 20

# Our own fixed patterns (reviewed, anchored, no nested quantifiers over the same text).
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_ZONE = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){2,6}")
_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:eks:[a-z0-9-]+:\d{12}:cluster/([0-9A-Za-z][A-Za-z0-9_-]{0,99})")
_CLUSTER_FLAGS = ("--cluster-name", "--cluster-id", "-i")

SourceKind = Literal["dir", "tar.gz", "zip"]


class ManifestFile(BaseModel):
    path: str
    size: int
    sha256: str
    logical: str
    rotation: int


class Manifest(BaseModel):
    version: int = 1
    instance_id: str
    digest: str
    source: str
    source_kind: SourceKind
    collected_at: datetime | None
    collected_at_source: str
    kernel_release: str | None
    kernel_family: str | None
    region: str | None
    availability_zone: str | None
    cluster: str | None
    cluster_server: str | None
    total_size: int
    files: list[ManifestFile]

    _names: frozenset[str] | None = PrivateAttr(default=None)

    def has(self, path_or_logical: str) -> bool:
        """True when a file has this path or logical path (`var_log/messages` matches `messages.1.gz`).

        A trailing `/` asks for a folder: true when any file lies under it.
        """
        key = _clean(path_or_logical)
        if path_or_logical.endswith("/"):
            prefix = key.rstrip("/") + "/"
            return any(f.path.startswith(prefix) for f in self.files)
        if self._names is None:
            self._names = frozenset(n for f in self.files for n in (f.path, f.logical))
        return key in self._names

    def generations(self, logical: str) -> list[ManifestFile]:
        """The live file and its rotated generations, newest (rotation 0) first."""
        key = _clean(logical)
        return sorted((f for f in self.files if f.logical == key), key=lambda f: (f.rotation, f.path))


def _clean(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def sha256_file(path: Path) -> str:
    """Streamed in fixed chunks: bundles reach 1 GB+ and must never be read whole."""
    digest = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(view)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()


def content_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over the sorted (path, file sha256) pairs; NUL cannot occur in a path, so no ambiguity."""
    digest = hashlib.sha256()
    for path, file_sha in sorted(pairs):
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + file_sha.encode("ascii") + b"\n")
    return digest.hexdigest()


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def has_layout(path: Path) -> bool:
    return any(_is_real_dir(path / d) for d in LAYOUT_DIRS)


def find_bundle_root(path: Path, *, shown_as: str | None = None) -> Path:
    """The folder holding kernel/, system/…: `path` itself, or the single folder wrapping the layout.

    A re-tarred or unzipped bundle often sits one level down (`eks_i-…/kernel/…`); anything else
    that has none of the layout folders is refused with what was expected and what was found.
    `shown_as` names the bundle in errors when `path` is a private extraction directory.
    """
    where = shown_as or str(path)
    if not path.is_dir():
        raise BundleError("not a directory", path=where, hint=_LAYOUT_HINT)
    if has_layout(path):
        return path
    try:
        entries = sorted(
            (p for p in path.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_TOP),
            key=lambda p: p.name,
        )
    except OSError as exc:
        raise BundleError(f"cannot list directory: {exc.strerror or exc}", path=where) from None
    if not entries:
        raise BundleError("not a bundle: it is empty", path=where, hint=_LAYOUT_HINT)
    if len(entries) == 1 and _is_real_dir(entries[0]) and has_layout(entries[0]):
        return entries[0]
    shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:8])
    more = f" and {len(entries) - 8} more" if len(entries) > 8 else ""
    raise BundleError(
        f"not a bundle: none of {', '.join(d + '/' for d in LAYOUT_DIRS)} found (found: {shown}{more})",
        path=where,
        hint=_LAYOUT_HINT,
    )


def build_manifest(
    root: Path,
    *,
    instance_id: str,
    source: str,
    source_kind: str,
    collected_at: datetime | None = None,
    collected_at_source: str = "archive name",
) -> Manifest:
    """Hash every file under `root` and read the node facts. `collected_at` wins over file mtimes."""
    root = Path(root)
    files: list[ManifestFile] = []
    newest = 0.0
    for bf in bundle_files(root):
        try:
            sha = sha256_file(bf.path)
            newest = max(newest, bf.path.stat().st_mtime)
        except OSError as exc:
            raise BundleError(f"cannot read bundle file: {exc.strerror or exc}", path=str(bf.path)) from None
        files.append(ManifestFile(path=bf.rel, size=bf.size, sha256=sha, logical=bf.logical, rotation=bf.rotation))
    if collected_at is None and files and newest > 0:
        collected_at, collected_at_source = datetime.fromtimestamp(newest, tz=UTC), "newest file mtime"
    elif collected_at is None:
        collected_at_source = "unknown"
    elif collected_at.tzinfo is None:
        collected_at = collected_at.replace(tzinfo=UTC)
    release, family = read_kernel(root)
    cluster, server = read_cluster(root)
    return Manifest(
        instance_id=instance_id,
        digest=content_digest((f.path, f.sha256) for f in files),
        source=source,
        source_kind=source_kind,  # type: ignore[arg-type]
        collected_at=collected_at,
        collected_at_source=collected_at_source,
        kernel_release=release,
        kernel_family=family,
        region=_matching_line(root, "system/region.txt", _REGION),
        availability_zone=_matching_line(root, "system/availability-zone.txt", _ZONE),
        cluster=cluster,
        cluster_server=server,
        total_size=sum(f.size for f in files),
        files=files,
    )


def bundle_text(root: Path, rel: str, max_chars: int = 4096) -> str | None:
    """A small bundle file's text, or None when absent or a link that leaves the bundle."""
    path = root / rel
    try:
        if not path.is_file() or not path.resolve().is_relative_to(root.resolve()):
            return None
        return read_text(path, max_chars=max_chars)
    except OSError:
        return None


def first_line(root: Path, rel: str) -> str | None:
    text = bundle_text(root, rel)
    if text is None:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def _matching_line(root: Path, rel: str, pattern: re.Pattern[str]) -> str | None:
    line = first_line(root, rel)
    return line if line and pattern.fullmatch(line) else None


def read_kernel(root: Path) -> tuple[str | None, str | None]:
    """(kernel release, family) from `kernel/uname.txt` (`uname -a`)."""
    text = bundle_text(root, "kernel/uname.txt")
    if not text or not text.strip():
        return None, None
    try:
        from tools.parsers.uname import parse_uname  # another engineer's parser; may not exist yet
    except ImportError:
        fields = text.split()
        return (fields[2] if len(fields) >= 3 else None), None
    parsed = parse_uname(text)
    if parsed is None:
        return None, None
    return parsed.kernel_release, parsed.family


def read_cluster(root: Path) -> tuple[str | None, str | None]:
    """(cluster name, API server URL) from `kubelet/kubeconfig.yaml`, when they can be read."""
    text = bundle_text(root, "kubelet/kubeconfig.yaml", max_chars=256 * 1024)
    if not text:
        return None, None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    return _cluster_name(doc), _cluster_server(doc)


def _items(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _cluster_name(doc: dict[str, Any]) -> str | None:
    # The node authenticates with `aws eks get-token --cluster-name X` (or aws-iam-authenticator
    # `token -i X`); the kubeconfig's own cluster entry is usually just named "kubernetes".
    for user in _items(doc, "users"):
        spec = user.get("user")
        exec_spec = spec.get("exec") if isinstance(spec, dict) else None
        args = exec_spec.get("args") if isinstance(exec_spec, dict) else None
        if not isinstance(args, list):
            continue
        words = [str(a) for a in args]
        for i, word in enumerate(words):
            flag, eq, value = word.partition("=")
            if flag in _CLUSTER_FLAGS:
                candidate = value if eq else (words[i + 1] if i + 1 < len(words) else "")
                if _CLUSTER_NAME.fullmatch(candidate):
                    return candidate
    for cluster in _items(doc, "clusters"):
        m = _CLUSTER_ARN.fullmatch(str(cluster.get("name", "")))
        if m:
            return m.group(1)
    return None


def _cluster_server(doc: dict[str, Any]) -> str | None:
    clusters = _items(doc, "clusters")
    wanted: str | None = None
    current = doc.get("current-context")
    for ctx in _items(doc, "contexts"):
        body = ctx.get("context")
        if ctx.get("name") == current and isinstance(body, dict):
            wanted = body.get("cluster")
    ordered = sorted(clusters, key=lambda c: c.get("name") != wanted)
    for cluster in ordered:
        body = cluster.get("cluster")
        server = body.get("server") if isinstance(body, dict) else None
        if isinstance(server, str) and server.startswith("https://") and len(server) < 512:
            return server
    return None
