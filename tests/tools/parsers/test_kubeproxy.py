from datetime import UTC, datetime

import pytest

from tools.parsers.kubeproxy import (
    parse_kube_proxy_conntrack,
    parse_kube_proxy_sync_failures,
    unwrap_cri,
)

CRI_TS = "2026-07-30T09:01:12.345678901Z"


@pytest.mark.parametrize(
    ("line", "key", "value", "form"),
    [
        ("I1120 15:18:19.757786   26448 conntrack.go:52] Setting nf_conntrack_max to 786432",
         "nf_conntrack_max", 786432, "printf"),
        ("I0329 01:29:47.137848       5 conntrack.go:81] Set sysctl 'net/netfilter/nf_conntrack_max' to 131072",
         "nf_conntrack_max", 131072, "set_sysctl_printf"),
        ("I0329 01:29:47.137848       5 conntrack.go:81] Set sysctl "
         "'net/netfilter/nf_conntrack_tcp_timeout_established' to 86400",
         "tcp_timeout_established", 86400, "set_sysctl_printf"),
        ("I0329 01:29:47.138410       5 conntrack.go:66] Setting conntrack hashsize to 32768",
         "hashsize", 32768, "printf"),
        ('I0719 14:55:06.908056       1 conntrack.go:119] "Set sysctl" entry="net/netfilter/nf_conntrack_max" '
         "value=131072", "nf_conntrack_max", 131072, "set_sysctl_structured"),
        ('I0719 14:55:06.908155       1 conntrack.go:59] "Setting nf_conntrack_max" nfConntrackMax=131072',
         "nf_conntrack_max", 131072, "structured"),
        ('I0719 14:55:06.908378       1 conntrack.go:119] "Set sysctl" '
         'entry="net/netfilter/nf_conntrack_tcp_timeout_established" value=86400',
         "tcp_timeout_established", 86400, "set_sysctl_structured"),
        ('I0719 14:55:06.908490       1 conntrack.go:119] "Set sysctl" '
         'entry="net/netfilter/nf_conntrack_tcp_timeout_close_wait" value=3600',
         "tcp_timeout_close_wait", 3600, "set_sysctl_structured"),
        ('I0719 14:55:06.908490       1 conntrack.go:119] "Set sysctl" '
         'entry="net/netfilter/nf_conntrack_udp_timeout" value=30',
         "other", 30, "set_sysctl_structured"),
        # intermediate version: key "nf_conntrack_max" instead of nfConntrackMax
        ('I0401 10:00:00.000001       1 conntrack.go:52] "Setting nf_conntrack_max" "nf_conntrack_max"=262144',
         "nf_conntrack_max", 262144, "structured_intermediate"),
        ('I0401 10:00:00.000001       1 conntrack.go:52] "Setting nf_conntrack_max" nf_conntrack_max=262144',
         "nf_conntrack_max", 262144, "structured_intermediate"),
        # 1.36: pkg/proxy/conntrack/sysctls.go
        ('I0525 03:22:43.514895       1 sysctls.go:147] "Setting nf_conntrack_max" nfConntrackMax=131072',
         "nf_conntrack_max", 131072, "structured_1_36"),
        ('I0525 03:22:43.514895       1 sysctls.go:160] "Setting conntrack hashsize" conntrackHashsize=65536',
         "hashsize", 65536, "structured_1_36"),
        ('I0719 14:55:06.908155       1 conntrack.go:66] "Setting conntrack hashsize" conntrackHashsize=65536',
         "hashsize", 65536, "structured"),
        # CRI-wrapped, as stored in var_log/kube-proxy-*.log
        (f'{CRI_TS} stderr F I0730 09:01:12.345678       1 conntrack.go:60] "Setting nf_conntrack_max" '
         "nfConntrackMax=262144", "nf_conntrack_max", 262144, "structured"),
        # JSON logging format
        ('{"ts":1722330072.1,"caller":"app/conntrack.go:59","msg":"Setting nf_conntrack_max","v":0,'
         '"nfConntrackMax":131072}', "nf_conntrack_max", 131072, "json"),
        ('{"ts":"2026-07-30T09:01:12Z","msg":"Set sysctl","entry":"net/netfilter/nf_conntrack_max","value":131072}',
         "nf_conntrack_max", 131072, "json"),
    ],
)
def test_every_setting_form(line: str, key: str, value: int, form: str) -> None:
    settings = parse_kube_proxy_conntrack(["unrelated line", line], year=2026)
    assert len(settings) == 1
    setting = settings[0]
    assert (setting.key, setting.value, setting.form, setting.line) == (key, value, form, 2)


def test_sysctl_entry_is_recorded() -> None:
    (setting,) = parse_kube_proxy_conntrack(
        ['I0719 14:55:06.908056       1 conntrack.go:119] "Set sysctl" entry="net/netfilter/nf_conntrack_max" value=5']
    )
    assert setting.sysctl == "net/netfilter/nf_conntrack_max"


def test_non_conntrack_sysctls_are_ignored() -> None:
    lines = [
        "I0329 01:29:47.137848       5 proxier.go:81] Set sysctl 'net/ipv4/conf/all/route_localnet' to 1",
        'I0719 14:55:06.908056       1 proxier.go:1] "Set sysctl" entry="net/bridge/bridge-nf-call-iptables" value=1',
        "I0719 14:55:06.908056       1 server.go:1] conntrack settings look fine",
    ]
    assert parse_kube_proxy_conntrack(lines) == []


