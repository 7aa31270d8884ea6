"""The node's JWK Set, ``/jwks.json`` (docs/protocol.md section 7; docs/adr/0013).

Which of the node's signing keys the set holds, and for how long, is decided here and nowhere
else, so that the HTTP endpoint and the command line publish the same set:

- the current key(s) and the announced ``next`` keys, always;
- a **retired** key for as long as anything it signed is meant to be checked against the set:
  while the newest published version carries its signature (the version that completes a
  rotation is signed by the retiring key too, and stays the newest until the next
  publication, however late that is), and until ``receipt_retention`` after it was retired
  (it signed its last receipt before that instant). A retired key is marked
  ``"status": "retired"`` and ``"exp"``, the NumericDate after which it signed nothing.

Members are written so that common JOSE libraries can use them: an Ed25519 key carries no
``alg``, because the same key signs lists as ``Ed25519`` (RFC 9864) and receipts as ``EdDSA``
(what most libraries still expect), and a JWK's ``alg`` would tie it to one of the two.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry_node.core.timeutil import to_numeric_date

#: The key states of docs/protocol.md section 6.
CURRENT, NEXT, RETIRING, RETIRED = "current", "next", "retiring", "retired"
#: JWS ``alg`` names of an Ed25519 key: RFC 9864's fully specified one, and RFC 8037's.
EDDSA_NAMES = ("Ed25519", "EdDSA")
#: The default of ``receipt_retention``: how long a receipt is meant to be kept and checked.
DEFAULT_RECEIPT_RETENTION = timedelta(days=365)


@dataclass(frozen=True)
class KeyState:
    """One of the node's signing keys as the JWK Set needs it."""

    jwk: Mapping[str, Any]  # the public JWK as published in lists (kid, alg, use, ...)
    state: str
    retired_at: datetime | None = None

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])


def retained(
    key: KeyState, now: datetime, retention: timedelta, newest_signers: Collection[str]
) -> bool:
    """Whether ``key`` belongs in the JWK Set at ``now`` (the retention rule)."""
    if key.state in (CURRENT, NEXT, RETIRING):
        return True
    if key.state != RETIRED:
        return False
    if key.kid in newest_signers:
        return True  # a version it signed is still served as the newest
    if key.retired_at is None:
        return False  # no instant to count from: fail closed, do not publish
    return now < key.retired_at + retention


def member(key: KeyState) -> dict[str, Any]:
    """The JWK as ``/jwks.json`` publishes it."""
    jwk = {name: value for name, value in key.jwk.items() if name != "alg"}
    if key.jwk.get("alg") not in EDDSA_NAMES and "alg" in key.jwk:
        jwk["alg"] = key.jwk["alg"]  # ES256 names one algorithm everywhere: keep it
    if key.state == RETIRED and key.retired_at is not None:
        jwk["status"] = RETIRED
        jwk["exp"] = to_numeric_date(key.retired_at)
    return jwk


_ORDER = {CURRENT: 0, RETIRING: 1, NEXT: 2, RETIRED: 3}


def jwk_set(
    keys: Iterable[KeyState],
    now: datetime,
    retention: timedelta,
    newest_signers: Collection[str],
) -> dict[str, Any]:
    """The JWK Set: current keys, then next keys, then retained retired keys, newest first."""
    kept = [k for k in keys if retained(k, now, retention, newest_signers)]
    kept.sort(key=lambda k: -to_numeric_date(k.retired_at) if k.retired_at else 0)
    kept.sort(key=lambda k: _ORDER[k.state])
    return {"keys": [member(k) for k in kept]}


__all__ = [
    "CURRENT",
    "DEFAULT_RECEIPT_RETENTION",
    "EDDSA_NAMES",
    "NEXT",
    "RETIRED",
    "RETIRING",
    "KeyState",
    "jwk_set",
    "member",
    "retained",
]
