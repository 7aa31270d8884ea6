"""Validity periods of credentials: VC 2.0 ``validFrom``/``validUntil``, VC 1.1
``issuanceDate``/``expirationDate``, and the JWT claims ``nbf``/``exp``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from registry_node.core.credentials.report import DATES, Check
from registry_node.core.errors import Malformed
from registry_node.core.timeutil import format_rfc3339

#: XML Schema dateTime as credentials write it: an offset is optional (UTC is assumed without
#: one), fractions of a second may have any number of digits.
_DATETIME = re.compile(
    r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)


#: date-time texts up to this long are remembered once read (the same dates come with every
#: credential of a kind: a list's, an achievement's, a status list's)
_REMEMBERED_CHARS = 40


def parse_datetime(value: str) -> datetime | None:
    """An aware UTC datetime, or None when ``value`` is not an XML Schema dateTime."""
    if len(value) <= _REMEMBERED_CHARS:
        return _remembered(value)
    return _parse(value)


@lru_cache(maxsize=4096)
def _remembered(value: str) -> datetime | None:
    return _parse(value)


def _parse(value: str) -> datetime | None:
    match = _DATETIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    except ValueError:
        return None
    if offset in (None, "Z"):
        return when.replace(tzinfo=UTC)
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    try:
        return (when - sign * delta).replace(tzinfo=UTC)
    except OverflowError:
        return None


def _member(credential: Mapping[str, Any], name: str) -> datetime | None:
    value = credential.get(name)
    if value is None:
        return None
    when = parse_datetime(value) if isinstance(value, str) else None
    if when is None:
        raise Malformed(f"{name} is not a date-time", code="credential_bad_date", field=name)
    return when


def _claim(claims: Mapping[str, Any] | None, name: str) -> datetime | None:
    if claims is None or claims.get(name) is None:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"JWT claim {name} is not a NumericDate", code="credential_bad_date")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(f"JWT claim {name} is out of range", code="credential_bad_date") from None


@dataclass(frozen=True)
class Validity:
    """When a credential starts and stops being valid; the issuance instant for the report."""

    issued: datetime | None
    not_before: datetime | None
    not_after: datetime | None


def validity(credential: Mapping[str, Any], claims: Mapping[str, Any] | None = None) -> Validity:
    """Read the validity period. ``claims`` are the JWT claims, for a JWT-secured credential.
    Raises Malformed(``credential_bad_date``) for a date that is not a date-time."""
    valid_from = _member(credential, "validFrom")
    issuance = _member(credential, "issuanceDate")
    until = _member(credential, "validUntil")
    expiration = _member(credential, "expirationDate")
    nbf = _claim(claims, "nbf")
    exp = _claim(claims, "exp")
    starts = [d for d in (valid_from, issuance, nbf) if d is not None]
    ends = [d for d in (until, expiration, exp) if d is not None]
    return Validity(
        issued=valid_from or issuance or nbf,
        not_before=max(starts) if starts else None,
        not_after=min(ends) if ends else None,
    )


def dates_check(period: Validity, now: datetime, clock_skew: timedelta) -> Check:
    """``not_yet_valid`` before the start, ``expired`` from the end; ``clock_skew`` is allowed
    on both sides."""
    if period.not_before is not None and now + clock_skew < period.not_before:
        return Check(
            DATES, False, "not_yet_valid", f"valid from {format_rfc3339(period.not_before)}"
        )
    if period.not_after is not None and now - clock_skew >= period.not_after:
        return Check(DATES, False, "expired", f"expired at {format_rfc3339(period.not_after)}")
    parts = []
    if period.not_before is not None:
        parts.append(f"from {format_rfc3339(period.not_before)}")
    if period.not_after is not None:
        parts.append(f"until {format_rfc3339(period.not_after)}")
    return Check(DATES, True, "in_validity_period", "valid " + (" ".join(parts) or "always"))


__all__ = ["Validity", "dates_check", "parse_datetime", "validity"]