def test_timestamps_cri_beats_klog_and_year_dates_bare_klog() -> None:
    cri = f"{CRI_TS} stderr F I0730 09:01:12.345678       1 conntrack.go:52] Setting nf_conntrack_max to 5"
    bare = "I0730 09:01:13.000000       1 conntrack.go:52] Setting nf_conntrack_max to 6"
    with_year = parse_kube_proxy_conntrack([cri, bare], year=2025)
    assert with_year[0].timestamp == datetime(2026, 7, 30, 9, 1, 12, 345678, tzinfo=UTC)
    assert with_year[1].timestamp == datetime(2025, 7, 30, 9, 1, 13, tzinfo=UTC)
    without_year = parse_kube_proxy_conntrack([cri, bare])
    assert without_year[0].timestamp is not None and without_year[1].timestamp is None


def test_garbage_values_are_not_settings() -> None:
    lines = [
        "Setting nf_conntrack_max to many",
        '"Setting nf_conntrack_max" nfConntrackMax=-1',
        "Setting nf_conntrack_max to " + "9" * 40,
        '{"msg":"Setting nf_conntrack_max","nfConntrackMax":true}',
        '{"msg":"Setting nf_conntrack_max", broken json',
        "",
    ]
    assert parse_kube_proxy_conntrack(lines) == []


@pytest.mark.parametrize(
    ("line", "stream", "partial", "text"),
    [
        (f"{CRI_TS} stderr F I0730 x", "stderr", False, "I0730 x"),
        (f"{CRI_TS} stdout P first half", "stdout", True, "first half"),
        ("2026-07-30T09:01:12.1+00:00 stdout F", "stdout", False, ""),
        ('{"log":"I0730 y\\n","stream":"stderr","time":"2026-07-30T09:01:12.345678901Z"}', "stderr", False, "I0730 y"),
        ('{"log":"half","stream":"stdout","time":"2026-07-30T09:01:12Z"}', "stdout", True, "half"),
    ],
)
def test_unwrap_container_envelopes(line: str, stream: str, partial: bool, text: str) -> None:
    cri = unwrap_cri(line)
    assert cri is not None
    assert (cri.stream, cri.partial, cri.text) == (stream, partial, text)
    assert cri.timestamp is not None and cri.timestamp.year == 2026


@pytest.mark.parametrize(
    "line",
    ["", "I0730 09:01:12.345678 1 x.go:1] bare klog", "2026-07-30T09:01:12Z stdin F x", '{"log": 5}', "[1,2]", "{"],
)
def test_unwrap_rejects_non_envelopes(line: str) -> None:
    assert unwrap_cri(line) is None


SYNC_LOG = [
    'I1113 16:15:07.928773       1 proxier.go:1464] "Reloading service iptables data" numServices=0',
    'E1113 16:15:07.931291       1 proxier.go:1481] "Failed to execute iptables-restore" err=<',
    '\texit status 2: ip6tables-restore v1.8.4 (legacy): unknown option "--xor-mark"',
    "\tError occurred at line: 16",
    " >",
    'I1113 16:15:07.931308       1 proxier.go:858] "Sync failed" retryingTime="30s"',
    "E0610 07:32:16.910840       1 proxier.go:1564] Failed to execute iptables-restore: exit status 1 "
    "(iptables-restore: line 7 failed)",
    'E0610 07:32:17.000000       1 proxier.go:1] "Failed to execute iptables-restore" err="exit status 4" rules=""',
    "E0610 07:32:18.000000       1 proxier.go:2] Failed to sync iptables rules: timeout",
]


def test_sync_failures() -> None:
    failures = parse_kube_proxy_sync_failures(SYNC_LOG, year=2026)
    assert [(f.kind, f.line, f.severity) for f in failures] == [
        ("iptables_restore", 2, "E"),
        ("sync_failed", 6, "I"),
        ("iptables_restore", 7, "E"),
        ("iptables_restore", 8, "E"),
        ("other", 9, "E"),
    ]
    assert failures[0].detail == (
        'exit status 2: ip6tables-restore v1.8.4 (legacy): unknown option "--xor-mark"\nError occurred at line: 16'
    )
    assert failures[0].timestamp == datetime(2026, 11, 13, 16, 15, 7, 931291, tzinfo=UTC)
    assert failures[1].detail is None
    assert failures[2].detail == "exit status 1 (iptables-restore: line 7 failed)"
    assert failures[3].detail == "exit status 4"


def test_sync_failure_block_in_cri_lines_and_unterminated_block() -> None:
    wrapped = [f"{CRI_TS} stderr F {line}" for line in SYNC_LOG[1:4]]
    failures = parse_kube_proxy_sync_failures(wrapped)
    assert len(failures) == 1
    assert failures[0].detail is not None and "Error occurred at line: 16" in failures[0].detail
    assert failures[0].timestamp == datetime(2026, 7, 30, 9, 1, 12, 345678, tzinfo=UTC)


def test_no_failures_in_a_healthy_log() -> None:
    assert parse_kube_proxy_sync_failures(["I0730 x.go:1] Syncing iptables rules", "", "\ufffd"]) == []
