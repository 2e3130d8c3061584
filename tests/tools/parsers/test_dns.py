import pytest

from tools.parsers.dns import parse_dns_error

CRI = "2026-07-30T09:01:12.345678901Z stdout F "


@pytest.mark.parametrize(
    ("line", "kind", "upstream", "name", "source"),
    [
        # CoreDNS errors plugin
        ("[ERROR] plugin/errors: 2 api.example.com. A: read udp 10.0.13.9:41234->10.0.0.2:53: i/o timeout",
         "io_timeout", "10.0.0.2:53", "api.example.com", "coredns"),
        ("[ERROR] plugin/errors: 2 mydb.cluster-xyz.us-west-2.rds.amazonaws.com. AAAA: dial tcp 10.0.0.2:53: "
         "i/o timeout", "io_timeout", "10.0.0.2:53", "mydb.cluster-xyz.us-west-2.rds.amazonaws.com", "coredns"),
        ("[ERROR] plugin/errors: 2 3797952284163317497.7063757873447144811. HINFO: read udp "
         "10.0.13.9:36807->10.0.0.2:53: i/o timeout", "io_timeout", "10.0.0.2:53",
         "3797952284163317497.7063757873447144811", "coredns"),
        (CRI + "[ERROR] plugin/errors: 2 api.example.com. A: read udp 10.0.13.9:41234->10.0.0.2:53: i/o timeout",
         "io_timeout", "10.0.0.2:53", "api.example.com", "coredns"),
        ("[ERROR] plugin/errors: 2 x.example. A: plugin/forward: no healthy upstream", "other", None, "x.example",
         "coredns"),
        # CoreDNS query log
        ('[INFO] 10.0.12.77:45678 - 1234 "A IN api.example.com. udp 32 false 512" SERVFAIL qr,rd 32 0.002s',
         "servfail", None, "api.example.com", "coredns"),
        # applications
        ("dial udp 172.20.0.10:53: i/o timeout", "io_timeout", "172.20.0.10:53", None, "app"),
        ("lookup orders.default.svc.cluster.local on 172.20.0.10:53: read udp 10.0.12.77:45678->172.20.0.10:53: "
         "i/o timeout", "io_timeout", "172.20.0.10:53", "orders.default.svc.cluster.local", "app"),
        ("lookup api.example.com on 172.20.0.10:53: no such host", "no_such_host", "172.20.0.10:53",
         "api.example.com", "app"),
        ("lookup api.example.com on 172.20.0.10:53: server misbehaving", "servfail", "172.20.0.10:53",
         "api.example.com", "app"),
        ("Error: getaddrinfo EAI_AGAIN api.example.com", "eai_again", None, "api.example.com", "app"),
        ("Error: getaddrinfo ENOTFOUND nope.example.com", "no_such_host", None, "nope.example.com", "app"),
        ("java.net.UnknownHostException: api.example.com: Temporary failure in name resolution",
         "temporary_failure", None, "api.example.com", "app"),
        ("socket.gaierror: [Errno -3] Temporary failure in name resolution", "temporary_failure", None, None, "app"),
        ("curl: (6) Could not resolve host: api.example.com", "other", None, "api.example.com", "app"),
        (CRI + '{"level":"error","msg":"dial udp 172.20.0.10:53: i/o timeout"}', "io_timeout", "172.20.0.10:53",
         None, "app"),
        ("read udp [fd00::5]:40000->[fd00:ec2::253]:53: i/o timeout", "io_timeout", "[fd00:ec2::253]:53", None,
         "app"),
        ("dial udp 10.0.0.2:53: connect: connection refused", "other", "10.0.0.2:53", None, "app"),
    ],
)
def test_dns_error_forms(line: str, kind: str, upstream: str | None, name: str | None, source: str) -> None:
    parsed = parse_dns_error(line)
    assert parsed is not None
    assert (parsed.kind, parsed.upstream, parsed.name, parsed.source) == (kind, upstream, name, source)
    assert not parsed.text.startswith("2026-07-30T")  # the container envelope is removed


def test_coredns_qtype_and_source_override() -> None:
    parsed = parse_dns_error("[ERROR] plugin/errors: 2 a.b. AAAA: dial tcp 10.0.0.2:53: i/o timeout")
    assert parsed is not None and parsed.qtype == "AAAA"
    app = parse_dns_error("dial udp 172.20.0.10:53: i/o timeout", source="coredns")
    assert app is not None and app.source == "coredns"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "dial tcp 10.0.45.6:443: i/o timeout",  # a timeout, but not DNS
        "Get https://10.100.0.1:443/api: net/http: TLS handshake timeout",
        '[INFO] 10.0.12.77:45678 - 1234 "A IN api.example.com. udp 32 false 512" NOERROR qr,rd 32 0.002s',
        "failed to lookup user root: error",
        "I0730 proxier.go:1] port 53 is fine",
        "\ufffd\ufffd",
    ],
)
def test_non_dns_lines(line: str) -> None:
    assert parse_dns_error(line) is None


def test_text_is_bounded() -> None:
    parsed = parse_dns_error("dial udp 172.20.0.10:53: i/o timeout " + "x" * 100_000)
    assert parsed is not None and len(parsed.text) == 2000
