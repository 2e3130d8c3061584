"""Every scenario writes a bundle whose files agree with its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from evals.generator import BundleSpec, GeneratedBundle, write_bundle
from evals.generator.files import COMMON_DIRECTORIES
from tests.evals import test_generator_support as h

CASES = [
    ("kernel_table_full", "al2-4.14"),
    ("kernel_table_full", "al2023-6.12"),
    ("allowance_exceeded", "al2-5.10"),
    ("allowance_exceeded", "al2023-6.1"),
    ("both", "al2023-6.1"),
    ("healthy", "al2-5.10"),
    ("near_full", "al2023-6.12"),
    ("linklocal_dns", "al2-4.14"),
    ("red_herring", "al2023-6.1"),
]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], GeneratedBundle]:
    out = {}
    for scenario, kernel in CASES:
        dest = tmp_path_factory.mktemp(f"{scenario}-{kernel}")
        out[(scenario, kernel)] = write_bundle(BundleSpec(scenario=scenario, kernel=kernel, seed=7), dest)
    return out


@pytest.mark.parametrize(("scenario", "kernel"), CASES)
def test_truth_matches_files(bundles: dict, scenario: str, kernel: str) -> None:
    result = bundles[(scenario, kernel)]
    root, truth = result.path, result.truth
    for directory in COMMON_DIRECTORIES:
        assert (root / directory).is_dir(), directory
    values = h.sysctl(root)
    assert (truth.conntrack_count, truth.conntrack_max, truth.conntrack_buckets) == (
        values["count"], values["max"], values["buckets"])
    assert truth.table_full_lines == h.table_full_lines(root)
    counters = h.ethtool(root)
    exceeded = {iface: {k: v for k, v in c.items() if k.endswith("_allowance_exceeded") and v > 0}
                for iface, c in counters.items()}
    assert truth.allowance_exceeded == {iface: c for iface, c in exceeded.items() if c}
    assert truth.conntrack_available == {iface: c["conntrack_allowance_available"] for iface, c in counters.items()
                                         if "conntrack_allowance_available" in c}
    assert truth.dns_errors == h.dns_error_lines(root)
    assert h.kube_proxy_max(root) == {truth.kube_proxy_conntrack_max}
    stats = h.conntrack_stats(root)
    assert truth.stats_drop == sum(row["drop"] for row in stats)
    assert (root / "system/instance-id.txt").read_text() == "i-0abc123def4567890\n"
    assert truth.kernel_release in (root / "kernel/uname.txt").read_text()
    assert result.files == len(h.files(root))
    assert result.bytes == sum((root / f).stat().st_size for f in h.files(root))


@pytest.mark.parametrize(("scenario", "kernel"), CASES)
def test_scenario_semantics(bundles: dict, scenario: str, kernel: str) -> None:
    result = bundles[(scenario, kernel)]
    truth, root = result.truth, result.path
    stats = h.conntrack_stats(root)
    drops = sum(row["drop"] for row in stats)
    assert truth.conntrack_count is not None and truth.conntrack_max is not None
    utilization = truth.conntrack_count / truth.conntrack_max
    aws = any(c.get("conntrack_allowance_exceeded", 0) > 0 for c in truth.allowance_exceeded.values())
    expected = {
        "kernel_table_full": ["kernel_conntrack"], "allowance_exceeded": ["aws_instance_limit"],
        "both": ["kernel_conntrack", "aws_instance_limit"],
    }.get(scenario, [])
    assert truth.labels == expected
    if "kernel_conntrack" in expected:
        assert utilization >= 0.999 and truth.table_full_lines > 0 and drops > truth.table_full_lines
        assert truth.dns_errors > 0 and truth.connection_errors > 0
    else:
        assert truth.table_full_lines == 0 and drops == 0
    assert aws == (scenario in ("allowance_exceeded", "both"))
    if scenario == "allowance_exceeded":
        assert utilization < 0.5 and truth.connection_errors > 0
        if truth.conntrack_available:
            assert max(truth.conntrack_available.values()) < 1000
    if scenario == "near_full":
        assert 0.85 <= utilization < 0.96
    if scenario in ("healthy", "red_herring", "linklocal_dns"):
        assert utilization < 0.25 and truth.connection_errors == 0
    if scenario == "linklocal_dns":
        assert any(c.get("linklocal_allowance_exceeded", 0) > 0 for c in truth.allowance_exceeded.values())
        coredns = [f for f in h.files(root) if f.startswith("var_log/coredns-")]
        text = h.read(root, coredns[0])
        resolver = truth_resolver(root)
        assert f"->{resolver}:53: i/o timeout" in text
    # Every bundle says `conntrack_allowance_exceeded: 0` somewhere unless that ENI exceeded.
    ethtool_text = h.read(root, "networking/ethtool.txt")
    assert "     conntrack_allowance_exceeded: " in ethtool_text


def truth_resolver(root: Path) -> str:
    """The VPC resolver is the VPC base + 2; read the VPC CIDR from the CNI's SNAT exclusion rule."""
    for line in h.complete_lines(h.read(root, "networking/iptables-save.txt")):
        if line.startswith("-A AWS-SNAT-CHAIN-0 -d "):
            base = line.split()[3].split("/")[0]
            return base.rsplit(".", 1)[0] + ".2"
    raise AssertionError("no VPC CIDR in iptables-save")


