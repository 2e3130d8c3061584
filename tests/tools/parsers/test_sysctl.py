from collections.abc import Iterator

from tools.parsers.sysctl import conntrack_sysctls, parse_sysctl

SAMPLE = """abi.vsyscall32 = 1
kernel.core_pattern = |/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h
kernel.domainname = (none)
net.ipv4.tcp_rmem = 4096\t131072\t6291456
net.netfilter.nf_conntrack_acct = 0
net.netfilter.nf_conntrack_buckets = 262144
net.netfilter.nf_conntrack_checksum = 1
net.netfilter.nf_conntrack_count = 262139
net.netfilter.nf_conntrack_expect_max = 4096
net.netfilter.nf_conntrack_generic_timeout = 600
net.netfilter.nf_conntrack_icmp_timeout = 30
net.netfilter.nf_conntrack_log_invalid = 0
net.netfilter.nf_conntrack_max = 262144
net.netfilter.nf_conntrack_tcp_be_liberal = 0
net.netfilter.nf_conntrack_tcp_loose = 1
net.netfilter.nf_conntrack_tcp_max_retrans = 3
net.netfilter.nf_conntrack_tcp_timeout_close = 10
net.netfilter.nf_conntrack_tcp_timeout_close_wait = 3600
net.netfilter.nf_conntrack_tcp_timeout_established = 86400
net.netfilter.nf_conntrack_tcp_timeout_fin_wait = 120
net.netfilter.nf_conntrack_tcp_timeout_last_ack = 30
net.netfilter.nf_conntrack_tcp_timeout_max_retrans = 300
net.netfilter.nf_conntrack_tcp_timeout_syn_recv = 60
net.netfilter.nf_conntrack_tcp_timeout_syn_sent = 120
net.netfilter.nf_conntrack_tcp_timeout_time_wait = 120
net.netfilter.nf_conntrack_tcp_timeout_unacknowledged = 300
net.netfilter.nf_conntrack_timestamp = 0
net.netfilter.nf_conntrack_udp_timeout = 30
net.netfilter.nf_conntrack_udp_timeout_stream = 120
net.nf_conntrack_max = 262144
vm.swappiness = 60
"""


def test_parse_sysctl_reads_every_key() -> None:
    values = parse_sysctl(SAMPLE.splitlines(keepends=True))
    assert values["net.netfilter.nf_conntrack_max"] == "262144"
    assert values["net.ipv4.tcp_rmem"] == "4096\t131072\t6291456"
    assert values["kernel.core_pattern"].startswith("|/usr/lib/systemd/systemd-coredump %P")
    assert values["kernel.domainname"] == "(none)"
    assert values["vm.swappiness"] == "60"
    assert len(values) == len(SAMPLE.splitlines())


def test_parse_sysctl_skips_garbage_and_keeps_empty_values() -> None:
    lines = [
        "",
        "sysctl: permission denied on key 'fs.protected_hardlinks'",
        "net.ipv4.conf.all.arp_filter =",
        "key with spaces = 1",
        "= 5",
        "\ufffd\ufffd",
        "dev.cdrom.info = CD-ROM information, Id: cdrom.c 3.20 2003/12/17",
        "dev.raid.speed_limit_max = 200000",
        "dev.raid.speed_limit_max = 300000",
    ]
    values = parse_sysctl(lines)
    assert values == {
        "net.ipv4.conf.all.arp_filter": "",
        "dev.cdrom.info": "CD-ROM information, Id: cdrom.c 3.20 2003/12/17",
        "dev.raid.speed_limit_max": "300000",
    }


def test_conntrack_sysctls_values_and_lines() -> None:
    result = conntrack_sysctls(SAMPLE.splitlines())
    assert (result.count, result.max, result.buckets, result.legacy_max) == (262139, 262144, 262144, 262144)
    assert result.count_line == 8
    assert result.max_line == 13
    assert result.buckets_line == 6
    assert result.legacy_max_line == 30
    assert result.timeouts["tcp_timeout_established"] == 86400
    assert result.timeouts["tcp_timeout_close_wait"] == 3600
    assert result.timeouts["udp_timeout_stream"] == 120
    assert result.timeouts["generic_timeout"] == 600
    assert "tcp_be_liberal" not in result.timeouts
    assert len(result.timeouts) == 14
    # only nf_conntrack keys are kept
    assert "vm.swappiness" not in result.values
    assert result.values["net.netfilter.nf_conntrack_tcp_loose"] == "1"
    assert result.lines["net.netfilter.nf_conntrack_count"] == 8


def test_conntrack_sysctls_missing_and_bad_values() -> None:
    lines = ["vm.swappiness = 60", "net.netfilter.nf_conntrack_max = lots", "net.netfilter.nf_conntrack_count ="]
    result = conntrack_sysctls(lines)
    assert result.count is None and result.max is None and result.buckets is None
    assert result.count_line is None and result.max_line is None
    assert result.timeouts == {}


def test_conntrack_sysctls_empty_input() -> None:
    result = conntrack_sysctls([])
    assert result.count is None and result.values == {}


def test_slash_keys_are_normalised() -> None:
    result = conntrack_sysctls(["net/netfilter/nf_conntrack_max = 131072"])
    assert result.max == 131072 and result.max_line == 1


def test_conntrack_sysctls_streams_a_huge_file() -> None:
    """A generator of 300k lines is consumed once; nothing but nf_conntrack keys is retained."""

    def lines() -> Iterator[str]:
        for i in range(150_000):
            yield f"net.ipv4.conf.veth{i}.rp_filter = 0\n"
        yield "net.netfilter.nf_conntrack_count = 7\n"
        for i in range(150_000):
            yield f"net.ipv6.conf.veth{i}.mtu = 9001\n"
        yield "net.netfilter.nf_conntrack_max = 9\n"

    result = conntrack_sysctls(lines())
    assert (result.count, result.max) == (7, 9)
    assert result.count_line == 150_001
    assert result.max_line == 300_002
    assert len(result.values) == 2
