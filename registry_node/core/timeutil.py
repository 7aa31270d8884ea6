"""Time values of the protocol: RFC 3339 strings, NumericDate integers, durations, clocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: The clock every service takes: returns an aware UTC datetime. Tests inject their own.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


#: RFC 3339 section 5.6 date-time (upper-case T and Z, as the schemas require)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required) into an aware UTC datetime."""
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with an offset")
    return datetime.fromisoformat(value).astimezone(UTC)


def format_rfc3339(when: datetime) -> str:
    """UTC, second precision unless there are microseconds, with a ``Z`` suffix."""
    when = when.astimezone(UTC)
    text = when.isoformat(timespec="microseconds" if when.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def to_numeric_date(when: datetime) -> int:
    return int(when.timestamp())


def from_numeric_date(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> timedelta:
    """``90`` or ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` -> timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration (use seconds or 90s, 15m, 24h, 7d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
