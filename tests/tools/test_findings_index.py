import gzip
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tools.findings.index as index_mod
import tools.search_engine as se
from tools.findings.catalog import CATALOG_VERSION
from tools.findings.index import CACHE_FILE, build_index, load_or_build
from tools.findings.model import SEVERITY_ORDER, FindingsIndex

ENGINES = ["rg", "re2"]
APP_LOG = "var_log/containers/orders-7f9c_default_orders-0123abcd.log"
COREDNS_LOG = "var_log/coredns-5d8f7b9c6d-abcde_kube-system_coredns-0123456789abcdef.log"

ETHTOOL = """Interface ens5
NIC statistics:
     total_resets: 0
     tx_timeout: 0
     bw_in_allowance_exceeded: 0
     bw_out_allowance_exceeded: 0
     pps_allowance_exceeded: 0
     conntrack_allowance_exceeded: 1234
     linklocal_allowance_exceeded: 0
     conntrack_allowance_available: 0
     queue_0_tx_cnt: 3925390


Interface ens6
NIC statistics:
     bw_in_allowance_exceeded: 11072
     bw_out_allowance_exceeded: 0
     pps_allowance_exceeded: 0
     conntrack_allowance_exceeded: 0
     linklocal_allowance_exceeded: 7
     conntrack_allowance_available: 51286


Interface lo
no stats available
"""

SYSCTL = """net.netfilter.nf_conntrack_acct = 0
net.netfilter.nf_conntrack_buckets = 262144
net.netfilter.nf_conntrack_count = 262139
net.netfilter.nf_conntrack_max = 262144
net.nf_conntrack_max = 262144
"""

