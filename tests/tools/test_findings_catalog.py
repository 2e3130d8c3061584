import subprocess

import pytest
import re2

import tools.findings.catalog as catalog
from tools.findings.catalog import (
    CATALOG_VERSION,
    PATTERNS,
    classify_line,
    get_pattern,
    line_patterns,
    line_patterns_for,
    pattern_matches,
)
from tools.findings.model import CATEGORIES
from tools.search_engine import rg_binary

DMESG = "kernel/dmesg.current"
DMESG_HUMAN = "kernel/dmesg.human.current"
MESSAGES = "var_log/messages"
SYSLOG = "var_log/syslog"
KUBELET = "kubelet/kubelet.log"
COREDNS = "var_log/coredns-5d8f7b9c6d-abcde_kube-system_coredns-0123456789abcdef.log"
APP = "var_log/containers/orders-7f9c_default_orders-0123abcd.log"
IPAMD = "var_log/aws-routed-eni/ipamd.log"
KUBE_PROXY = "var_log/kube-proxy-x7k2p_kube-system_kube-proxy-0123456789abcdef.log"
NMA = "var_log/kube-system_eks-node-monitoring-agent-abcde_0123/eks-node-monitoring-agent/0.log"
CONTAINERD = "containerd/containerd-log.txt"

# (pattern id, bundle file, realistic line) — formats from the reference notes and real logs.
POSITIVES = [
    ("conntrack-table-full", DMESG, "[104235.156774] nf_conntrack: nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", DMESG, "[ 3321.201144] nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", "kernel/dmesg.boot", "[   32.298491][  T896] ip_conntrack: table full, dropping packet"),
    ("conntrack-table-full", DMESG,
     "[104235.156774] nf_conntrack: nf_conntrack: table full in netns 4026532412, dropping packet"),
    ("conntrack-table-full", DMESG_HUMAN,
     "[Wed Jul 30 14:02:11 2026] nf_conntrack: nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", MESSAGES,
     "Jul 30 14:02:11 ip-10-0-12-34 kernel: nf_conntrack: nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", "var_log/messages.2.gz",
     "Jul 29 03:00:00 ip-10-0-12-34 kernel: nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", SYSLOG,
     "Feb 23 16:44:36 host kernel: [38775494.393661] nf_conntrack: table full, dropping packet"),
    ("conntrack-table-full", "var_log/kern.log", "Feb 23 16:44:36 host kernel: nf_conntrack: table full, dropping packet"),
    ("net-ratelimit", DMESG, "[104243.800401] net_ratelimit: 3939 callbacks suppressed"),
    ("net-ratelimit", MESSAGES, "Jul 30 14:02:19 ip-10-0-12-34 kernel: net_ratelimit: 12 callbacks suppressed"),
    ("nma-conntrack-exceeded-kernel", NMA,
     '{"level":"info","ts":"2026-07-30T14:02:12Z","msg":"event","reason":"ConntrackExceededKernel",'
     '"message":"Connection tracking exceeded the maximum for the kernel"}'),
    ("nma-conntrack-exceeded", NMA,
     '{"level":"info","ts":"2026-07-30T14:02:12Z","msg":"event","reason":"ConntrackExceeded",'
     '"message":"conntrack_allowance_exceeded increased on interface \\"ens5\\" from 0 to 1234"}'),
    ("nma-allowance-exceeded", NMA, '{"level":"info","msg":"event","reason":"LinkLocalExceeded"}'),
    ("dns-io-timeout", COREDNS,
     "[ERROR] plugin/errors: 2 api.example.com. A: read udp 10.0.13.9:41234->10.0.0.2:53: i/o timeout"),
    ("dns-io-timeout", COREDNS,
     "[ERROR] plugin/errors: 2 mydb.cluster-xyz.us-west-2.rds.amazonaws.com. AAAA: dial tcp 10.0.0.2:53: i/o timeout"),
    ("dns-io-timeout", APP, "dial udp 172.20.0.10:53: i/o timeout"),
    ("dns-io-timeout", APP,
     "lookup orders.default.svc.cluster.local on 172.20.0.10:53: read udp 10.0.12.77:45678->172.20.0.10:53: i/o timeout"),
    ("dns-eai-again", APP, "Error: getaddrinfo EAI_AGAIN api.example.com"),
    ("dns-eai-again", APP, "java.net.UnknownHostException: api.example.com: Temporary failure in name resolution"),
    ("dns-no-such-host", APP, "lookup api.example.com on 172.20.0.10:53: no such host"),
    ("dns-servfail", APP, "lookup api.example.com on 172.20.0.10:53: server misbehaving"),
    ("oom-kill", DMESG,
     "[ 5123.456789] Out of memory: Killed process 4242 (java) total-vm:8123456kB, anon-rss:4012345kB, file-rss:0kB"),
    ("oom-kill", MESSAGES,
     "Jul 30 14:01:00 ip-10-0-12-34 kernel: Memory cgroup out of memory: Killed process 977 (node) total-vm:1kB"),
    ("oom-invoked", DMESG,
     "[ 5123.456700] java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=936"),
    ("container-oomkilled", KUBELET,
     'Jul 30 14:01:02 ip-10-0-12-34 kubelet[3456]: I0730 14:01:02.1 3456 kuberuntime_container.go:700] '
     '"Container exited" reason="OOMKilled" pod="default/orders-7f9c"'),
    ("ipamd-insufficient-addresses", IPAMD,
     '{"level":"error","ts":"2026-07-30T14:00:00.000Z","caller":"ipamd/ipamd.go:880","msg":"Failed to increase pool '
     'size due to not able to allocate ENI AllocENI: error creating network interface: '
     'InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses"}'),
    ("ipamd-no-available-ip", IPAMD,
     '{"level":"error","msg":"AssignPodIPv4Address: no available IP/Prefix addresses"}'),
    ("ipamd-assign-failed", KUBELET,
     'Jul 30 14:02:00 ip-10-0-12-34 kubelet[3456]: E0730 "CreatePodSandbox failed" err="plugin type=\\"aws-cni\\" '
     'failed (add): add cmd: failed to assign an IP address to container"'),
    ("cni-network-not-ready", KUBELET,
     'Jul 30 14:02:00 ip-10-0-12-34 kubelet[3456]: E0730 "Container runtime network not ready" '
     'networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: '
     'cni plugin not initialized"'),
    ("kube-proxy-iptables-restore", KUBE_PROXY,
     '2026-07-30T14:02:13.000000000Z stderr F E0730 14:02:13.000000 1 proxier.go:1512] '
     '"Failed to execute iptables-restore" err="exit status 1: iptables-restore: line 1234 failed"'),
    ("kube-proxy-iptables-restore", "var_log/kube-proxy.log",
     "E0730 14:02:13.000000 1 proxier.go:1512] iptables-restore failed"),
    ("pleg-unhealthy", KUBELET,
     'Jul 30 14:02:11 ip-10-0-12-34 kubelet[3456]: E0730 14:02:11.1 3456 kubelet.go:2386] "Skipping pod '
     'synchronization" err="PLEG is not healthy: pleg was last seen active 3m0.5s ago; threshold is 3m0s"'),
    ("kubelet-not-ready", KUBELET,
     'Jul 30 14:03:00 ip-10-0-12-34 kubelet[3456]: I0730 14:03:00.0 3456 setters.go:552] "Node became not ready" '
     'node="ip-10-0-12-34.ec2.internal"'),
    ("kubelet-not-ready", KUBELET,
     "Jul 30 14:03:00 ip-10-0-12-34 kubelet[3456]: Node ip-10-0-12-34 status is now: NodeNotReady"),
    ("disk-pressure", KUBELET,
     'Jul 30 14:03:00 ip-10-0-12-34 kubelet[3456]: I0730 "Recording event message for node" '
     'node="ip-10-0-12-34" event="NodeHasDiskPressure"'),
    ("eviction-reclaim-disk", KUBELET,
     'Jul 30 14:03:01 ip-10-0-12-34 kubelet[3456]: I0730 14:03:01.0 3456 eviction_manager.go:349] '
     '"Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"'),
    ("eviction-reclaim-disk", KUBELET,
     "Jul 30 14:03:01 ip-10-0-12-34 kubelet[3456]: I0730 eviction_manager.go:346] eviction manager: "
     "attempting to reclaim inodes"),
    ("no-space-left", CONTAINERD,
     'Jul 30 14:03:02 ip-10-0-12-34 containerd[1234]: time="2026-07-30T14:03:02Z" level=error msg="failed to '
     'write" error="write /var/lib/containerd/tmp: no space left on device"'),
    ("x509-expired", KUBELET,
     'Jul 30 14:03:03 ip-10-0-12-34 kubelet[3456]: E0730 "Unable to register node with API server" '
     'err="Post \\"https://ABC.gr7.us-west-2.eks.amazonaws.com/api/v1/nodes\\": x509: certificate has expired or is '
     'not yet valid: current time 2026-07-30T14:03:03Z is after 2026-07-01T00:00:00Z"'),
    ("x509-unknown-authority", KUBELET,
     'Jul 30 14:03:03 ip-10-0-12-34 kubelet[3456]: E0730 "Failed" err="x509: certificate signed by unknown authority"'),
    ("kernel-panic", DMESG, "[ 9999.000001] Kernel panic - not syncing: Fatal exception in interrupt"),
    ("soft-lockup", DMESG, "[ 8000.123456] watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [java:4242]"),
    ("hung-task", MESSAGES,
     "Jul 30 14:04:00 ip-10-0-12-34 kernel: INFO: task jbd2/nvme0n1p1:412 blocked for more than 120 seconds."),
]

