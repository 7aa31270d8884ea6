"""Status documents of the configured peers, as typed values (docs/protocol.md section 9.6).

Built by the federation service; rendered by ``/v1/peers``, ``/readyz``, ``peers status`` and
the demo with :meth:`PeerStatus.as_json`, the one place that knows their wire shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeerError:
    """The last failed sync: its reason code, detail and the operator's hint."""

    code: str
    detail: str
    hint: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True)
class Withdrawal:
    """Why the held list is not used (section 9.1)."""

    code: str
    detail: str
    at: str | None
    new_epoch: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "detail": self.detail,
            "at": self.at,
            "new_epoch": self.new_epoch,
        }


@dataclass(frozen=True)
class HeldListStatus:
    """The list held from the peer."""

    seq: int
    digest: str
    iat: str
    exp: str
    accepted_at: str
    fetched_at: str
    entries: int
    dropped: int
    narrowed: int


@dataclass(frozen=True)
class PeerStatus:
    id: str
    jurisdiction: str
    url: str
    state: str  # fresh | stale | failing | withdrawn | never_synced
    on_stale: str
    threshold: int
    last_attempt: str | None
    last_success: str | None
    last_outcome: str | None
    consecutive_failures: int
    last_error: PeerError | None
    withdrawn: Withdrawal | None
    trusted_keys: tuple[str, ...]
    held: HeldListStatus | None

    def as_json(self) -> dict[str, Any]:
        held = self.held
        doc: dict[str, Any] = {
            "id": self.id,
            "jurisdiction": self.jurisdiction,
            "url": self.url,
            "state": self.state,
            "on_stale": self.on_stale,
            "threshold": self.threshold,
            "last_attempt": self.last_attempt,
            "last_success": self.last_success,
            "last_outcome": self.last_outcome,
            "consecutive_failures": self.consecutive_failures,
            "last_error": None if self.last_error is None else self.last_error.as_json(),
            "withdrawn": None if self.withdrawn is None else self.withdrawn.as_json(),
            "seq": None if held is None else held.seq,
            "iat": None if held is None else held.iat,
            "exp": None if held is None else held.exp,
            "entries": {
                "accepted": 0 if held is None else held.entries,
                "dropped_scope": 0 if held is None else held.dropped,
                "narrowed_scope": 0 if held is None else held.narrowed,
            },
            "trusted_keys": list(self.trusted_keys),
        }
        if held is not None:
            doc["digest"] = held.digest
            doc["accepted_at"] = held.accepted_at
            doc["fetched_at"] = held.fetched_at
        return doc
