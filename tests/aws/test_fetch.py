"""Finding and downloading the tarball: retries, size checks and the choice of object.

The transport faults (a connection reset mid-body, a short body) cannot be provoked through
moto, so these tests give `download`/`find_bundle` a small in-memory S3 that misbehaves on cue.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.aws.errors import AwsCallError
from tools.aws.fetch import BundleObject, FetchError, download, find_bundle, local_name
from tools.bundle.store import collected_at_from_name, instance_id_from_name

IID = "i-0abc123def4567890"
EID = "0b2a6f6e-1111-4000-8000-000000000000"
T0 = datetime(2026, 7, 30, 14, 0, tzinfo=UTC)


class _Body:
    def __init__(self, data: bytes, fail_after: int | None = None):
        self._buf = io.BytesIO(data)
        self._fail_after = fail_after

    def read(self, n: int = -1) -> bytes:
        if self._fail_after is not None and self._buf.tell() >= self._fail_after:
            from urllib3.exceptions import ProtocolError

            raise ProtocolError("Connection broken: IncompleteRead")
        return self._buf.read(min(n, 4096) if n > 0 else -1)


class FakeS3:
    """Answers list_objects_v2 and get_object; `bodies` scripts what each get_object returns."""

    def __init__(self, objects: dict[str, tuple[bytes, datetime]], bodies: list[_Body] | None = None,
                 page_size: int = 1000):
        self.objects = objects
        self.bodies = bodies or []
        self.page_size = page_size
        self.gets: list[dict[str, Any]] = []

    def call(self, service: str, region: str, method: str, **kwargs: Any) -> dict[str, Any]:
        assert service == "s3"
        if method == "list_objects_v2":
            keys = sorted(k for k in self.objects if k.startswith(kwargs["Prefix"]))
            start = int(kwargs.get("ContinuationToken") or 0)
            page = keys[start : start + self.page_size]
            more = start + self.page_size < len(keys)
            return {"Contents": [{"Key": k, "Size": len(self.objects[k][0]), "LastModified": self.objects[k][1],
                                  "ETag": '"e"'} for k in page],
                    "IsTruncated": more, "NextContinuationToken": str(start + self.page_size) if more else None}
        if method == "get_object":
            self.gets.append(kwargs)
            if self.bodies:
                return {"Body": self.bodies.pop(0)}
            return {"Body": _Body(self.objects[kwargs["Key"]][0])}
        raise AssertionError(method)


def _obj(key: str, data: bytes, when: datetime = T0) -> BundleObject:
    return BundleObject(key=key, size=len(data), etag='"e"', last_modified=when)


def test_download_retries_a_broken_connection_and_a_short_body(tmp_path: Path) -> None:
    data = b"x" * 10_000
    s3 = FakeS3({}, bodies=[_Body(data, fail_after=4096), _Body(data[:5000]), _Body(data)])
    waits: list[float] = []
    dest = tmp_path / "b.tar.gz"
    download(s3, "us-east-1", "bkt", _obj("k.tar.gz", data), dest, attempts=3, max_bytes=1 << 20, sleep=waits.append)
    assert dest.read_bytes() == data
    assert len(s3.gets) == 3 and waits == [1.0, 2.0]
    assert all(g["IfMatch"] == '"e"' for g in s3.gets), "every attempt is pinned to the listed object"


def test_download_that_never_completes_names_the_object_and_sizes(tmp_path: Path) -> None:
    data = b"y" * 3000
    s3 = FakeS3({}, bodies=[_Body(data[:100]) for _ in range(2)])
    with pytest.raises(FetchError) as err:
        download(s3, "us-east-1", "bkt", _obj("eks_k.tar.gz", data), tmp_path / "x", attempts=2, max_bytes=1 << 20,
                 sleep=lambda s: None)
    assert err.value.code == "download_failed"
    assert "s3://bkt/eks_k.tar.gz" in err.value.message and "got 100 bytes, expected 3000" in err.value.message


def test_oversized_objects_are_not_downloaded(tmp_path: Path) -> None:
    s3 = FakeS3({})
    with pytest.raises(FetchError) as err:
        download(s3, "us-east-1", "bkt", _obj("k.tar.gz", b"z" * 2048), tmp_path / "x", attempts=3, max_bytes=1024)
    assert err.value.code == "bundle_too_large" and not s3.gets


def test_access_denied_is_not_retried(tmp_path: Path) -> None:
    class Denied(FakeS3):
        def call(self, service: str, region: str, method: str, **kwargs: Any) -> dict[str, Any]:
            self.gets.append(kwargs)
            raise AwsCallError("AWS denied s3:GetObject", code="aws_access_denied", aws_code="AccessDenied")

    s3 = Denied({})
    with pytest.raises(AwsCallError) as err:
        download(s3, "us-east-1", "bkt", _obj("k.tar.gz", b"a"), tmp_path / "x", attempts=3, max_bytes=10)
    assert err.value.code == "aws_access_denied" and len(s3.gets) == 1


def test_find_prefers_the_key_naming_the_execution() -> None:
    s3 = FakeS3({
        f"eks_{IID}_{EID}.tar.gz": (b"1", T0),
        f"eks_{IID}_2026-07-30_1500-UTC_0.7.9.tar.gz": (b"22", T0 + timedelta(hours=1)),
    })
    found = find_bundle(s3, "us-east-1", "bkt", IID, EID, T0)
    assert found is not None and found.key == f"eks_{IID}_{EID}.tar.gz"


def test_find_ignores_bundles_older_than_the_execution_extracted_copies_and_longer_ids() -> None:
    started = T0 + timedelta(hours=2)
    s3 = FakeS3({
        f"eks_{IID}_2026-07-30_1400-UTC_0.7.9.tar.gz": (b"old", T0),
        f"eks_{IID}_other/extracted/kernel/dmesg.current": (b"x", started + timedelta(minutes=3)),
        f"eks_{IID}_notes.txt": (b"x", started + timedelta(minutes=3)),
        f"eks_{IID}_2026-07-30_1603-UTC_0.7.9.tar.gz": (b"new", started + timedelta(minutes=3)),
    })
    found = find_bundle(s3, "us-east-1", "bkt", IID, EID, started)
    assert found is not None and found.key == f"eks_{IID}_2026-07-30_1603-UTC_0.7.9.tar.gz"
    assert find_bundle(s3, "us-east-1", "bkt", IID, EID, started + timedelta(hours=1)) is None
    short = "i-0abc1234"
    s3.objects[f"eks_{short}5678_{EID}.tar.gz"] = (b"x", started)
    assert find_bundle(s3, "us-east-1", "bkt", short, EID, None) is None


def test_find_reads_every_page() -> None:
    objects = {f"eks_{IID}_2026-07-30_14{m:02d}-UTC_0.7.9.tar.gz": (b"x", T0 + timedelta(minutes=m)) for m in range(7)}
    s3 = FakeS3(objects, page_size=2)
    found = find_bundle(s3, "us-east-1", "bkt", IID, EID, None)
    assert found is not None and found.key.endswith("1406-UTC_0.7.9.tar.gz")


@pytest.mark.parametrize("key", [f"eks_{IID}_{EID}.tar.gz", f"eks_{IID}_2026-07-30_1412-UTC_0.7.9.tar.gz"])
def test_local_name_carries_instance_time_and_execution(key: str) -> None:
    name = local_name(_obj(key, b"x", datetime(2026, 7, 30, 14, 12, 59, tzinfo=UTC)), IID, EID)
    assert instance_id_from_name(name) == IID
    assert collected_at_from_name(name) == datetime(2026, 7, 30, 14, 12, tzinfo=UTC)
    assert EID in name and name.endswith(".tar.gz") and name.count(EID) == 1
