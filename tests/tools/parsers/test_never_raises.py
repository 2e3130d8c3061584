"""Every parser must survive arbitrary bundle text: a bundle is evidence as found, not a contract."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.parsers.conntrack import parse_conntrack_file, parse_conntrack_stats, parse_conntrack_table
from tools.parsers.dmesg import parse_dmesg_line
from tools.parsers.dns import parse_dns_error
from tools.parsers.ethtool import parse_ethtool
from tools.parsers.klog import parse_klog_line
from tools.parsers.kubeproxy import parse_kube_proxy_conntrack, parse_kube_proxy_sync_failures, unwrap_cri
from tools.parsers.sysctl import conntrack_sysctls, parse_sysctl
from tools.parsers.syslog import parse_syslog_line
from tools.parsers.timestamps import extract_timestamp
from tools.parsers.uname import parse_uname

# Pieces of real formats, so that generated text reaches the parsers' deeper branches.
FRAGMENTS = [
    "[", "]", "[    3.201144] ", "[   32.298491][  T896] ", "[Wed Jul 30 14:02:11 2026] ", "Jul 30 14:02:11 ",
    "ip-10-0-12-34 ", "kernel: ", "kernel[1]: ", "cpu=0   \t", "found=0 ", "drop=312 ", "ignore=5 ", "unknown3=1 ",
    "chaintoolong=0 ", "*** Output of conntrack -S *** ", "*** Output of conntrack -L ***", "tcp      6 86397 ",
    "ESTABLISHED ", "src=10.0.12.34 ", "dport=53 ", "[UNREPLIED] ", "[ASSURED] ", "Interface ", "NIC statistics:",
    "     ", "conntrack_allowance_exceeded: ", "no stats available", "2026-07-30T09:01:12.345678901Z stderr F ",
    "I0730 09:01:12.345678       1 conntrack.go:60] ", '"Setting nf_conntrack_max" ', "nfConntrackMax=",
    "Setting nf_conntrack_max to ", "Set sysctl '", "net/netfilter/nf_conntrack_max", "' to ", '"Set sysctl" ',
    'entry="', 'value=', "err=<", " >", '"Sync failed"', "Failed to execute iptables-restore", "[ERROR] plugin/errors: 2 ",
    "api.example.com. A: ", "read udp 10.0.13.9:41234->10.0.0.2:53: ", "i/o timeout", "lookup x on 1.2.3.4:53: ",
    "EAI_AGAIN ", "Linux ", "5.10.215-203.850.amzn2.x86_64 ", "x86_64 ", "net.netfilter.nf_conntrack_count = ",
    " = ", "=", ":", "\t", "\n", "\r\n", "\ufffd", "\x00", '{"log":"', '","stream":"stderr","time":"', '"}',
    '{"msg":"Setting nf_conntrack_max","nfConntrackMax":', "99999999999999999999999", "-1", "0", "131072", "\u00b2",
]
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)), max_size=25).map("".join),
)
line_lists = st.lists(texts, max_size=20)
years = st.one_of(st.none(), st.integers(min_value=-5, max_value=20000))
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(texts, years)
def test_line_parsers(text: str, year: int | None) -> None:
    for line in (text, *text.splitlines()):
        parse_dmesg_line(line)
        parse_syslog_line(line, year)
        parse_dns_error(line)
        unwrap_cri(line)
        parse_klog_line(line, year)
        stamp = extract_timestamp(line, year)
        assert stamp is None or (isinstance(stamp, datetime) and stamp.tzinfo == UTC)
    parse_uname(text)


@SETTINGS
@given(line_lists, years)
def test_file_parsers(lines: list[str], year: int | None) -> None:
    parse_sysctl(lines)
    conntrack_sysctls(iter(lines))
    stats = parse_conntrack_stats(lines)
    assert stats.cpus == len(stats.per_cpu) == len(stats.cpu_lines)
    table = parse_conntrack_table(iter(lines))
    assert table.unreplied <= table.entries and table.assured <= table.entries
    assert sum(table.by_protocol.values()) == table.entries
    parse_conntrack_file(lines)
    for interface in parse_ethtool(lines):
        assert set(interface.counters) == set(interface.lines)
    for setting in parse_kube_proxy_conntrack(lines, year):
        assert 1 <= setting.line <= len(lines)
    for failure in parse_kube_proxy_sync_failures(lines, year):
        assert 1 <= failure.line <= len(lines)
