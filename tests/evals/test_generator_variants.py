"""Kernel and log variants, rotation, omissions, truncation, tarballs, determinism, filler."""

from __future__ import annotations

import gzip
import re
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals.generator import BundleSpec, GeneratorError, write_bundle
from tests.evals import test_generator_support as h


def _one(tmp_path: Path, **fields: object) -> tuple[Path, object]:
    result = write_bundle(BundleSpec(**fields), tmp_path)
    return result.path, result.truth


def _stats_fields(root: Path) -> list[str]:
    line = next(x for x in h.complete_lines(h.read(root, "networking/conntrack.txt")) if x.startswith("cpu=0"))
    return [f.split("=")[0] for f in line.split("\t", 1)[1].split()]


@pytest.mark.parametrize(("kernel", "fields"), [
    ("al2-4.14", ["found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop", "error",
                  "search_restart"]),
    ("al2-5.10", ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart"]),
    ("al2023-6.1", ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart",
                    "clash_resolve", "chaintoolong"]),
    ("al2023-6.12", ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart",
                     "clash_resolve", "chaintoolong"]),
])
def test_conntrack_stats_per_kernel(tmp_path: Path, kernel: str, fields: list[str]) -> None:
    root, _ = _one(tmp_path, scenario="kernel_table_full", kernel=kernel, instance_type="m5.xlarge")
    text = h.read(root, "networking/conntrack.txt")
    assert text.startswith("*** Output of conntrack -S *** \ncpu=0   \t")
    assert _stats_fields(root) == fields
    assert len(h.conntrack_stats(root)) == 4  # one line per vCPU of an m5.xlarge
    assert all(line.endswith(" ") for line in h.complete_lines(text) if line.startswith("cpu="))
    dmesg = h.read(root, "kernel/dmesg.current")
    assert "nf_conntrack: nf_conntrack: table full, dropping packet" in dmesg
    assert re.search(r"^\[\d{6}\.\d{6}\] net_ratelimit: \d+ callbacks suppressed$", dmesg, re.M)
    iface = "eth0" if kernel.startswith("al2-") else "ens5"
    assert iface in h.ethtool(root)
    assert ("dmesg.boot" in " ".join(h.files(root))) == kernel.startswith("al2-")
    assert (root / "var_log/messages").exists() == kernel.startswith("al2-")


@pytest.mark.parametrize(("kernel", "itype", "expected"), [
    ("al2-5.10", "m5.large", (131072, 65536)),
    ("al2023-6.1", "m5.large", (131072, 262144)),
    ("al2-5.10", "m5.4xlarge", (524288, 131072)),
    ("al2023-6.12", "m5.4xlarge", (524288, 262144)),
    ("al2-4.14", "t3.medium", (131072, 32768)),
])
def test_table_size_follows_kernel_defaults_and_kube_proxy(tmp_path: Path, kernel: str, itype: str,
                                                           expected: tuple[int, int]) -> None:
    root, truth = _one(tmp_path, scenario="healthy", kernel=kernel, instance_type=itype)
    assert (truth.conntrack_max, truth.conntrack_buckets) == expected
    assert truth.kube_proxy_conntrack_max == expected[0]
    assert f"net.nf_conntrack_max = {expected[0]}\n" in h.read(root, "sysctls/sysctl_all.txt")


def test_unknown_instance_type_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown instance_type 'x9\.huge'"):
        write_bundle(BundleSpec(scenario="healthy", instance_type="x9.huge"), tmp_path)


