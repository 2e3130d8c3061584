from datetime import UTC, datetime

import pytest

from tools.parsers.syslog import parse_syslog_line

TABLE_FULL = "nf_conntrack: nf_conntrack: table full, dropping packet"


def test_al2_rsyslog_kernel_line() -> None:
    parsed = parse_syslog_line(f"Jul 30 14:02:11 ip-10-0-12-34 kernel: {TABLE_FULL}\n", year=2026)
    assert parsed is not None
    assert parsed.timestamp == datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)
    assert (parsed.host, parsed.program, parsed.pid) == ("ip-10-0-12-34", "kernel", None)
    assert parsed.message == TABLE_FULL
    assert parsed.uptime_s is None


def test_ubuntu_kernel_line_keeps_uptime_out_of_the_message() -> None:
    parsed = parse_syslog_line(
        "Feb 23 16:44:36 host kernel: [38775494.393661] nf_conntrack: table full, dropping packet", year=2026
    )
    assert parsed is not None
    assert parsed.uptime_s == 38775494.393661
    assert parsed.message == "nf_conntrack: table full, dropping packet"
    assert parsed.timestamp == datetime(2026, 2, 23, 16, 44, 36, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "host", "program", "pid", "message"),
    [
        ("Jul  3 04:05:06 ip-10-0-1-2.ec2.internal systemd[1]: Started kubelet.", "ip-10-0-1-2.ec2.internal",
         "systemd", 1, "Started kubelet."),
        ("Jul 30 14:02:11 ip-10-0-12-34 kubelet[3456]: I0730 14:02:11.1 3456 kubelet.go:1] x", "ip-10-0-12-34",
         "kubelet", 3456, "I0730 14:02:11.1 3456 kubelet.go:1] x"),
        ("Jul 30 14:02:11 ip-10-0-12-34 rsyslogd: [origin software=\"rsyslogd\"] start", "ip-10-0-12-34",
         "rsyslogd", None, "[origin software=\"rsyslogd\"] start"),
        ("Jul 30 14:02:11 ip-10-0-12-34 dhclient[2222]:", "ip-10-0-12-34", "dhclient", 2222, ""),
    ],
)
def test_program_and_pid_forms(line: str, host: str, program: str, pid: int | None, message: str) -> None:
    parsed = parse_syslog_line(line, year=2026)
    assert parsed is not None
    assert (parsed.host, parsed.program, parsed.pid, parsed.message) == (host, program, pid, message)


def test_without_year_the_line_parses_but_has_no_timestamp() -> None:
    parsed = parse_syslog_line(f"Jul 30 14:02:11 ip-10-0-12-34 kernel: {TABLE_FULL}")
    assert parsed is not None
    assert parsed.timestamp is None and parsed.message == TABLE_FULL


def test_rfc3339_rsyslog_template() -> None:
    parsed = parse_syslog_line(f"2026-07-30T14:02:11.123456+00:00 ip-10-0-12-34 kernel: {TABLE_FULL}")
    assert parsed is not None
    assert parsed.timestamp == datetime(2026, 7, 30, 14, 2, 11, 123456, tzinfo=UTC)
    assert parsed.message == TABLE_FULL


def test_impossible_date_keeps_line_without_timestamp() -> None:
    parsed = parse_syslog_line("Feb 30 14:02:11 h kernel: x", year=2026)
    assert parsed is not None and parsed.timestamp is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "Foo 30 14:02:11 host kernel: not a month",
        "Jul 30 14:02:11 host message repeated 3 times: [ x ]",
        "Jul 30 14:02:11",
        "\ufffd\ufffd",
    ],
)
def test_non_syslog_lines(line: str) -> None:
    assert parse_syslog_line(line, year=2026) is None
