from datetime import UTC, datetime

import pytest

from tools.parsers.dmesg import parse_dmesg_line

TABLE_FULL = "nf_conntrack: nf_conntrack: table full, dropping packet"


@pytest.mark.parametrize(
    ("line", "form", "uptime", "caller", "message"),
    [
        (f"[104235.156774] {TABLE_FULL}\n", "raw", 104235.156774, None, TABLE_FULL),
        ("[104243.800401] net_ratelimit: 3939 callbacks suppressed", "raw", 104243.800401, None,
         "net_ratelimit: 3939 callbacks suppressed"),
        # boot-time width: uptime right-aligned in 5 digits
        ("[    3.201144] nf_conntrack: version 0.5.0 (65536 buckets, 262144 max)", "raw", 3.201144, None,
         "nf_conntrack: version 0.5.0 (65536 buckets, 262144 max)"),
        ("[    0.000000] Linux version 5.10.215", "raw", 0.0, None, "Linux version 5.10.215"),
        # CONFIG_PRINTK_CALLER: thread and CPU callers
        ("[   32.298491][  T896] nf_conntrack: table full, dropping packet", "caller", 32.298491, "T896",
         "nf_conntrack: table full, dropping packet"),
        ("[   32.298491][    C3] ena 0000:00:05.0 eth0: x", "caller", 32.298491, "C3", "ena 0000:00:05.0 eth0: x"),
        # the message keeps its own inner spacing; CRLF is removed
        ("[   12.5]   indented text\r\n", "raw", 12.5, None, "  indented text"),
        ("[   12.5]", "raw", 12.5, None, ""),
    ],
)
def test_uptime_forms(line: str, form: str, uptime: float, caller: str | None, message: str) -> None:
    parsed = parse_dmesg_line(line)
    assert parsed is not None
    assert (parsed.form, parsed.uptime_s, parsed.caller, parsed.message) == (form, uptime, caller, message)
    assert parsed.wallclock is None


@pytest.mark.parametrize(
    ("line", "wallclock"),
    [
        (f"[Wed Jul 30 14:02:11 2026] {TABLE_FULL}", datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)),
        (f"[Fri Jul  3 01:02:03 2026] {TABLE_FULL}", datetime(2026, 7, 3, 1, 2, 3, tzinfo=UTC)),
    ],
)
def test_ctime_form(line: str, wallclock: datetime) -> None:
    parsed = parse_dmesg_line(line)
    assert parsed is not None
    assert parsed.form == "ctime"
    assert parsed.wallclock == wallclock
    assert parsed.uptime_s is None
    assert parsed.message == TABLE_FULL


def test_ctime_with_impossible_date_keeps_message_without_clock() -> None:
    parsed = parse_dmesg_line("[Mon Feb 30 14:02:11 2026] hello")
    assert parsed is not None and parsed.form == "ctime"
    assert parsed.wallclock is None and parsed.message == "hello"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\n",
        "    continuation of a previous record",
        "nf_conntrack: table full, dropping packet",  # no prefix
        "[abc] not a time",
        "[Wed Jul 30 14:02:11] missing year",
        "\ufffd\ufffd\ufffd",
    ],
)
def test_lines_without_a_kernel_prefix(line: str) -> None:
    assert parse_dmesg_line(line) is None


def test_very_long_message_is_kept_whole() -> None:
    parsed = parse_dmesg_line("[    1.000000] " + "a" * 100_000)
    assert parsed is not None and len(parsed.message) == 100_000


def test_result_is_frozen() -> None:
    parsed = parse_dmesg_line("[    1.000000] x")
    assert parsed is not None
    with pytest.raises(ValueError):
        parsed.message = "y"  # type: ignore[misc]


def test_ctime_form_with_caller() -> None:
    parsed = parse_dmesg_line(f"[Wed Jul 30 14:02:11 2026][  T896] {TABLE_FULL}")
    assert parsed is not None
    assert (parsed.form, parsed.caller, parsed.message) == ("ctime", "T896", TABLE_FULL)
    assert parsed.wallclock == datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)
