"""Hostile archives against the safe extractor: every refusal names the member, leaves nothing."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools.bundle.errors import BundleError
from tools.bundle.extract import ExtractLimits, archive_kind, extract_archive, safe_relative


def reg(name: str, data: bytes = b"data\n", mtime: int = 1_785_420_000) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    return info, data


def typed(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, None


def write_tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], level: int = 6) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=level))
    return path


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    store = tmp_path / "store"
    src.mkdir()
    store.mkdir()
    return src, store


def refused(archive: Path, dest: Path, limits: ExtractLimits | None = None) -> BundleError:
    dest.parent.mkdir(parents=True, exist_ok=True)
    before = snapshot(dest.parent.parent)
    with pytest.raises(BundleError) as info:
        extract_archive(archive, dest, limits=limits)
    assert not dest.exists()
    # nothing half-written, nothing outside: the whole test tree is exactly as before
    assert snapshot(dest.parent.parent) == before
    assert str(archive) in str(info.value)
    return info.value


def test_collector_layout_extracts_with_mtimes(dirs):
    src, store = dirs
    archive = write_tar_gz(
        src / "b.tar.gz",
        [
            typed("./", tarfile.DIRTYPE),
            typed("./kernel/", tarfile.DIRTYPE),
            reg("./kernel/uname.txt", b"Linux ip 5.10.1 #1 SMP x86_64 GNU/Linux\n", mtime=1_785_420_720),
            reg("./var_log/aws-routed-eni/ipamd.log", b"{}\n"),  # parent folders not listed first
            typed("./kernel/u", tarfile.SYMTYPE, "uname.txt"),
            typed("./kernel/hard", tarfile.LNKTYPE, "./kernel/uname.txt"),
            typed("./docker/", tarfile.DIRTYPE),
        ],
    )
    result = extract_archive(archive, store / "out")
    out = store / "out"
    assert (out / "kernel/uname.txt").read_bytes().startswith(b"Linux ip 5.10.1")
    assert (out / "kernel/u").is_symlink() and (out / "kernel/u").read_text() == (out / "kernel/uname.txt").read_text()
    assert (out / "kernel/hard").read_bytes() == (out / "kernel/uname.txt").read_bytes()
    assert (out / "docker").is_dir() and (out / "var_log/aws-routed-eni/ipamd.log").is_file()
    assert int((out / "kernel/uname.txt").stat().st_mtime) == 1_785_420_720
    assert result.kind == "tar.gz" and result.members == 7 and result.files == 3
    assert result.bytes_written == len(b"Linux ip 5.10.1 #1 SMP x86_64 GNU/Linux\n") + 3
    assert [p.name for p in store.iterdir()] == ["out"]  # the temp dir was renamed, not copied


@pytest.mark.parametrize(
    ("members", "member", "why"),
    [
        ([reg("../../etc/x")], "../../etc/x", "'..'"),
        ([reg("./kernel/../../x")], "./kernel/../../x", "'..'"),
        ([reg("/etc/passwd")], "/etc/passwd", "absolute path"),
        ([typed("./kernel/p", tarfile.SYMTYPE, "/etc/passwd")], "./kernel/p", "absolute path '/etc/passwd'"),
        ([typed("./kernel/up", tarfile.SYMTYPE, "../../x")], "./kernel/up", "points outside"),
        ([typed("./up", tarfile.SYMTYPE, "..")], "./up", "points outside"),
        ([typed("./h", tarfile.LNKTYPE, "../../etc/passwd")], "./h", "'..'"),
        ([typed("./h", tarfile.LNKTYPE, "/etc/passwd")], "./h", "absolute path"),
        ([typed("./h", tarfile.LNKTYPE, "./kernel/missing")], "./h", "not a file extracted earlier"),
        ([typed("./dev/null", tarfile.CHRTYPE)], "./dev/null", "character device"),
        ([typed("./dev/sda", tarfile.BLKTYPE)], "./dev/sda", "block device"),
        ([typed("./pipe", tarfile.FIFOTYPE)], "./pipe", "FIFO"),
        ([reg("./a.txt"), reg("./a.txt", b"other")], "./a.txt", "duplicate member"),
        ([reg("./a"), reg("./a/b")], "./a/b", "not a directory"),
    ],
    ids=[
        "traversal", "traversal-inner", "absolute", "symlink-absolute", "symlink-up", "symlink-dotdot",
        "hardlink-up", "hardlink-absolute", "hardlink-missing", "chardev", "blockdev", "fifo",
        "duplicate", "file-as-parent",
    ],
)
def test_hostile_members_are_refused_by_name(dirs, members, member, why):
    src, store = dirs
    archive = write_tar_gz(src / "evil.tar.gz", [reg("./kernel/uname.txt"), *members])
    err = refused(archive, store / "out")
    assert err.member == member
    assert repr(member) in str(err)
    assert why in str(err)


def test_symlink_chain_that_escapes_only_when_combined_is_refused(dirs):
    # `w -> y/..` is inside while y does not exist; `y -> .` is inside on its own. Together w is the
    # parent of the bundle: only the check after extraction, when every link exists, sees it.
    src, store = dirs
    archive = write_tar_gz(
        src / "chain.tar.gz",
        [reg("./kernel/uname.txt"), typed("./w", tarfile.SYMTYPE, "y/.."), typed("./y", tarfile.SYMTYPE, ".")],
    )
    err = refused(archive, store / "out")
    assert err.member == "./w" and "through other links" in str(err)


def test_symlink_chain_with_an_escaping_link_is_refused_at_that_link(dirs):
    src, store = dirs
    archive = write_tar_gz(
        src / "chain2.tar.gz",
        [typed("./a", tarfile.SYMTYPE, "b"), typed("./b", tarfile.SYMTYPE, "../../x")],
    )
    assert refused(archive, store / "out").member == "./b"


def test_writing_through_an_earlier_symlink_is_refused(dirs):
    src, store = dirs
    archive = write_tar_gz(
        src / "through.tar.gz",
        [typed("./sub/", tarfile.DIRTYPE), typed("./d", tarfile.SYMTYPE, "sub"), reg("./d/file")],
    )
    err = refused(archive, store / "out")
    assert err.member == "./d/file" and "through the symlink 'd'" in str(err)


def test_inside_symlinks_and_dangling_ones_are_kept(dirs):
    src, store = dirs
    archive = write_tar_gz(
        src / "ok.tar.gz",
        [
            reg("./var_log/messages"),
            typed("./var_log/latest", tarfile.SYMTYPE, "messages"),
            typed("./var_log/gone", tarfile.SYMTYPE, "rotated/messages.9"),
            typed("./var_log/sub/up", tarfile.SYMTYPE, "../messages"),
        ],
    )
    extract_archive(archive, store / "out")
    out = store / "out/var_log"
    assert os.readlink(out / "latest") == "messages"
    assert os.readlink(out / "gone") == "rotated/messages.9"
    assert (out / "sub/up").read_bytes() == b"data\n"


@pytest.fixture(scope="module")
def bomb_tar(tmp_path_factory) -> Path:
    """50 MB of zeros in one member: about 50 KB compressed, a ratio near 1000:1."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.tar.gz"
    size = 50 * (1 << 20)
    info = tarfile.TarInfo("./var_log/messages")
    info.size = size
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tar:  # type: ignore[call-overload]
        tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def test_gzip_bomb_is_stopped_by_the_ratio_cap(bomb_tar, tmp_path):
    limits = ExtractLimits(max_ratio=200, ratio_grace_bytes=1 << 20)
    err = refused(bomb_tar, tmp_path / "store" / "out", limits)
    assert "compression ratio over 200:1" in str(err)
    assert err.member == "./var_log/messages"