# Lines that mention the words but are not the event (or not from the kernel): never findings.
RED_HERRINGS = [
    (APP, "2026-07-30T14:02:11Z ERROR routing table full, cannot add route to 10.0.0.0/16"),
    (MESSAGES, "Jul 30 14:02:11 ip-10-0-12-34 routed[77]: routing table full"),
    (APP, 'WARN upstream said "nf_conntrack: table full, dropping packet" — retrying'),
    (KUBELET, 'Jul 30 14:02:11 ip-10-0-12-34 kubelet[3456]: I0730 log "nf_conntrack: table full, dropping packet"'),
    (MESSAGES, "Jul 30 14:02:11 ip-10-0-12-34 myapp[123]: saw nf_conntrack: table full, dropping packet earlier"),
    (DMESG, "[  100.000000] systemd[1]: echo nf_conntrack: table full, dropping packet"),
    (APP, "conntrack_allowance_exceeded: 0"),
    (APP, "dashboard: conntrack_allowance_exceeded metric is healthy"),
    (KUBE_PROXY, 'I0730 09:01:12.345678 1 conntrack.go:60] "Setting nf_conntrack_max" nfConntrackMax=262144'),
    (APP, "dial tcp 10.0.45.6:443: i/o timeout"),
    (KUBELET, 'Jul 30 14:03:00 ip-10-0-12-34 kubelet[3456]: I0730 event="NodeHasNoDiskPressure"'),
    (KUBELET, 'Jul 30 14:03:00 ip-10-0-12-34 kubelet[3456]: I0730 condition DiskPressure False'),
    (KUBELET, 'Jul 30 14:03:01 kubelet[3456]: "Eviction manager: attempting to reclaim" resourceName="memory"'),
    (APP, "pod evicted after OOM in a previous job; Out of memory: Killed process 12 (x) quoted by app"),
    (NMA, '{"level":"info","msg":"event","reason":"ConntrackExceededKernel"}'),  # not the EC2 allowance one
    (IPAMD, '{"level":"info","msg":"Successfully assigned an IP address to pod"}'),
]


