"""The incident time window shared by errors, search, correlate and summarize.

Compatible with the public EKS Node Log MCP server's resolver (same argument names, same
timestamp formats, ±5 minutes around an incident time), with one deliberate difference: when no
time is given the window is the whole bundle, not "the last 10 minutes before now". A bundle is
analysed offline, often days after collection, so "now" would silently drop every line in it.
Windows longer than 24 h are allowed for the same reason.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

INCIDENT_PADDING = timedelta(minutes=5)

# Unix timestamps are only recognised in the same plausible ranges the MCP server accepts, so a
# stray number ("5", "20260730") is an error instead of a date in 1970.
_UNIX_SECONDS = (1e9, 2e9)
_UNIX_MILLIS = (1e12, 2e12)

# Our own fixed patterns for the two non-ISO forms the MCP server accepts.
_UTC_SUFFIX = re.compile(r"^(?P<body>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:UTC|GMT)$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
# fromisoformat keeps at most 6 fractional digits; nanosecond stamps (RFC3339Nano) are common.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")

TimeInput = str | int | float | datetime | None


class Window(BaseModel):
    """A closed interval in UTC. A missing bound is open: the window extends to that end of the bundle."""

    start: datetime | None = None
    end: datetime | None = None
    reason: str

    def describe(self) -> str:
        return f"{_fmt(self.start) or 'start of bundle'} → {_fmt(self.end) or 'end of bundle'} ({self.reason})"

    def as_dict(self) -> dict[str, str | None]:
        """The MCP-compatible response fields."""
        return {
            "window_start_utc": _fmt(self.start),
            "window_end_utc": _fmt(self.end),
            "resolution_reason": self.reason,
        }


def _fmt(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def parse_time(value: TimeInput, *, argument: str = "time") -> datetime | None:
    """Parse one of the MCP's accepted forms into an aware UTC datetime (None/blank → None).

    Naive times are taken as UTC, as the MCP server does. Raises ValueError naming `argument`.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise ValueError(f"{argument}: expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        return _from_number(float(value), argument, str(value))
    text = str(value).strip()
    if not text:
        return None
    if _NUMBER.match(text):
        return _from_number(float(text), argument, text)
    m = _UTC_SUFFIX.match(text)
    candidate = m.group("body") if m else text
    candidate = _LONG_FRACTION.sub(r"\1", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(
            f"{argument}: cannot parse {text!r} as a time; use ISO 8601 (2026-07-30T14:02:11Z, "
            f"optionally with fraction or ±hh:mm offset), 'YYYY-MM-DD HH:MM[:SS] [UTC]', or unix seconds/millis"
        ) from None
    if len(candidate) <= 10:
        # A bare date is ambiguous for an incident window; the MCP server rejects it too.
        raise ValueError(f"{argument}: {text!r} has no time of day; give at least YYYY-MM-DD HH:MM")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_number(number: float, argument: str, text: str) -> datetime:
    if not math.isfinite(number):
        raise ValueError(f"{argument}: {text!r} is not a finite number")
    if _UNIX_SECONDS[0] <= number <= _UNIX_SECONDS[1]:
        return datetime.fromtimestamp(number, tz=UTC)
    if _UNIX_MILLIS[0] <= number <= _UNIX_MILLIS[1]:
        return datetime.fromtimestamp(number / 1000, tz=UTC)
    raise ValueError(
        f"{argument}: {text!r} is neither unix seconds (1e9–2e9) nor unix milliseconds (1e12–2e12)"
    )


def resolve_window(
    start_time: TimeInput,
    end_time: TimeInput,
    incident_time: TimeInput,
    *,
    bundle_span: tuple[datetime, datetime] | None,
    padding: timedelta = INCIDENT_PADDING,
) -> Window:
    """Decide the analysis window: explicit bounds, else incident ± padding, else the whole bundle.

    Every given argument is parsed (an unparseable one is an error even if another would win), so a
    typo never silently widens the window.
    """
    start = parse_time(start_time, argument="start_time")
    end = parse_time(end_time, argument="end_time")
    incident = parse_time(incident_time, argument="incident_time")
    span_start, span_end = _span(bundle_span)

    if start is not None and end is not None:
        window = Window(start=start, end=end, reason="explicit incident window provided")
    elif start is not None or end is not None:
        which = "start_time" if start is not None else "end_time"
        window = Window(
            start=start if start is not None else span_start,
            end=end if end is not None else span_end,
            reason=f"only {which} given: other bound is the {'end' if start is not None else 'start'} of the bundle",
        )
    elif incident is not None:
        window = Window(
            start=incident - padding,
            end=incident + padding,
            reason=f"incident time provided; applied +/- {_minutes(padding)} padding",
        )
    else:
        return Window(start=span_start, end=span_end, reason="no window given: whole bundle")

    if window.start is not None and window.end is not None and window.end < window.start:
        window = Window(start=window.end, end=window.start, reason=window.reason + " (swapped start/end)")
    return window


def _span(bundle_span: tuple[datetime, datetime] | None) -> tuple[datetime | None, datetime | None]:
    if bundle_span is None:
        return None, None
    a = parse_time(bundle_span[0], argument="bundle_span[0]")
    b = parse_time(bundle_span[1], argument="bundle_span[1]")
    if a is not None and b is not None and b < a:
        a, b = b, a
    return a, b


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def in_window(ts: datetime | None, window: Window) -> bool:
    """True when `ts` falls inside `window`. A line with no timestamp is kept (callers count it as unparseable)."""
    if ts is None:
        return True
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    if window.start is not None and ts < window.start:
        return False
    return not (window.end is not None and ts > window.end)
