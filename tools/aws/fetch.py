"""From "the collection succeeded" to a bundle in the local store.

The collector uploads `eks_<instance>_….tar.gz` to the bucket root; the suffix is the execution id
(as the public MCP server's bucket layout has it) or the collector's own
`<YYYY-MM-DD_HHMM-UTC>_<version>`. The object is found by the execution id when its name carries
it, else as the newest bundle of that instance uploaded after the execution started, so a stale
bundle from an earlier collection is never mistaken for this one.

The download streams to a private file in the store's home, is retried on transport errors and
checked against the object's size (a short read is retried, never ingested), pinned to the ETag
seen when listing so a concurrent overwrite cannot mix two uploads. Extraction and indexing are
the store's (the same safe extraction as for local bundles), so every other tool works unchanged.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from tools.aws.errors import AwsCallError
from tools.builtin.common import human_size
from tools.bundle.store import BundleRecord, BundleStore, collected_at_from_name, instance_id_from_name

_ARCHIVE = re.compile(r"[A-Za-z0-9_.:+-]{1,255}\.(?:tar\.gz|tgz)")
_CHUNK = 1 << 20
# Clock skew allowed between this machine / SSM's start time and S3's LastModified.
_SKEW = timedelta(minutes=2)


class Caller(Protocol):
    def call(self, service: str, region: str, method: str, **kwargs: Any) -> dict[str, Any]: ...


class BundleObject(BaseModel):
    key: str
    size: int
    etag: str | None
    last_modified: datetime


class FetchError(AwsCallError):
    """The bundle could not be found or downloaded intact."""


def _as_object(item: dict[str, Any]) -> BundleObject:
    modified = item["LastModified"]
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return BundleObject(key=item["Key"], size=int(item["Size"]), etag=item.get("ETag"), last_modified=modified)


def find_bundle(
    aws: Caller, region: str, bucket: str, instance_id: str, execution_id: str, started: datetime | None
) -> BundleObject | None:
    """The tarball this execution uploaded, or None when the bucket holds none for it."""
    prefix = f"eks_{instance_id}_"  # the trailing _ keeps an 8-hex id from matching a longer one
    candidates: list[BundleObject] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = aws.call("s3", region, "list_objects_v2", **kwargs)
        for item in page.get("Contents") or []:
            key = item["Key"]
            if "/" in key or not _ARCHIVE.fullmatch(key):
                continue  # extracted copies (eks_…/extracted/…) and anything that is not a tarball
            candidates.append(_as_object(item))
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if not token:
            break
    named = [c for c in candidates if execution_id in c.key]
    if named:
        return max(named, key=lambda c: c.last_modified)
    if started is not None:
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        candidates = [c for c in candidates if c.last_modified >= started - _SKEW]
    return max(candidates, key=lambda c: c.last_modified) if candidates else None


def local_name(obj: BundleObject, instance_id: str, execution_id: str) -> str:
    """The file name the store sees: the key, with the upload time and the execution id in it.

    The store reads the collection time from `eks_<id>_<YYYY-MM-DD_HHMM-UTC>_…`; an execution-id
    key carries no time, and the upload time is the best stand-in for when the collector ran.
    The execution id in the name is how a later status (or an idempotent collect) finds the
    bundle in the store without asking S3, which may have expired it by then.
    """
    stem = obj.key.removesuffix(".tar.gz").removesuffix(".tgz")
    if collected_at_from_name(obj.key) is None:
        rest = stem[len(f"eks_{instance_id}_"):]
        stem = f"eks_{instance_id}_{obj.last_modified.astimezone(UTC):%Y-%m-%d_%H%M}-UTC_{rest}"
    if execution_id not in stem:
        stem = f"{stem}_{execution_id}"
    return stem + ".tar.gz"


def download(
    aws: Caller,
    region: str,
    bucket: str,
    obj: BundleObject,
    dest: Path,
    *,
    attempts: int,
    max_bytes: int,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Stream the object to `dest`, retrying transport errors and short reads, then check its size."""
    from botocore.exceptions import BotoCoreError
    from urllib3.exceptions import HTTPError

    where = f"s3://{bucket}/{obj.key}"
    if obj.size > max_bytes:
        raise FetchError(
            f"{where} is {human_size(obj.size)}, over the {human_size(max_bytes)} download limit",
            hint="raise max_download_bytes in the config file if this bundle is expected to be that large",
            code="bundle_too_large",
        )
    problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        extra = {"IfMatch": obj.etag} if obj.etag else {}
        try:
            resp = aws.call("s3", region, "get_object", Bucket=bucket, Key=obj.key, **extra)
            written = 0
            with open(dest, "wb") as fh:
                body = resp["Body"]
                while chunk := body.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise FetchError(f"{where} grew past the {human_size(max_bytes)} download limit",
                                         code="bundle_too_large")
                    fh.write(chunk)
        except FetchError:
            raise
        except AwsCallError as exc:
            if exc.aws_code in ("PreconditionFailed", "412"):
                raise FetchError(f"{where} was replaced while downloading it", hint="call status again",
                                 code="bundle_changed") from None
            if exc.code in ("aws_access_denied", "aws_credentials") or exc.aws_code in ("NoSuchKey", "404"):
                raise
            problem = exc.message
        except (BotoCoreError, HTTPError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if written == obj.size:
                return
            problem = f"got {written} bytes, expected {obj.size} (ContentLength)"
        if attempt < attempts:
            sleep(min(2.0 ** (attempt - 1), 10.0))
    raise FetchError(
        f"could not download {where} intact after {attempts} attempts: {problem}",
        hint="check the network and call status again; the bundle stays in the bucket",
        code="download_failed",
    )


def ingested(store: BundleStore, instance_id: str, execution_id: str) -> BundleRecord | None:
    """The store's record of the bundle this execution collected, if a status call ingested it."""
    for record in store.list():
        if (record.instance_id == instance_id and execution_id in Path(record.manifest.source).name
                and record.root.is_dir()):
            return record
    return None


def fetch_into_store(
    aws: Caller,
    region: str,
    bucket: str,
    obj: BundleObject,
    store: BundleStore,
    instance_id: str,
    execution_id: str,
    *,
    attempts: int,
    max_bytes: int,
    sleep: Callable[[float], None] = time.sleep,
) -> BundleRecord:
    name = local_name(obj, instance_id, execution_id)
    if instance_id_from_name(name) != instance_id or not _ARCHIVE.fullmatch(name):
        raise FetchError(f"s3://{bucket}/{obj.key} does not look like a bundle of {instance_id}",
                         code="bad_bundle")
    downloads = store.home / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="s3-", dir=downloads))
    try:
        path = workdir / name
        download(aws, region, bucket, obj, path, attempts=attempts, max_bytes=max_bytes, sleep=sleep)
        return store.ingest(path, instance_id=instance_id)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