@pytest.mark.parametrize("pattern_id, rel, line", POSITIVES)
def test_realistic_line_is_recognised(pattern_id, rel, line):
    assert pattern_id in [p.id for p in classify_line(rel, line)]
    assert pattern_matches(pattern_id, line)


def test_every_line_pattern_has_a_realistic_example():
    assert {pid for pid, _, _ in POSITIVES} == {p.id for p in line_patterns()}


def test_every_category_in_use_is_covered_and_in_the_vocabulary():
    used = {p.category for p in PATTERNS}
    assert used <= set(CATEGORIES)
    covered = {get_pattern(pid).category for pid, _, _ in POSITIVES}
    counter_categories = {p.category for p in PATTERNS if p.kind != "line"}  # exercised in the index tests
    assert used == covered | counter_categories
    for required in (
        "conntrack_table_full", "ena_allowance", "dns", "oom", "ip_exhaustion", "kube_proxy", "pleg",
        "disk_pressure", "certificate", "kernel",
    ):
        assert required in covered, required


@pytest.mark.parametrize("rel, line", RED_HERRINGS)
def test_red_herrings_are_not_findings_of_their_kind(rel, line):
    ids = {p.id for p in classify_line(rel, line)}
    assert "conntrack-table-full" not in ids
    assert not ids & {"nma-conntrack-exceeded", "disk-pressure", "eviction-reclaim-disk", "dns-io-timeout", "oom-kill",
                      "ipamd-assign-failed"}


