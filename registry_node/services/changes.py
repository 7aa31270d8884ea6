"""What a committed write changed, as typed values: the one protocol between the services
that write (publisher, federation) and the lookup index that follows them (docs/adr/0011).

A write transaction collects them (``Tx.note``); once it has committed, the store hands them,
in commit order, to its listeners. Each value carries what the writer had in hand, so the index
applies it without reading the database back. Catching up with another process's commits
(``Resolver.catch_up``) builds the same values from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HeldList:
    """A peer's held list, as questions describe it."""

    seq: int
    digest: str
    iat: int
    exp: int
    fetched_at: str | None
    #: the peer terms it was judged under (core/peers.py ``PeerConfig.terms_id``)
    terms_id: str


@dataclass(frozen=True)
class LocalListPublished:
    """The node published version ``seq``; ``body`` is the signed list as served."""

    seq: int
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class PeerListAccepted:
    """A peer's list was accepted (fetched, or the held one judged again under new terms).
    ``entries`` holds every kept entry (issuer id -> stored text), ``aliases`` their ``aka``
    names."""

    peer_id: str
    held: HeldList
    entries: Mapping[str, str] = field(repr=False)
    aliases: Mapping[str, tuple[str, ...]] = field(repr=False)


@dataclass(frozen=True)
class PeerListRefreshed:
    """The held list was fetched again, unchanged."""

    peer_id: str
    fetched_at: str


@dataclass(frozen=True)
class PeerListWithdrawn:
    """The held list failed the peer's current terms: it is no source of answers."""

    peer_id: str
    code: str


@dataclass(frozen=True)
class PeersReconfigured:
    """peers.yaml was reloaded: these peers were added, removed or changed."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


Change = (
    LocalListPublished
    | PeerListAccepted
    | PeerListRefreshed
    | PeerListWithdrawn
    | PeersReconfigured
)