def test_gzip_bomb_is_stopped_by_the_total_size_cap(bomb_tar, tmp_path):
    limits = ExtractLimits(max_total_bytes=8 << 20, max_ratio=100_000)
    err = refused(bomb_tar, tmp_path / "store" / "out", limits)
    assert f"exceeds the cap of {8 << 20} bytes" in str(err)


def test_bomb_is_caught_while_streaming_before_the_truncated_end(bomb_tar, tmp_path):
    # If the ratio were judged after reading, the truncation would be reported instead.
    cut = tmp_path / "cut.tar.gz"
    data = bomb_tar.read_bytes()
    cut.write_bytes(data[: len(data) * 9 // 10])
    err = refused(cut, tmp_path / "store" / "out", ExtractLimits(ratio_grace_bytes=1 << 20))
    assert "compression ratio" in str(err)


def test_default_limits_do_not_refuse_a_small_ordinary_archive(dirs):
    # A tiny archive's tar padding alone compresses past 200:1; the grace keeps it from tripping.
    src, store = dirs
    archive = write_tar_gz(src / "small.tar.gz", [reg("./system/instance-id.txt", b"i-0123456789abcdef0\n")], 9)
    assert extract_archive(archive, store / "out").files == 1


def test_member_count_cap(dirs):
    src, store = dirs
    archive = write_tar_gz(src / "many.tar.gz", [reg(f"./var_log/f{i}") for i in range(30)])
    err = refused(archive, store / "out", ExtractLimits(max_members=20))
    assert "more than 20 members" in str(err) and err.member == "./var_log/f20"


def test_non_gzip_file_named_tar_gz(dirs):
    src, store = dirs
    fake = src / "eks_i-0123456789abcdef0_2026-07-30_1412-UTC_0.7.9.tar.gz"
    fake.write_text("<html>AccessDenied</html>")
    err = refused(fake, store / "out")
    assert "not a gzip-compressed tar archive" in str(err)


def test_plain_tar_named_tar_gz_is_not_accepted(dirs):
    src, store = dirs
    plain = src / "plain.tar.gz"
    with tarfile.open(plain, "w") as tar:
        info, data = reg("./kernel/uname.txt")
        tar.addfile(info, io.BytesIO(data))
    assert "not a gzip-compressed" in str(refused(plain, store / "out"))


def test_truncated_archive(dirs):
    src, store = dirs
    payload = os.urandom(256 * 1024)  # incompressible, so the cut lands inside the member's data
    archive = write_tar_gz(src / "t.tar.gz", [reg("./kernel/dmesg.current", payload)])
    cut = src / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    err = refused(cut, store / "out")
    assert "truncated" in str(err) and err.member == "./kernel/dmesg.current"


def test_truncated_in_the_tail_after_the_last_member(dirs):
    src, store = dirs
    archive = write_tar_gz(src / "t.tar.gz", [reg("./kernel/uname.txt")])
    cut = src / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:-6])  # loses the gzip trailer only
    assert "truncated" in str(refused(cut, store / "out"))


