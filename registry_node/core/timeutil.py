"""Time values of the protocol: RFC 3339 strings, NumericDate integers, durations, clocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

#: The clock every service takes: returns an aware UTC datetime. Tests inject their own.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


#: RFC 3339 section 5.6 date-time (upper-case T and Z, as the schemas require)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


#: The latest instant the node represents: NumericDate 253402300799, as the schemas bound it.
#: Later ones (9999-12-31T23:59:59.5Z) do not survive a round trip through a float timestamp.
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required) into an aware UTC datetime.

    Raises ValueError for anything else, for a date that does not exist (February 30th) and
    for an instant outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (such as
    ``0001-01-01T00:00:00+01:00``, which is in the year 0 in UTC). Digits past the
    microsecond are dropped."""
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time with an offset")
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date-time that exists") from None
    try:
        when = local.astimezone(UTC)
    except OverflowError:
        when = None
    if when is None or when > LATEST:
        raise ValueError(f"{value!r} is outside the instants this node represents ({_RANGE})")
    return when


@lru_cache(maxsize=4096)
def format_rfc3339(when: datetime) -> str:
    """UTC, second precision unless there are microseconds, with a ``Z`` suffix. The texts
    of the instants in use (a credential's dates, a list's times) are remembered."""
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


def describe_duration(delta: timedelta) -> str:
    """A duration for people: ``2 s``, ``5 min``, ``1 h 30 min``, ``3 d`` (two units at most;
    the rest is dropped). Configuration files use :func:`format_duration` instead."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0 s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])