def test_red_herrings_contain_query_words_but_are_not_evidence(bundles: dict) -> None:
    result = bundles[("red_herring", "al2023-6.1")]
    root, truth = result.path, result.truth
    assert truth.labels == [] and truth.table_full_lines == 0
    output = h.read(root, "var_log/cloud-init-output.log")
    assert "nf_conntrack: table full, dropping packet" in output
    assert "grep -c 'nf_conntrack: table full'" in output
    assert "nf_conntrack_max = 1048576" in output  # an unapplied drop-in, not the live value
    assert truth.conntrack_max != 1048576
    assert "routing table full, retrying" in h.read(root, "kubelet/kubelet.log")
    assert truth.red_herring_lines >= 4
    counters = h.ethtool(root)
    assert all(c.get("conntrack_allowance_exceeded", 0) == 0 for c in counters.values())
    assert any(c.get("bw_in_allowance_exceeded", 0) > 0 for c in counters.values())


def test_secondary_eni_allowance(tmp_path: Path) -> None:
    spec = BundleSpec(scenario="allowance_exceeded", kernel="al2023-6.1", allowance_eni="secondary")
    truth = write_bundle(spec, tmp_path).truth
    assert list(truth.allowance_exceeded) == ["ens6"]
    assert truth.allowance_exceeded["ens6"]["conntrack_allowance_exceeded"] > 0
    primary = h.ethtool(next(tmp_path.iterdir()))["ens5"]
    assert primary["conntrack_allowance_exceeded"] == 0


def test_kube_proxy_value_matches_sysctl_and_timestamps_agree(bundles: dict) -> None:
    for result in bundles.values():
        assert result.truth.kube_proxy_conntrack_max == result.truth.conntrack_max
    root = bundles[("kernel_table_full", "al2023-6.12")].path
    btime = next(int(line.split()[1]) for line in h.complete_lines(h.read(root, "system/procstat.txt"))
                 if line.startswith("btime "))
    raw = [line for line in h.complete_lines(h.read(root, "kernel/dmesg.current")) if "table full" in line]
    human = [line for line in h.complete_lines(h.read(root, "kernel/dmesg.human.current")) if "table full" in line]
    uptime = float(raw[0][1:raw[0].index("]")])
    stamp = datetime.strptime(human[0][1:25], "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    assert abs(btime + uptime - stamp.timestamp()) < 2
    incident = bundles[("kernel_table_full", "al2023-6.12")].truth.incident_time
    assert stamp == incident.replace(microsecond=0)