def test_corrupt_gzip_data(dirs):
    src, store = dirs
    archive = write_tar_gz(src / "c.tar.gz", [reg("./kernel/dmesg.current", b"kernel line\n" * 5000)])
    data = bytearray(archive.read_bytes())
    for i in range(40, 60):
        data[i] ^= 0xFF
    archive.write_bytes(bytes(data))
    err = refused(archive, store / "out")
    assert any(w in str(err) for w in ("corrupt", "truncated", "not a tar archive"))


def test_empty_archives(dirs):
    src, store = dirs
    zero = src / "zero.tar.gz"
    zero.write_bytes(b"")
    assert "empty (0 bytes)" in str(refused(zero, store / "out"))
    empty_gzip = src / "empty.tar.gz"
    empty_gzip.write_bytes(gzip.compress(b""))
    assert "archive is empty" in str(refused(empty_gzip, store / "out"))
    no_members = write_tar_gz(src / "nomembers.tar.gz", [])
    assert "holds no members" in str(refused(no_members, store / "out"))


def test_gzip_of_something_that_is_not_a_tar(dirs):
    src, store = dirs
    path = src / "log.tar.gz"
    path.write_bytes(gzip.compress(b"just a log line\n" * 100))
    assert "not a tar archive" in str(refused(path, store / "out"))


def test_missing_archive_and_existing_destination(dirs):
    src, store = dirs
    with pytest.raises(BundleError, match="no such archive"):
        extract_archive(src / "nope.tar.gz", store / "out")
    archive = write_tar_gz(src / "ok.tar.gz", [reg("./kernel/uname.txt")])
    (store / "out").mkdir()
    with pytest.raises(BundleError, match="already exists"):
        extract_archive(archive, store / "out")


def test_archive_kind_uses_content_not_name(dirs):
    src, _ = dirs
    z = src / "bundle.tar.gz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("kernel/uname.txt", "Linux\n")
    assert archive_kind(z) == "zip"


def test_safe_relative():
    assert safe_relative("./kernel//uname.txt") == "kernel/uname.txt"
    assert safe_relative("./") is None
    for bad in ("/etc/passwd", "a/../../b", "..", "a\x00b"):
        with pytest.raises(ValueError):
            safe_relative(bad)


# ------------------------------------------------------------------------------------------ zip


def write_zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 7, 30, 14, 12, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_bundle_extracts(dirs):
    src, store = dirs
    archive = write_zip(
        src / "b.zip",
        [
            ("kernel/", b"", stat.S_IFDIR | 0o755),
            ("kernel/uname.txt", b"Linux\n", stat.S_IFREG | 0o644),
            ("kernel/u", b"uname.txt", stat.S_IFLNK | 0o777),
            ("system/instance-id.txt", b"i-0123456789abcdef0\n", None),
        ],
    )
    result = extract_archive(archive, store / "out")
    assert result.kind == "zip" and result.files == 2
    assert (store / "out/kernel/u").read_text() == "Linux\n"
    assert (store / "out/system/instance-id.txt").read_text().strip() == "i-0123456789abcdef0"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (("../../evil", b"x", None), "'..'"),
        (("/abs", b"x", None), "absolute path"),
        (("link", b"/etc/passwd", stat.S_IFLNK | 0o777), "absolute path"),
        (("link", b"../../x", stat.S_IFLNK | 0o777), "points outside"),
        (("fifo", b"", stat.S_IFIFO | 0o644), "FIFO"),
    ],
)
def test_zip_hostile_members(dirs, entry, why):
    src, store = dirs
    archive = write_zip(src / "evil.zip", [("kernel/uname.txt", b"Linux\n", None), entry])
    err = refused(archive, store / "out")
    assert err.member == entry[0] and why in str(err)


def test_zip_bomb_ratio(dirs):
    src, store = dirs
    archive = write_zip(src / "bomb.zip", [("var_log/messages", bytes(8 << 20), None)])
    err = refused(archive, store / "out", ExtractLimits(ratio_grace_bytes=1 << 20))
    assert "compression ratio" in str(err) and err.member == "var_log/messages"


def test_corrupt_zip(dirs):
    src, store = dirs
    archive = write_zip(src / "z.zip", [("kernel/uname.txt", b"Linux\n" * 1000, None)])
    archive.write_bytes(archive.read_bytes()[:-30])  # central directory gone
    assert "corrupt zip" in str(refused(archive, store / "out"))
