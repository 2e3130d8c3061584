from datetime import UTC, datetime, timedelta, timezone

import pytest

from tools.parsers.timestamps import boot_time_from, extract_timestamp, uptime_to_utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "year", "expected"),
    [
        # RFC3339Nano CRI prefix (nanoseconds truncated to microseconds)
        (
            "2026-07-30T09:01:12.345678901Z stderr F I0730 09:01:12.345678       1 conntrack.go:60] x",
            None,
            utc(2026, 7, 30, 9, 1, 12, 345678),
        ),
        # RFC3339 with a numeric offset
        ("2026-07-30T16:01:12+07:00 something", None, utc(2026, 7, 30, 9, 1, 12)),
        ("2026-07-30T04:01:12.5-0500 x", None, utc(2026, 7, 30, 9, 1, 12, 500000)),
        # klog needs the year
        ("I0730 14:02:11.123456       1 conntrack.go:59] msg", 2026, utc(2026, 7, 30, 14, 2, 11, 123456)),
        ("E0101 00:00:00.000001   7 proxier.go:1] msg", 2025, utc(2025, 1, 1, 0, 0, 0, 1)),
        # syslog needs the year, day may be space padded
        ("Jul 30 14:02:11 ip-10-0-12-34 kernel: hello", 2026, utc(2026, 7, 30, 14, 2, 11)),
        ("Jul  3 04:05:06 host systemd[1]: hi", 2026, utc(2026, 7, 3, 4, 5, 6)),
        # dmesg --ctime carries its own year
        ("[Wed Jul 30 14:02:11 2026] nf_conntrack: table full", None, utc(2026, 7, 30, 14, 2, 11)),
        ("[Fri Jul  3 14:02:11 2026] x", None, utc(2026, 7, 3, 14, 2, 11)),
        # Go / logrus
        ('time="2026-07-30T14:02:11Z" level=error msg="boom"', None, utc(2026, 7, 30, 14, 2, 11)),
        ('level=info time="2026-07-30T14:02:11.25+01:00" msg=x', None, utc(2026, 7, 30, 13, 2, 11, 250000)),
        # JSON `ts` field (ipamd, NMA) found inside the line
        ('{"level":"info","ts":"2026-07-30T14:02:11.123Z","msg":"x"}', None, utc(2026, 7, 30, 14, 2, 11, 123000)),
        # curl banner in networking/curl_api_server.txt
        ("curling https://x/livez (1 of 5) 2026-07-30T14:12:03.123UTC", None, utc(2026, 7, 30, 14, 12, 3, 123000)),
        # zone-less ISO at line start is taken as UTC (cloud-init.log)
        ("2026-07-30 14:02:11,123 - util.py[DEBUG]: x", None, utc(2026, 7, 30, 14, 2, 11, 123000)),
    ],
)
def test_extracts_every_bundle_form(line: str, year: int | None, expected: datetime) -> None:
    got = extract_timestamp(line, year)
    assert got == expected
    assert got is not None and got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "line",
    [
        "I0730 14:02:11.123456       1 conntrack.go:59] msg",
        "Jul 30 14:02:11 ip-10-0-12-34 kernel: hello",
    ],
)
def test_yearless_forms_need_a_year(line: str) -> None:
    assert extract_timestamp(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "[104235.156774] nf_conntrack: table full",  # uptime is not a wall clock
        "no time here at all",
        "2026-02-30T10:00:00Z impossible date",
        "[Wed Feb 30 14:02:11 2026] impossible",
        "the build 2026-07-30 was fine",  # zone-less date inside a message is not an event time
        "\ufffd\ufffd garbage \x00",
    ],
)
def test_lines_without_a_wall_clock_give_none(line: str) -> None:
    assert extract_timestamp(line, 2026) is None


def test_prefix_wins_over_time_inside_the_message() -> None:
    line = '2026-07-30T09:00:00Z stdout F time="2020-01-01T00:00:00Z" msg=old'
    assert extract_timestamp(line) == utc(2026, 7, 30, 9, 0, 0)


def test_very_long_line_is_bounded_and_still_parsed() -> None:
    line = "2026-07-30T09:00:00Z stdout F " + "x" * 2_000_000
    assert extract_timestamp(line) == utc(2026, 7, 30, 9, 0, 0)


def test_uptime_to_utc_adds_seconds_to_boot_time() -> None:
    boot = utc(2026, 7, 29, 9, 0, 0)
    assert uptime_to_utc(104235.156774, boot) == boot + timedelta(seconds=104235.156774)
    # aware non-UTC boot times are converted, naive ones are taken as UTC
    plus2 = datetime(2026, 7, 29, 11, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert uptime_to_utc(60, plus2) == utc(2026, 7, 29, 9, 1, 0)
    assert uptime_to_utc(60, datetime(2026, 7, 29, 9, 0, 0)) == utc(2026, 7, 29, 9, 1, 0)
    assert uptime_to_utc(1, boot).tzinfo == UTC


def test_boot_time_round_trips_with_uptime() -> None:
    wall = utc(2026, 7, 30, 14, 2, 11)
    boot = boot_time_from(3.5, wall)
    assert uptime_to_utc(3.5, boot) == wall


def test_out_of_range_uptime_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a representable time"):
        uptime_to_utc(1e20, utc(2026, 1, 1))
