import gzip
from pathlib import Path

from tools.bundle.textio import (
    MAX_LINE_CHARS,
    TRUNCATION_MARK,
    bundle_files,
    is_binary,
    iter_lines,
    logical_path,
    rotation_rank,
)


def test_plain_and_gzip_read_the_same(tmp_path: Path):
    body = "line one\nline two\r\nlast without newline"
    (tmp_path / "a.log").write_text(body)
    with gzip.open(tmp_path / "a.log.1.gz", "wt") as fh:
        fh.write(body)
    assert list(iter_lines(tmp_path / "a.log")) == ["line one", "line two", "last without newline"]
    assert list(iter_lines(tmp_path / "a.log.1.gz")) == list(iter_lines(tmp_path / "a.log"))


def test_non_utf8_bytes_are_replaced(tmp_path: Path):
    (tmp_path / "b.txt").write_bytes(b"ok\n\xff\xfe bad\n")
    lines = list(iter_lines(tmp_path / "b.txt"))
    assert lines[0] == "ok" and "\ufffd" in lines[1] and lines[1].endswith("bad")


def test_huge_single_line_is_truncated_not_held(tmp_path: Path):
    p = tmp_path / "huge.log"
    with open(p, "wb") as fh:
        for _ in range(5):
            fh.write(b"x" * (1 << 20))
        fh.write(b"\nafter\n")
    lines = list(iter_lines(p))
    assert len(lines) == 2
    assert lines[0].endswith(TRUNCATION_MARK)
    assert len(lines[0]) == MAX_LINE_CHARS + len(TRUNCATION_MARK)
    assert lines[1] == "after"


def test_corrupt_gzip_stops_quietly(tmp_path: Path):
    body = "".join(f"line {i} {i * 7919 % 104729}\n" for i in range(200_000)).encode()
    good = gzip.compress(b"one\n" + body)
    (tmp_path / "c.gz").write_bytes(good[: len(good) // 2])
    lines = list(iter_lines(tmp_path / "c.gz"))
    assert lines and lines[0] == "one"


def test_binary_detection(tmp_path: Path):
    (tmp_path / "core").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "t.txt").write_text("hello")
    assert is_binary(tmp_path / "core") and not is_binary(tmp_path / "t.txt")


def test_rotation_names():
    assert logical_path("var_log/messages.1") == "var_log/messages"
    assert logical_path("var_log/messages") == "var_log/messages"
    assert logical_path("var_log/pods/kp/0.log.20260730-101010.gz") == "var_log/pods/kp/0.log"
    assert logical_path("var_log/cloud-init.log.2.gz") == "var_log/cloud-init.log"
    assert rotation_rank("var_log/messages.3") == 3
    assert rotation_rank("var_log/messages") == 0
    assert logical_path("networking/ping_amazon.com.txt") == "networking/ping_amazon.com.txt"


def test_bundle_files_skips_links_out_of_root(tmp_path: Path):
    root = tmp_path / "b"
    (root / "kernel").mkdir(parents=True)
    (root / "kernel" / "dmesg.current").write_text("x\n")
    (tmp_path / "secret").write_text("s\n")
    (root / "kernel" / "escape").symlink_to(tmp_path / "secret")
    (root / "kernel" / "inside").symlink_to(root / "kernel" / "dmesg.current")
    rels = [f.rel for f in bundle_files(root)]
    assert rels == ["kernel/dmesg.current", "kernel/inside"]