CONNTRACK = (
    "*** Output of conntrack -S *** \n"
    "cpu=0   \tfound=0 invalid=1843 insert=0 insert_failed=0 drop=312 early_drop=41 error=0 search_restart=17\n"
    "cpu=1   \tfound=0 invalid=12 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=3\n"
    "cpu=2   \tfound=0 invalid=9 insert=0 insert_failed=0 drop=88 early_drop=0 error=0 search_restart=1\n"
    "*** Output of conntrack -L ***\n"
    + "udp      17 28 src=10.0.12.77 dst=172.20.0.10 sport=40123 dport=53 src=10.0.13.9 dst=10.0.12.77 "
    "sport=53 dport=40123 mark=0 use=1\n" * 50
)


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def make_bundle(root: Path, *, human: bool = True) -> Path:
    write(root, "kernel/dmesg.current", (
        "[    3.201144] Linux version 6.1.102-111.182.amzn2023.x86_64\n"
        "[  100.000000] ena 0000:00:05.0 ens5: renamed from eth0\n"
        "[104235.156774] nf_conntrack: nf_conntrack: table full, dropping packet\n"
        "[104243.800401] net_ratelimit: 3939 callbacks suppressed\n"
        "[104250.000000] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    ))  # fmt: skip
    if human:
        write(root, "kernel/dmesg.human.current", (
            "[Wed Jul 29 00:00:03 2026] Linux version 6.1.102-111.182.amzn2023.x86_64\n"
            "[Wed Jul 29 00:01:40 2026] ena 0000:00:05.0 ens5: renamed from eth0\n"
        ))  # fmt: skip
    write(root, "var_log/messages", (
        "Jul 30 14:02:10 ip-10-0-12-34 systemd[1]: Started Session 5 of user root.\n"
        "Jul 30 14:02:11 ip-10-0-12-34 kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n"
        "Jul 30 14:02:12 ip-10-0-12-34 myapp[123]: saw nf_conntrack: table full, dropping packet earlier\n"
        "Jul 30 14:02:13 ip-10-0-12-34 kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n"
        'Jul 30 14:02:14 ip-10-0-12-34 kubelet[3456]: E0730 "Skipping pod synchronization" err="PLEG is not healthy"\n'
    ))  # fmt: skip
    with gzip.open(root / "var_log" / "messages.1.gz", "wt") as fh:
        fh.write("Jul 29 01:00:00 ip-10-0-12-34 kernel: nf_conntrack: table full, dropping packet\n")
    write(root, "networking/ethtool.txt", ETHTOOL)
    write(root, "sysctls/sysctl_all.txt", SYSCTL)
    write(root, "networking/conntrack.txt", CONNTRACK)
    write(root, COREDNS_LOG, "".join(
        f"2026-07-30T14:02:{s:02d}.000000000Z stdout F [ERROR] plugin/errors: 2 api.example.com. A: "
        f"read udp 10.0.13.9:41234->10.0.0.2:53: i/o timeout\n"
        for s in range(20, 45)
    ))  # fmt: skip
    write(root, APP_LOG, (
        '2026-07-30T14:02:11.000000000Z stdout F WARN upstream said "nf_conntrack: table full, dropping packet"\n'
        "2026-07-30T14:02:12.000000000Z stdout F ERROR routing table full\n"
        "2026-07-30T14:02:13.000000000Z stdout F metrics: conntrack_allowance_exceeded: 0\n"
    ))  # fmt: skip
    (root / "system").mkdir(exist_ok=True)
    (root / "system" / "core.dump").write_bytes(b"\x7fELF\x00\x00\x00nf_conntrack: table full, dropping packet\n")
    return root


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle")


def of(idx: FindingsIndex, pattern_id: str, file: str | None = None):
    return [f for f in idx.findings if f.pattern_id == pattern_id and (file is None or f.file == file)]


def test_ena_counters_are_findings_only_when_above_zero(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    (ct,) = of(idx, "ena-conntrack-allowance-exceeded")
    assert (ct.value, ct.interface, ct.counter) == (1234, "ens5", "conntrack_allowance_exceeded")
    assert ct.severity == "CRITICAL" and ct.category == "ena_allowance" and ct.source == "ethtool"
    assert ct.line_start == 8 and ct.lines == [8]
    assert ETHTOOL.splitlines()[ct.line_start - 1].strip() == "conntrack_allowance_exceeded: 1234"
    (bw,) = of(idx, "ena-bw-in-allowance-exceeded")
    assert (bw.value, bw.interface, bw.severity) == (11072, "ens6", "HIGH")
    (ll,) = of(idx, "ena-linklocal-allowance-exceeded")
    assert (ll.value, ll.interface) == (7, "ens6")
    assert of(idx, "ena-pps-allowance-exceeded") == [] and of(idx, "ena-bw-out-allowance-exceeded") == []
    # ens6's `conntrack_allowance_exceeded: 0` and the app's quoted `...: 0` are not evidence.
    assert all(f.value != 0 for f in idx.findings)
    assert not [f for f in idx.findings if f.file == APP_LOG]


def test_kernel_table_full_everywhere_the_kernel_logs_but_not_in_app_logs(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    full = of(idx, "conntrack-table-full")
    assert {f.file for f in full} == {"kernel/dmesg.current", "var_log/messages", "var_log/messages.1.gz"}
    msgs = of(idx, "conntrack-table-full", "var_log/messages")[0]
    assert (msgs.count, msgs.lines, msgs.line_start, msgs.line_end) == (2, [2, 4], 2, 4)  # not the myapp line
    assert all(f.severity == "CRITICAL" and f.category == "conntrack_table_full" for f in full)


def test_rotated_gz_is_indexed_under_its_real_path_with_its_logical_name(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    (rot,) = of(idx, "conntrack-table-full", "var_log/messages.1.gz")
    assert rot.logical == "var_log/messages" and rot.line_start == 1
    assert rot.first_ts == datetime(2026, 7, 29, 1, 0, tzinfo=UTC)


def test_binary_file_is_skipped_with_a_reason(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    skipped = {s.file: s.reason for s in idx.files_skipped}
    assert "binary" in skipped["system/core.dump"]
    assert not [f for f in idx.findings if f.file == "system/core.dump"]
    assert idx.total_files == 10 and idx.files_scanned == 9
    assert idx.bytes_scanned == sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) - (
        bundle / "system" / "core.dump"
    ).stat().st_size


def test_sysctl_near_capacity_is_a_kernel_warning_never_critical(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    (near,) = of(idx, "conntrack-near-capacity")
    assert (near.severity, near.category) == ("WARNING", "kernel")
    assert (near.value, near.limit, near.line_start, near.line_end) == (262139, 262144, 3, 4)
    assert "262139" in near.sample and "262144" in near.sample


def test_sysctl_below_ninety_percent_is_not_a_finding(bundle, engine):
    write(bundle, "sysctls/sysctl_all.txt", SYSCTL.replace("262139", "200000"))
    assert of(build_index(bundle, year_hint=2026), "conntrack-near-capacity") == []


def test_conntrack_stats_drop_sums_cpus_and_cites_their_lines(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    (drop,) = of(idx, "conntrack-stats-drop")
    assert (drop.value, drop.lines, drop.count, drop.line_start, drop.line_end) == (400, [2, 4], 2, 2, 4)
    (early,) = of(idx, "conntrack-stats-early-drop")
    assert (early.value, early.lines) == (41, [2])


def test_grouping_counts_every_line_but_lists_ten(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    (dns,) = of(idx, "dns-io-timeout")
    assert dns.file == COREDNS_LOG and dns.count == 25
    assert dns.lines == list(range(1, 11)) and (dns.line_start, dns.line_end) == (1, 25)
    assert dns.first_ts == datetime(2026, 7, 30, 14, 2, 20, tzinfo=UTC)
    assert dns.last_ts == datetime(2026, 7, 30, 14, 2, 44, tzinfo=UTC)
    assert len(dns.sample) <= 300 and "i/o timeout" in dns.sample


def test_last_time_is_right_beyond_the_timestamp_cap(bundle, engine, monkeypatch):
    monkeypatch.setattr(index_mod, "TS_CAP", 3)
    (dns,) = of(build_index(bundle, year_hint=2026), "dns-io-timeout")
    assert dns.count == 25 and dns.last_ts == datetime(2026, 7, 30, 14, 2, 44, tzinfo=UTC)


def test_ids_are_sequential_in_severity_order(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    assert [f.id for f in idx.findings] == [f"F-{n:03d}" for n in range(1, len(idx.findings) + 1)]
    ranks = [SEVERITY_ORDER[f.severity] for f in idx.findings]
    assert ranks == sorted(ranks)
    keys = [(SEVERITY_ORDER[f.severity], f.category, f.file, f.line_start) for f in idx.findings]
    assert keys == sorted(keys)
    assert idx.by_id("F-001") is idx.findings[0]
    assert idx.by_id(" f-001 ") is idx.findings[0]
    assert idx.by_id("f-1") is idx.findings[0]
    assert idx.by_id("F-999") is None and idx.by_id("S-001") is None and idx.by_id("F-") is None


def test_ids_are_stable_across_rebuilds_and_discovery_order(bundle, engine, monkeypatch):
    first = build_index(bundle, year_hint=2026).model_dump(exclude={"built_seconds"})
    assert build_index(bundle, year_hint=2026).model_dump(exclude={"built_seconds"}) == first
    real = index_mod.bundle_files
    monkeypatch.setattr(index_mod, "bundle_files", lambda root: list(reversed(real(root))))
    again = build_index(bundle, year_hint=2026).model_dump(exclude={"built_seconds", "files_skipped"})
    first.pop("files_skipped")
    assert again == first


def test_engines_build_the_same_index(bundle, monkeypatch):
    if se.rg_binary() is None:
        pytest.skip("rg binary not installed")
    built = {}
    for name in ENGINES:
        monkeypatch.setenv(se.ENGINE_ENV, name)
        built[name] = build_index(bundle, year_hint=2026).model_dump(exclude={"built_seconds", "engine"})
    assert built["rg"] == built["re2"]


def test_dmesg_uptime_becomes_utc_via_the_human_snapshot(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    boot = datetime(2026, 7, 29, 0, 0, 0, tzinfo=UTC)
    assert idx.boot_time is not None and abs(idx.boot_time - boot) <= timedelta(seconds=1)
    assert "dmesg.human.current" in (idx.boot_time_source or "")
    (dm,) = of(idx, "conntrack-table-full", "kernel/dmesg.current")
    assert abs(dm.first_ts - (boot + timedelta(seconds=104235.156774))) <= timedelta(seconds=1)
    assert abs(dm.last_ts - (boot + timedelta(seconds=104250))) <= timedelta(seconds=1)
    assert dm.ts_note is None


def test_dmesg_uptime_without_boot_time_is_none_and_says_why(tmp_path, engine):
    root = make_bundle(tmp_path / "b", human=False)
    idx = build_index(root, year_hint=2026)
    (dm,) = of(idx, "conntrack-table-full", "kernel/dmesg.current")
    assert dm.first_ts is None and dm.last_ts is None
    assert "boot time unknown" in dm.ts_note
    assert idx.boot_time is None and any("boot time" in n for n in idx.notes)


def test_boot_time_from_a_syslog_line_with_uptime(tmp_path, engine):
    root = make_bundle(tmp_path / "b", human=False)
    write(root, "var_log/syslog",
          "Jul 30 14:02:11 host kernel: [104235.156774] nf_conntrack: table full, dropping packet\n")
    idx = build_index(root, year_hint=2026)
    expected = datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC) - timedelta(seconds=104235.156774)
    assert idx.boot_time is not None and abs(idx.boot_time - expected) < timedelta(seconds=1)
    (dm,) = of(idx, "conntrack-table-full", "kernel/dmesg.current")
    assert abs(dm.first_ts - datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)) < timedelta(seconds=1)


def test_syslog_times_need_a_year(bundle, engine):
    idx = build_index(bundle, year_hint=None)
    (msgs,) = of(idx, "conntrack-table-full", "var_log/messages")
    assert msgs.first_ts is None and "year" in msgs.ts_note
    (dns,) = of(idx, "dns-io-timeout")
    assert dns.first_ts is not None  # RFC3339 lines carry their year


def test_counter_findings_say_they_are_snapshots(bundle, engine):
    idx = build_index(bundle, year_hint=2026)
    for f in idx.findings:
        if f.source != "log":
            assert f.first_ts is None and "snapshot" in f.ts_note


def test_long_lines_are_bounded_and_line_numbers_stay_right(tmp_path, engine):
    root = tmp_path / "b"
    write(root, "var_log/messages", (
        "x" * (3 * 1024 * 1024) + " kernel: nf_conntrack: table full, dropping packet\n"
        "Jul 30 14:02:11 ip-10-0-12-34 kernel: nf_conntrack: table full, dropping packet\n"
        + "y" * 100_000 + "\n"
        "Jul 30 14:02:12 ip-10-0-12-34 kernel: nf_conntrack: table full, dropping packet\n"
    ))  # fmt: skip
    (f,) = of(build_index(root, year_hint=2026), "conntrack-table-full")
    # The match 3 MB into line 1 is past the classified head of the line: bounded work, not evidence.
    assert (f.count, f.lines) == (2, [2, 4])


def test_single_huge_line_without_newline(tmp_path, engine):
    root = tmp_path / "b"
    write(root, "var_log/messages", "Jul 30 14:02:11 h kernel: nf_conntrack: table full, dropping packet " + "z" * 3_000_000)
    (f,) = of(build_index(root, year_hint=2026), "conntrack-table-full")
    assert f.lines == [1] and len(f.sample) <= 300


def test_truncated_gzip_yields_its_head(tmp_path, engine):
    root = tmp_path / "b"
    (root / "var_log").mkdir(parents=True)
    body = "".join(f"Jul 29 01:00:{i % 60:02d} h kernel: nf_conntrack: table full, dropping packet {i}\n" for i in range(5000))
    packed = gzip.compress(body.encode())
    (root / "var_log" / "messages.2.gz").write_bytes(packed[: len(packed) // 2])
    (f,) = of(build_index(root, year_hint=2026), "conntrack-table-full")
    assert 0 < f.count < 5000 and f.line_start == 1


def test_crlf_and_invalid_utf8_lines(tmp_path, engine):
    root = tmp_path / "b"
    (root / "kubelet").mkdir(parents=True)
    (root / "kubelet" / "kubelet.log").write_bytes(
        b"Jul 30 14:02:11 h kubelet[1]: \xff\xfe PLEG is not healthy: pleg was last seen\r\nnext\r\n"
    )
    (f,) = of(build_index(root, year_hint=2026), "pleg-unhealthy")
    assert f.line_start == 1 and not f.sample.endswith("\r") and "\ufffd" in f.sample


def test_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        build_index(tmp_path / "nope")


# ------------------------------------------------------------------------------------------
# cache
# ------------------------------------------------------------------------------------------


def test_cache_is_reused_for_the_same_digest(bundle, tmp_path):
    cache = tmp_path / "cache"
    first = load_or_build(bundle, cache, "sha256:aaa", year_hint=2026)
    assert first.digest == "sha256:aaa" and (cache / CACHE_FILE).is_file()
    # Same digest: the cached index is returned even though the directory changed under it.
    write(bundle, "kubelet/kubelet.log", "Jul 30 14:05:00 h kubelet[1]: PLEG is not healthy\n")
    again = load_or_build(bundle, cache, "sha256:aaa", year_hint=2026)
    assert again.model_dump() == first.model_dump()
    assert not of(again, "pleg-unhealthy", "kubelet/kubelet.log")
    assert [p.name for p in cache.iterdir()] == [CACHE_FILE]  # no temp files left behind


def test_changed_digest_rebuilds(bundle, tmp_path):
    cache = tmp_path / "cache"
    load_or_build(bundle, cache, "sha256:aaa", year_hint=2026)
    write(bundle, "kubelet/kubelet.log", "Jul 30 14:05:00 h kubelet[1]: PLEG is not healthy\n")
    rebuilt = load_or_build(bundle, cache, "sha256:bbb", year_hint=2026)
    assert rebuilt.digest == "sha256:bbb"
    assert of(rebuilt, "pleg-unhealthy", "kubelet/kubelet.log")
    assert json.loads((cache / CACHE_FILE).read_text())["digest"] == "sha256:bbb"


def test_changed_catalog_version_or_year_rebuilds(bundle, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load_or_build(bundle, cache, "d1", year_hint=2026)
    monkeypatch.setattr(index_mod, "CATALOG_VERSION", CATALOG_VERSION + "-next")
    monkeypatch.setattr("tools.findings.index.build_index", _tagging(index_mod.build_index))
    assert load_or_build(bundle, cache, "d1", year_hint=2026).notes[-1] == "rebuilt"
    monkeypatch.undo()
    assert load_or_build(bundle, cache, "d1", year_hint=2026).notes[-1:] != ["rebuilt"]
    assert load_or_build(bundle, cache, "d1", year_hint=2025).year_hint == 2025


def _tagging(real):
    def build(root, **kwargs):
        idx = real(root, **kwargs)
        idx.notes.append("rebuilt")
        return idx

    return build


def test_corrupt_cache_is_rebuilt(bundle, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_FILE).write_text('{"index_version": 1, "findings": [')
    idx = load_or_build(bundle, cache, "d1", year_hint=2026)
    assert idx.findings and FindingsIndex.model_validate_json((cache / CACHE_FILE).read_text()).digest == "d1"


def test_cache_write_is_atomic(bundle, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load_or_build(bundle, cache, "d1", year_hint=2026)
    before = (cache / CACHE_FILE).read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        load_or_build(bundle, cache, "d2", year_hint=2026)
    assert (cache / CACHE_FILE).read_bytes() == before
    assert [p.name for p in cache.iterdir()] == [CACHE_FILE]