def test_ena_counter_order_and_other_interfaces(tmp_path: Path) -> None:
    root, _ = _one(tmp_path, scenario="healthy", kernel="al2023-6.1")
    text = h.read(root, "networking/ethtool.txt")
    block = text.split("Interface ens5\n", 1)[1].split("\n\n\n", 1)[0].split("\n")
    names = [line.strip().split(":")[0] for line in block[1:]]
    assert block[0] == "NIC statistics:"
    allowance = ["bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded",
                 "conntrack_allowance_exceeded", "linklocal_allowance_exceeded", "conntrack_allowance_available"]
    start = names.index("bw_in_allowance_exceeded")
    assert names[start:start + 6] == allowance
    assert names[0] == "total_resets" and names[start + 6] == "queue_0_tx_cnt" and names[-1] == "ena_admin_q_no_completion"
    assert "Interface lo\nno stats available\n\n\n" in text
    interfaces = re.findall(r"^Interface (\S+)$", text, re.M)
    assert interfaces == sorted(interfaces)
    assert any(i.startswith("eni") and len(i) == 14 for i in interfaces)


def test_old_ena_driver_has_no_available_counter(tmp_path: Path) -> None:
    _, truth = _one(tmp_path, scenario="allowance_exceeded", kernel="al2-4.14")
    assert truth.conntrack_available == {}
    assert truth.allowance_exceeded["eth0"]["conntrack_allowance_exceeded"] > 0


def test_netns_message_and_printk_caller(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="kernel_table_full", kernel="al2023-6.12", netns_message=True,
                       printk_caller=True, table_full_lines=40)
    lines = [x for x in h.complete_lines(h.read(root, "kernel/dmesg.current")) if "table full" in x]
    assert len(lines) == 40 == truth.table_full_lines // 2
    assert all(re.match(r"^\[\d+\.\d{6}\]\[ {3,4}C\d+\] nf_conntrack: nf_conntrack: table full", x) for x in lines)
    assert any(re.search(r"table full in netns \d{10}, dropping packet$", x) for x in lines)
    human = [x for x in h.complete_lines(h.read(root, "kernel/dmesg.human.current")) if "table full" in x]
    assert all(re.match(r"^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d 2026\]\[ +C\d+\] ", x) for x in human)


def test_messages_only_variant(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="kernel_table_full", kernel="al2023-6.1", kernel_log="messages_only")
    assert "table full" not in h.read(root, "kernel/dmesg.current")
    messages = h.read(root, "var_log/messages")
    in_messages = [x for x in h.complete_lines(messages) if " kernel: nf_conntrack: nf_conntrack: table full" in x]
    assert in_messages and truth.table_full_lines == len(in_messages)
    assert truth.labels == ["kernel_conntrack"]
    assert re.match(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ip-[\d-]+ kernel: ", in_messages[0])


def test_dmesg_only_variant_on_al2_has_no_messages(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="kernel_table_full", kernel="al2-5.10", kernel_log="dmesg")
    assert not (root / "var_log/messages").exists()
    assert truth.table_full_lines == 2 * len([x for x in h.complete_lines(h.read(root, "kernel/dmesg.current"))
                                              if "table full" in x])


def test_rotated_logs(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="both", kernel="al2-5.10", rotated=True)
    names = h.files(root)
    assert "var_log/messages.1" in names
    rotated = [n for n in names if re.search(r"/kube-proxy/0\.log\.\d{8}-\d{6}\.gz$", n)]
    assert len(rotated) == 1
    assert any(re.search(r"/kube-proxy/0\.log\.\d{8}-\d{6}$", n) for n in names)
    # kube-proxy logged its conntrack setting at start-up: only the compressed file still has it.
    assert '"Setting nf_conntrack_max"' in h.read(root, rotated[0])
    assert '"Setting nf_conntrack_max"' not in h.read(root, rotated[0].rsplit("/", 1)[0] + "/0.log")
    assert truth.kube_proxy_conntrack_max == truth.conntrack_max
    assert (root / rotated[0]).read_bytes()[:2] == b"\x1f\x8b"
    assert truth.table_full_lines == h.table_full_lines(root)


def test_missing_files_and_folders(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="allowance_exceeded", kernel="al2023-6.1",
                       missing=["sysctls/sysctl_all.txt", "networking/ethtool.txt", "kernel"])
    names = h.files(root)
    assert "sysctls/sysctl_all.txt" not in names and "networking/ethtool.txt" not in names
    assert not (root / "kernel").exists() and (root / "sysctls").is_dir()
    assert truth.conntrack_count is None and truth.conntrack_max is None and truth.conntrack_buckets is None
    assert truth.allowance_exceeded == {} and truth.labels == []  # the evidence is gone with the file
    assert truth.missing == ["kernel", "networking/ethtool.txt", "sysctls/sysctl_all.txt"]


def test_unknown_missing_path_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match=r"sysctls/sysctl_al\.txt.*did you mean sysctls/sysctl_all\.txt"):
        write_bundle(BundleSpec(scenario="healthy", missing=["sysctls/sysctl_al.txt"]), tmp_path)
    with pytest.raises(GeneratorError, match="truncate"):
        write_bundle(BundleSpec(scenario="healthy", truncate=["kernel/nope"]), tmp_path)


