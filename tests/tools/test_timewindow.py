from datetime import UTC, datetime, timedelta, timezone

import pytest

from tools.timewindow import Window, in_window, parse_time, resolve_window

T = datetime(2026, 7, 30, 14, 2, 11, tzinfo=UTC)
SPAN = (datetime(2026, 7, 20, 0, 0, tzinfo=UTC), datetime(2026, 7, 30, 14, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-07-30T14:02:11Z", T),
        ("2026-07-30T14:02:11", T),
        ("2026-07-30T14:02:11.250000Z", T.replace(microsecond=250000)),
        ("2026-07-30T14:02:11.250000", T.replace(microsecond=250000)),
        ("2026-07-30T14:02:11.123456789Z", T.replace(microsecond=123456)),
        ("2026-07-30T16:02:11+0200", T),
        ("2026-07-30T09:32:11-04:30", T),
        ("2026-07-30 14:02:11 UTC", T),
        ("2026-07-30 14:02:11", T),
        ("2026-07-30 14:02", T.replace(second=0)),
        (str(int(T.timestamp())), T),
        (str(int(T.timestamp() * 1000)), T),
        (int(T.timestamp()), T),
        (T.timestamp() * 1000, T),
        (datetime(2026, 7, 30, 14, 2, 11), T),
        (datetime(2026, 7, 30, 16, 2, 11, tzinfo=timezone(timedelta(hours=2))), T),
    ],
)
def test_accepts_the_mcp_formats(text, expected):
    got = parse_time(text)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-40T99:00:00Z", "12345", "2026-07-30", "nan", True])
def test_unparseable_input_names_the_argument(bad):
    with pytest.raises(ValueError, match="incident_time"):
        resolve_window(None, None, bad, bundle_span=None)


def test_blank_and_none_mean_not_given():
    assert parse_time(None) is None
    assert parse_time("   ") is None


def test_explicit_window_wins_over_incident_time():
    w = resolve_window("2026-07-30T14:00:00Z", "2026-07-30T14:10:00Z", "2026-07-01T00:00:00Z", bundle_span=SPAN)
    assert (w.start, w.end) == (T.replace(minute=0, second=0), T.replace(minute=10, second=0))
    assert w.reason == "explicit incident window provided"


def test_an_unparseable_argument_is_an_error_even_when_another_would_win():
    with pytest.raises(ValueError, match="end_time"):
        resolve_window("2026-07-30T14:00:00Z", "soon", None, bundle_span=SPAN)


def test_incident_time_pads_five_minutes_each_side():
    w = resolve_window(None, None, "2026-07-30 14:02:11 UTC", bundle_span=SPAN)
    assert w.start == T - timedelta(minutes=5) and w.end == T + timedelta(minutes=5)
    assert "5 minutes" in w.reason


def test_no_window_is_the_whole_bundle_not_the_last_ten_minutes():
    w = resolve_window(None, None, None, bundle_span=SPAN)
    assert (w.start, w.end) == SPAN
    assert w.reason == "no window given: whole bundle"
    # A line from ten days before collection is still inside.
    assert in_window(datetime(2026, 7, 20, 1, 0, tzinfo=UTC), w)


def test_no_window_and_no_span_is_unbounded():
    w = resolve_window(None, None, None, bundle_span=None)
    assert w.start is None and w.end is None
    assert in_window(datetime(1999, 1, 1, tzinfo=UTC), w)


def test_reversed_window_is_swapped_with_a_note():
    w = resolve_window("2026-07-30T14:10:00Z", "2026-07-30T14:00:00Z", None, bundle_span=None)
    assert w.start < w.end
    assert w.reason.endswith("(swapped start/end)")


def test_windows_longer_than_a_day_are_kept():
    w = resolve_window("2026-07-01T00:00:00Z", "2026-07-30T00:00:00Z", None, bundle_span=None)
    assert w.end - w.start == timedelta(days=29)


def test_one_sided_window_uses_the_bundle_for_the_other_bound():
    w = resolve_window("2026-07-30T14:00:00Z", None, None, bundle_span=SPAN)
    assert w.start == T.replace(minute=0, second=0) and w.end == SPAN[1]
    w = resolve_window(None, "2026-07-25T00:00:00Z", None, bundle_span=None)
    assert w.start is None and w.end == datetime(2026, 7, 25, tzinfo=UTC)


def test_in_window_bounds_and_missing_timestamps():
    w = Window(start=T, end=T + timedelta(minutes=1), reason="test")
    assert in_window(T, w) and in_window(T + timedelta(minutes=1), w)
    assert not in_window(T - timedelta(seconds=1), w)
    assert not in_window(T + timedelta(minutes=1, seconds=1), w)
    assert in_window(None, w)  # kept; callers report it as unparseable
    assert in_window(datetime(2026, 7, 30, 14, 2, 30), w)  # naive is UTC


def test_as_dict_uses_the_mcp_field_names():
    w = resolve_window(None, None, "2026-07-30T14:02:11Z", bundle_span=None)
    assert w.as_dict() == {
        "window_start_utc": "2026-07-30T13:57:11Z",
        "window_end_utc": "2026-07-30T14:07:11Z",
        "resolution_reason": w.reason,
    }
