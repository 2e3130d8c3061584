"""Hostile and broken bundles through the tools and the CLI: a clear error naming the member or
file (exit 2, no traceback) or a result that says what is missing, and nothing written outside
the store."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from graphs.cli import main
from tests.tools.conftest import Bundles, tree
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import call_tool

IID = "i-0d00000000000d001"
GOOD = [("./system/instance-id.txt", f"{IID}\n".encode()), ("./kernel/uname.txt", b"Linux ip-10-0-0-1 6.1.0\n")]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private workspace: relative escapes from the store or the cwd would land inside it."""
    (tmp_path / "cwd").mkdir()
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "home"))
    return tmp_path


def tar_gz(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


class _Zeros(io.RawIOBase):
    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def bomb(path: Path, size: int = 48 << 20) -> Path:
    """A tarball whose one member is `size` zero bytes: about 1000:1, streamed, never in memory."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in GOOD:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("./var_log/messages")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), buffer_size=1 << 20))
    return path


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "traversal": (lambda d: tar_gz(d / f"eks_{IID}_t.tar.gz", [*GOOD, ("./../../../escaped.txt", b"x\n")]),
                  "./../../../escaped.txt"),
    "absolute": (lambda d: tar_gz(d / "abs.tar.gz", [*GOOD, ("/tmp/sopgraph-escaped.txt", b"x\n")]),
                 "/tmp/sopgraph-escaped.txt"),
    "symlink_escape": (lambda d: tar_gz(d / "sym.tar.gz", [*GOOD, link("./kernel/evil", "../../../../etc/passwd")]),
                       "./kernel/evil"),
    "symlink_absolute": (lambda d: tar_gz(d / "syma.tar.gz", [*GOOD, link("./kernel/evil", "/etc/passwd")]),
                         "./kernel/evil"),
    "hardlink_escape": (lambda d: tar_gz(d / "hard.tar.gz", [*GOOD, link("./kernel/h", "/etc/passwd", tarfile.LNKTYPE)]),
                        "./kernel/h"),
    "link_then_write": (lambda d: tar_gz(d / "lw.tar.gz", [*GOOD, link("./var_log", "kernel"),
                                                          ("./var_log/escaped.txt", b"x\n")]),
                        "./var_log/escaped.txt"),
    "fifo": (lambda d: tar_gz(d / "fifo.tar.gz", [*GOOD, special("./kernel/pipe", tarfile.FIFOTYPE)]),
             "./kernel/pipe"),
    "device": (lambda d: tar_gz(d / "dev.tar.gz", [*GOOD, special("./kernel/sda", tarfile.BLKTYPE)]),
               "./kernel/sda"),
    "bomb": (lambda d: bomb(d / "bomb.tar.gz"), "./var_log/messages"),
}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean_refusal(rc: int, err: str, *names: str) -> None:
    assert rc == 2, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for name in names:
        assert name in err, f"{name!r} not named in: {err}"


def assert_store_empty(home: Path) -> None:
    """A refused ingest leaves no record and no staging debris."""
    assert tree(home) == set(), tree(home)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tarball_is_refused_naming_the_member(work: Path, capsys, case: str) -> None:
    make, member = HOSTILE[case]
    archive = make(work / "in")
    store = work / "store"
    before = tree(work)
    rc, out, err = run_cli(capsys, "tools", "call", "errors", "--bundle", str(archive), "--store", str(store))
    assert_clean_refusal(rc, err, str(archive), repr(member))
    assert out == ""
    assert tree(work) - before <= {"store"}, tree(work) - before
    assert_store_empty(store)
    assert not Path("/tmp/sopgraph-escaped.txt").exists()

    # The same refusal through the tool, as an agent would meet it.
    outcome = call_tool(ToolContext(store=BundleStore(store)), "collect", {"bundle": str(archive)})
    assert not outcome.ok and repr(member) in (outcome.error or "") and outcome.code == "bad_bundle"
    assert tree(work) - before <= {"store"}
    assert_store_empty(store)


def test_bomb_is_stopped_by_the_ratio_cap_not_by_running_out_of_disk(work: Path, capsys) -> None:
    archive = bomb(work / "in" / "bomb.tar.gz")
    rc, _, err = run_cli(capsys, "tools", "call", "collect", "--arg", f"bundle={archive}", "--store",
                         str(work / "store"))
    assert_clean_refusal(rc, err, "compression ratio", "./var_log/messages")
    assert "hint: " in err


def test_directory_bundle_link_escape_is_not_followed(tmp_path: Path, copy_of) -> None:
    root = copy_of("healthy")
    secret = tmp_path / "secret.txt"
    secret.write_text("nf_conntrack: table full, dropping packet\n")
    os.symlink(secret, root / "kernel" / "leak.txt")
    os.symlink("../../secret.txt", root / "var_log" / "leak2.txt")
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    assert call_tool(ctx, "collect", {"bundle": str(root)}).ok
    for key in ("kernel/leak.txt", "var_log/leak2.txt"):
        out = call_tool(ctx, "read", {"logKey": key})
        assert not out.ok and key in (out.error or "")
    assert call_tool(ctx, "search", {"query": "table full"}).result["totalMatches"] == 0
    assert call_tool(ctx, "errors", {}).result["totalFindings"] == 0


# --------------------------------------------------------------------------- empty and missing


def test_empty_and_missing_bundles_through_the_cli(work: Path, capsys) -> None:
    empty_dir = work / "in" / "empty"
    empty_dir.mkdir()
    layout_only = work / "in" / f"eks_{IID}_2026-07-30_1414-UTC_0.7.9"
    for d in ("kernel", "sysctls", "var_log"):
        (layout_only / d).mkdir(parents=True)
    zero_byte = work / "in" / "zero.tar.gz"
    zero_byte.write_bytes(b"")
    empty_tar = tar_gz(work / "in" / "empty.tar.gz", [])
    not_gzip = work / "in" / "notes.tar.gz"
    not_gzip.write_text("this is not an archive\n")
    truncated_gz = work / "in" / "cut.tar.gz"
    whole = tar_gz(work / "in" / "whole.tar.gz", [*GOOD, ("./var_log/messages", os.urandom(200_000))])
    truncated_gz.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    nowhere = work / "in" / "does-not-exist"
    store = work / "store"
    before = tree(work)
    for bundle in (empty_dir, layout_only, zero_byte, empty_tar, not_gzip, truncated_gz, nowhere):
        rc, out, err = run_cli(capsys, "tools", "call", "validate", "--bundle", str(bundle), "--store", str(store))
        assert_clean_refusal(rc, err, str(bundle))
        assert out == ""
    assert tree(work) - before <= {"store"}
    assert_store_empty(store)


def test_missing_files_are_reported_not_guessed(work: Path, capsys, bundles: Bundles) -> None:
    node = bundles["gappy"]
    rc, out, err = run_cli(capsys, "tools", "call", "validate", "--bundle", str(node.path), "--store",
                           str(work / "store"))
    assert rc == 0, err
    res = json.loads(out)
    assert res["missing"] == ["sysctls"] and res["complete"] is False
    rc, out, _ = run_cli(capsys, "tools", "call", "network_diagnostics", "--bundle", str(node.path), "--store",
                         str(work / "store"), "--arg", "sections=kube_proxy")
    diag = json.loads(out)
    assert rc == 0 and diag["diagnostics"]["kube_proxy"]["conntrack"] is None
    assert any("sysctl_all.txt is missing" in g for g in diag["gaps"])


def test_unknown_instance_and_bad_arguments_through_the_cli(work: Path, capsys) -> None:
    rc, _, err = run_cli(capsys, "tools", "call", "errors", "--arg", "instanceId=i-0123456789abcdef0",
                         "--store", str(work / "store"))
    assert_clean_refusal(rc, err, "i-0123456789abcdef0")
    rc, _, err = run_cli(capsys, "tools", "call", "errors", "--arg", "nonsense", "--store", str(work / "store"))
    assert_clean_refusal(rc, err, "nonsense")
    rc, _, err = run_cli(capsys, "tools", "call", "no_such_tool", "--store", str(work / "store"))
    assert_clean_refusal(rc, err, "no_such_tool")


# ---------------------------------------------------------------- binary and non-UTF-8 content


def test_binary_files_and_invalid_utf8_are_indexed_without_crashing(tmp_path: Path, copy_of, bundles: Bundles) -> None:
    root = copy_of("kernel_full")
    before = bundles["kernel_full"].truth.evidence_files["table_full"]["kernel/dmesg.current"]
    # A core dump that happens to contain the kernel's words: binary, so never evidence.
    (root / "var_log" / "core.1234").write_bytes(
        b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64 + b"nf_conntrack: table full, dropping packet\n" + os.urandom(4096)
    )
    with open(root / "kernel" / "dmesg.current", "ab") as fh:
        fh.write(b"[299000.000001] eth0: garbage \xff\xfe\xc3\x28 bytes from a broken driver\n")
        fh.write(b"[299000.000002] nf_conntrack: nf_conntrack: table full, dropping packet\n")
    with open(root / "var_log" / "messages", "ab") as fh:
        fh.write(b"Jul 30 14:15:00 ip-10-0-0-1 app[1]: caf\xe9 latin-1 text \x80\x81\n")
    ctx = ToolContext(store=BundleStore(tmp_path / "store"), instance_ids=[bundles["kernel_full"].instance_id])
    assert call_tool(ctx, "collect", {"bundle": str(root)}).ok

    errors = call_tool(ctx, "errors", {"category": "conntrack_table_full", "response_format": "detailed"})
    assert errors.ok, errors.error
    per_file = {f["file"]: f["count"] for f in errors.result["findings"]}
    assert per_file["kernel/dmesg.current"] == before + 1
    assert "var_log/core.1234" not in per_file

    garbage = call_tool(ctx, "search", {"query": "from a broken driver"})
    assert garbage.ok and garbage.result["totalMatches"] == 1
    assert "\ufffd" in garbage.result["results"][0]["matches"][0]["text"]
    latin = call_tool(ctx, "search", {"query": "latin-1 text", "logTypes": "messages"})
    assert latin.ok and latin.result["totalMatches"] == 1

    tail = call_tool(ctx, "read", {"logKey": "kernel/dmesg.current", "startLine": -2})
    assert tail.ok and "garbage" in tail.result["lines"][0] and "table full" in tail.result["lines"][1]
    binary = call_tool(ctx, "read", {"logKey": "var_log/core.1234"})
    assert not binary.ok and "binary" in (binary.error or "")


# ------------------------------------------------------------------------------ 100 MB one line


@pytest.fixture(scope="module")
def huge_line_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle whose dmesg holds one 100 MiB line between ordinary ones, written in 1 MiB chunks."""
    root = tmp_path_factory.mktemp("huge") / f"eks_{IID}_2026-07-30_1414-UTC_0.7.9"
    (root / "kernel").mkdir(parents=True)
    (root / "system").mkdir()
    (root / "system" / "instance-id.txt").write_text(f"{IID}\n")
    chunk = b"0123456789abcdef" * 65536  # 1 MiB
    with open(root / "kernel" / "dmesg.current", "wb") as fh:
        fh.write(b"[    1.000000] Linux version 6.1.147-172.266.amzn2023.x86_64\n")
        fh.write(b"[    2.000000] huge: ")
        for _ in range(100):
            fh.write(chunk)
        fh.write(b"\n[  100.000000] nf_conntrack: nf_conntrack: table full, dropping packet\n")
        fh.write(b"[  101.000000] after the long line\n")
    return root


def test_a_100_mb_single_line_is_indexed_and_searched(tmp_path: Path, huge_line_bundle: Path) -> None:
    ctx = ToolContext(store=BundleStore(tmp_path / "store"))
    assert call_tool(ctx, "collect", {"bundle": str(huge_line_bundle)}).ok

    errors = call_tool(ctx, "errors", {})
    assert errors.ok, errors.error
    table_full = [f for f in errors.result["findings"] if f["category"] == "conntrack_table_full"]
    assert [(f["file"], f["line"], f["count"]) for f in table_full] == [("kernel/dmesg.current", 3, 1)]

    after = call_tool(ctx, "search", {"query": "after the long line", "context": 0})
    assert after.ok and [m["line"] for m in after.result["results"][0]["matches"]] == [4]
    # A query that matches the long line itself: bounded text back, never the 100 MB.
    huge = call_tool(ctx, "search", {"query": "huge: 0123", "context": 0})
    assert huge.ok and huge.result["totalMatches"] == 1
    assert len(huge.result["results"][0]["matches"][0]["text"]) <= 501
    page = call_tool(ctx, "read", {"logKey": "kernel/dmesg.current"})
    assert page.ok and [len(x) <= 2000 for x in page.result["lines"]] == [True] * 4
    assert re.match(r"\[  100\.000000\] nf_conntrack", page.result["lines"][2])


_RSS_PROBE = """
import json, sys
from pathlib import Path
from tools.bundle.store import BundleStore
from tools.context import ToolContext
from tools.registry import call_tool
ctx = ToolContext(store=BundleStore(Path(sys.argv[1])))
assert call_tool(ctx, "collect", {"bundle": sys.argv[2]}).ok
out = call_tool(ctx, sys.argv[3], json.loads(sys.argv[4]))
hits = [(m["line"], len(m["text"])) for g in (out.result or {}).get("results", []) for m in g["matches"]]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a probe forked from a big pytest
# worker would report the worker's size instead of its own.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"ok": out.ok, "hits": hits, "rss_mb": hwm / 1024}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("query", "line"), [("table full", 3), ("huge: 0123", 2)],
                         ids=["next-to-the-line", "the-line-itself"])
def test_search_next_to_a_100_mb_line_stays_under_300_mb(tmp_path: Path, huge_line_bundle: Path,
                                                          query: str, line: int) -> None:
    """rg --json sends a 100 MB line as one record; the engine streams past it instead of decoding it."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(tmp_path / "store"), str(huge_line_bundle), "search",
         json.dumps({"query": query})],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )
    probe = json.loads(done.stdout)
    assert probe["ok"]
    assert probe["rss_mb"] < 300, probe
    assert [n for n, _length in probe["hits"]] == [line]
    assert all(length <= 500 for _n, length in probe["hits"])