def test_truncated_files_are_cut_mid_line(tmp_path: Path) -> None:
    full_root, full = _one(tmp_path / "full", scenario="kernel_table_full", kernel="al2-5.10")
    root, truth = _one(tmp_path / "cut", scenario="kernel_table_full", kernel="al2-5.10",
                       truncate=["sysctls/sysctl_all.txt", "kernel/dmesg.current", "var_log/messages"])
    for rel in ("sysctls/sysctl_all.txt", "kernel/dmesg.current", "var_log/messages"):
        data, original = (root / rel).read_bytes(), (full_root / rel).read_bytes()
        assert original.startswith(data) and not data.endswith(b"\n")
        assert abs(len(data) - len(original) // 2) < 400
        assert not original[len(data):].startswith(b"\n")
    # nf_conntrack_* keys sort late in the dump: cut off, so not in the truth.
    assert truth.conntrack_count is None and full.conntrack_count is not None
    assert truth.table_full_lines == h.table_full_lines(root) < full.table_full_lines
    assert truth.truncated == ["kernel/dmesg.current", "sysctls/sysctl_all.txt", "var_log/messages"]


def test_truncated_gzip_member(tmp_path: Path) -> None:
    probe = write_bundle(BundleSpec(scenario="healthy", kernel="al2023-6.1", rotated=True), tmp_path / "probe")
    gz = next(n for n in h.files(probe.path) if n.endswith(".gz") and "/kube-proxy/" in n)
    result = write_bundle(BundleSpec(scenario="healthy", kernel="al2023-6.1", rotated=True, truncate=[gz]),
                          tmp_path / "cut")
    data = (result.path / gz).read_bytes()
    assert 0 < len(data) < (probe.path / gz).stat().st_size
    assert data[:2] == b"\x1f\x8b"
    assert result.truth.truncated == [gz]


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    spec = BundleSpec(scenario="both", kernel="al2-4.14", seed=11, rotated=True, red_herrings=True)
    a = write_bundle(spec, tmp_path / "a").path
    b = write_bundle(spec, tmp_path / "b").path
    assert h.files(a) == h.files(b)
    for rel in h.files(a):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = write_bundle(spec.model_copy(update={"seed": 12}), tmp_path / "c").path
    assert (a / "networking/conntrack.txt").read_bytes() != (c / "networking/conntrack.txt").read_bytes()
    t1 = write_bundle(spec, tmp_path / "t1", "tar.gz").path
    t2 = write_bundle(spec, tmp_path / "t2", "tar.gz").path
    assert t1.read_bytes() == t2.read_bytes()


def test_tarball_layout(tmp_path: Path) -> None:
    dir_result = write_bundle(BundleSpec(scenario="kernel_table_full"), tmp_path / "dir")
    result = write_bundle(BundleSpec(scenario="kernel_table_full"), tmp_path / "tar", "tar.gz")
    assert re.fullmatch(r"eks_i-0abc123def4567890_2026-07-30_\d{4}-UTC_0\.7\.9\.tar\.gz", result.path.name)
    assert result.path.name == dir_result.path.name + ".tar.gz"
    assert result.truth == dir_result.truth and result.archive_bytes == result.path.stat().st_size
    with tarfile.open(result.path, "r:gz") as archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        # tarfile shows the root as "."; on disk the first header is GNU tar's "./".
        assert names[0] == "." and all(n.startswith("./") for n in names[1:])
        assert gzip.decompress(result.path.read_bytes())[:3] == b"./\x00"
        assert "./kernel/dmesg.current" in names and "./gpu" in names  # empty folders are kept
        regular = {m.name[2:]: m for m in members if m.isfile()}
        assert sorted(regular) == h.files(dir_result.path)
        for rel in ("networking/conntrack.txt", "sysctls/sysctl_all.txt", "kubelet/kubelet.log"):
            extracted = archive.extractfile(regular[rel])
            assert extracted is not None
            assert extracted.read() == (dir_result.path / rel).read_bytes()
    assert result.bytes == dir_result.bytes and result.files == dir_result.files


def test_existing_destination_needs_overwrite(tmp_path: Path) -> None:
    spec = BundleSpec(scenario="healthy")
    write_bundle(spec, tmp_path)
    with pytest.raises(GeneratorError, match="already exists"):
        write_bundle(spec, tmp_path)
    assert write_bundle(spec, tmp_path, overwrite=True).path.is_dir()


def test_filler_adds_exact_benign_volume(tmp_path: Path) -> None:
    base = write_bundle(BundleSpec(scenario="kernel_table_full", kernel="al2-5.10"), tmp_path / "base")
    big = write_bundle(BundleSpec(scenario="kernel_table_full", kernel="al2-5.10", filler_mb=2), tmp_path / "big")
    assert big.bytes - base.bytes == 2_000_000
    assert big.truth == base.truth
    kubelet = h.complete_lines(h.read(big.path, "kubelet/kubelet.log"))
    assert len(kubelet) > 3000
    stamps = [line[:15] for line in kubelet if not line.startswith("--")]
    assert stamps == sorted(stamps, key=lambda s: (s[4:6].strip().zfill(2), s[7:]))


def test_listing_is_bounded_unless_full(tmp_path: Path) -> None:
    _, truth = _one(tmp_path / "a", scenario="kernel_table_full", listing_limit=300)
    assert truth.listing_entries == 300 and truth.conntrack_count > 100_000
    _, healthy = _one(tmp_path / "b", scenario="healthy", full_table_listing=True)
    assert healthy.listing_entries == healthy.conntrack_count


def test_kubeconfig_names_cluster_and_endpoint(tmp_path: Path) -> None:
    for kernel in ("al2-5.10", "al2023-6.1"):
        root, _ = _one(tmp_path / kernel, scenario="healthy", kernel=kernel, cluster="payments-prod",
                       region="eu-west-1", az="eu-west-1b")
        text = h.read(root, "kubelet/kubeconfig.yaml")
        assert re.search(r"server: https://[0-9A-F]{32}\.gr7\.eu-west-1\.eks\.amazonaws\.com\n", text)
        assert '"payments-prod"' in text
        assert h.read(root, "system/availability-zone.txt") == "eu-west-1b\n"
        assert ".eu-west-1.compute.internal" in h.read(root, "kernel/uname.txt")


@pytest.mark.parametrize("fields", [
    {"scenario": "healthy", "surprise": 1},
    {"scenario": "healthy", "incident_time": "2026-07-30T14:02:11"},
    {"scenario": "healthy", "table_full_lines": 5},
    {"scenario": "healthy", "instance_id": "i-xyz"},
    {"scenario": "healthy", "az": "us-west-2a"},
    {"scenario": "healthy", "missing": ["../etc/passwd"]},
])
def test_spec_validation(fields: dict) -> None:
    with pytest.raises(ValidationError):
        BundleSpec(**fields)


def test_kernel_overflow_without_printed_lines_is_still_labelled_from_counters(tmp_path: Path) -> None:
    root, truth = _one(tmp_path, scenario="kernel_table_full", table_full_lines=0)
    assert truth.table_full_lines == 0 == h.table_full_lines(root)
    assert sum(row["drop"] for row in h.conntrack_stats(root)) > 0
    assert truth.labels == ["kernel_conntrack"]