def test_kernel_patterns_apply_only_to_kernel_sources():
    assert {p.id for p in line_patterns_for("kernel/dmesg.current")} >= {"conntrack-table-full", "oom-kill"}
    for rel in ("var_log/messages", "var_log/messages.1", "var_log/messages.2.gz", "var_log/syslog.1",
                "kernel/dmesg.human.current", "kernel/dmesg.boot", "var_log/kern.log"):
        assert get_pattern("conntrack-table-full").applies_to(rel), rel
    for rel in (APP, KUBELET, COREDNS, "var_log/cloud-init-output.log", "networking/iptables-save.txt"):
        assert not get_pattern("conntrack-table-full").applies_to(rel), rel


def test_parser_owned_files_are_not_line_matched():
    for rel in ("networking/ethtool.txt", "sysctls/sysctl_all.txt", "networking/conntrack.txt"):
        assert line_patterns_for(rel) == ()
        assert classify_line(rel, "conntrack_allowance_exceeded: 5") == []


def test_counter_patterns_are_never_text_matches():
    assert not pattern_matches("ena-conntrack-allowance-exceeded", "conntrack_allowance_exceeded: 1234")
    assert not pattern_matches("conntrack-near-capacity", "net.netfilter.nf_conntrack_count = 262144")
    assert not pattern_matches("no-such-pattern", "anything")


def test_severities_of_the_conntrack_signals():
    assert get_pattern("conntrack-table-full").severity == "CRITICAL"
    assert get_pattern("ena-conntrack-allowance-exceeded").severity == "CRITICAL"
    for counter in ("linklocal", "pps", "bw-in", "bw-out"):
        assert get_pattern(f"ena-{counter}-allowance-exceeded").severity == "HIGH"
    near = get_pattern("conntrack-near-capacity")
    assert near.severity == "WARNING" and near.category == "kernel"
    assert near.title == "conntrack table near capacity (count/max)"
    assert get_pattern("net-ratelimit").severity == "INFO"
    assert get_pattern("dns-no-such-host").severity == "WARNING"


def test_every_regex_compiles_on_re2_and_its_prefilter_is_implied():
    for p in line_patterns():
        full = re2.compile(p.regex)
        pre = re2.compile(p.search_regex)
        for _, _, line in POSITIVES:
            if full.search(line):
                assert pre.search(line), (p.id, line)


def test_every_regex_compiles_on_ripgrep(tmp_path):
    rg = rg_binary()
    if rg is None:
        pytest.skip("rg binary not installed")
    (tmp_path / "empty.txt").write_text("nothing\n")
    for p in line_patterns():
        for rx in {p.regex, p.search_regex}:
            out = subprocess.run([rg, "--no-config", "-e", rx, "--", "empty.txt"], cwd=tmp_path, capture_output=True)
            assert out.returncode in (0, 1), (p.id, out.stderr)


def test_catalog_version_follows_the_content(monkeypatch):
    assert catalog._version() == CATALOG_VERSION
    changed = tuple(p.model_copy(update={"severity": "INFO"}) if p.id == "pleg-unhealthy" else p for p in PATTERNS)
    monkeypatch.setattr(catalog, "PATTERNS", changed)
    assert catalog._version() != CATALOG_VERSION


@pytest.mark.parametrize(
    "update, problem",
    [
        ({"id": "new-one", "category": "conntrack_utilization"}, "vocabulary"),
        ({}, "duplicate"),
        ({"id": "new-two", "regex": None}, "need a regex"),
    ],
)
def test_malformed_catalog_is_rejected(monkeypatch, update, problem):
    monkeypatch.setattr(catalog, "PATTERNS", (*PATTERNS, PATTERNS[0].model_copy(update=update)))
    with pytest.raises(ValueError, match=problem):
        catalog._check()
