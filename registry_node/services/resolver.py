"""The node's lookup index, kept equal to the database (docs/adr/0011).

The database is the source of truth. :meth:`Resolver.load` builds the index from it when the
node opens; from then on the index follows every commit through ``Store.listeners``, applying
the typed changes the writers noted (services/changes.py) without reading back what they
handed it; :meth:`Resolver.catch_up` follows the commits of other processes (the command line
publishing, rotating keys or syncing) by building the same changes from the database.
Each change builds new per-source maps and then swaps one reference (the snapshot).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace

from registry_node.config import NodeConfig
from registry_node.core.model import digest
from registry_node.core.peers import PeerConfig
from registry_node.core.signing import parse_jws
from registry_node.core.timeutil import Clock
from registry_node.core.trust import Interner, Source, listing
from registry_node.services.changes import (
    Change,
    HeldList,
    LocalListPublished,
    PeerListAccepted,
    PeerListRefreshed,
    PeerListWithdrawn,
    PeersReconfigured,
)
from registry_node.services.index import Snapshot, SourceIndex, TrustIndex, names_of, source_index
from registry_node.services.peers import PeerRegistry
from registry_node.services.recovery import RESTORE_PENDING
from registry_node.services.store import PeerList, Store


def held_list(accepted: PeerList) -> HeldList:
    return HeldList(
        accepted.seq,
        accepted.digest,
        accepted.iat,
        accepted.exp,
        accepted.fetched_at,
        accepted.terms_id,
    )


class Resolver(TrustIndex):
    """The node's :class:`TrustIndex`: built from the database and following its commits."""

    def __init__(self, config: NodeConfig, store: Store, peers: PeerRegistry, clock: Clock) -> None:
        super().__init__(clock, peers.on_stale)
        self.config = config
        self.store = store
        self.peers = peers
        self._lock = asyncio.Lock()

    def policy_generation(self) -> int:
        return self.peers.generation

    def current(self, index: SourceIndex) -> bool:
        peer = self.peers.get(index.info.id)
        return peer is not None and index.terms_id == peer.terms_id

    # -- building the index ---------------------------------------------------------------

    def _peer_index(
        self,
        peer: PeerConfig,
        held: HeldList,
        texts: Mapping[str, str],
        aliases: Mapping[str, Sequence[str]],
    ) -> SourceIndex:
        state = (held.seq, held.digest, held.iat, held.exp, held.fetched_at)
        return source_index(
            peer.id,
            peer.jurisdiction,
            False,
            state,
            texts,
            aliases,
            terms_id=held.terms_id,
            scope_types=peer.scope.credential_types,
        )

    def _local_index(self, seq: int, body: bytes) -> SourceIndex:
        parsed_list = parse_jws(body)
        payload = json.loads(parsed_list.payload)
        interner = Interner()
        parsed = {e["id"]: listing(e, interner) for e in payload["issuers"]}
        names = names_of({i: e.aka for i, e in parsed.items()}, parsed)
        config = self.config
        held = (seq, digest(body), payload["iat"], payload["exp"], None)
        info = Source(config.node_id, config.jurisdiction, True, *held, stale=False)
        raw = {e["id"]: e for e in payload["issuers"]}
        return SourceIndex(info, {}, names, parsed=parsed, interner=interner, raw=raw)

    async def _read_peer(self, peer_id: str) -> PeerListAccepted | PeerListWithdrawn | None:
        """The change that brings the index to the peer's state in the database."""
        accepted = await self.store.read.peer_list(peer_id)
        if accepted is None:
            return None
        if accepted.withdrawn is not None:
            return PeerListWithdrawn(peer_id, accepted.withdrawn["code"])
        texts = await self.store.read.peer_entries(peer_id)
        aliases = await self.store.read.peer_aliases(peer_id)
        return PeerListAccepted(
            peer_id, held_list(accepted), texts, {i: tuple(a) for i, a in aliases.items()}
        )

    async def load(self) -> None:
        """Build the whole index from the database and follow its commits from now on."""
        async with self._lock:
            changes: list[Change] = []
            latest = await self.store.read.latest_version()
            # A restored list that no peer has confirmed is no source of answers: it may
            # predate a suspension (services/recovery.py).
            if latest is not None and await self.store.read.meta(RESTORE_PENDING) is None:
                changes.append(LocalListPublished(latest.seq, latest.body))
            for peer_id in self.peers:
                found = await self._read_peer(peer_id)
                if found is not None:
                    changes.append(found)
            self.snapshot = Snapshot(self._applied({}, changes))
        if self.on_commit not in self.store.listeners:
            self.store.listeners.append(self.on_commit)

    def _applied(
        self, sources: dict[str, SourceIndex], changes: Sequence[Change]
    ) -> dict[str, SourceIndex]:
        """``sources`` with ``changes`` applied, in order (pure: no I/O)."""
        for change in changes:
            match change:
                case LocalListPublished(seq=seq, body=body):
                    sources[self.config.node_id] = self._local_index(seq, body)
                case PeerListAccepted(peer_id=peer_id, held=held):
                    peer = self.peers.get(peer_id)
                    if peer is not None:
                        sources[peer_id] = self._peer_index(
                            peer, held, change.entries, change.aliases
                        )
                case PeerListRefreshed(peer_id=peer_id, fetched_at=fetched_at):
                    index = sources.get(peer_id)
                    if index is not None:
                        info = replace(index.info, fetched_at=fetched_at)
                        sources[peer_id] = replace(index, info=info)
                case PeerListWithdrawn(peer_id=peer_id):
                    sources.pop(peer_id, None)
                case PeersReconfigured():
                    for peer_id in change.removed:
                        sources.pop(peer_id, None)
        return sources

    async def on_commit(self, changes: Sequence[Change]) -> None:
        async with self._lock:
            sources = self._applied(dict(self.snapshot.sources), changes)
            # A reconfiguration hands no entries: a peer added or changed is read once.
            for change in changes:
                if isinstance(change, PeersReconfigured):
                    for peer_id in (*change.added, *change.changed):
                        sources.pop(peer_id, None)
                        found = await self._read_peer(peer_id)
                        if found is not None:
                            sources = self._applied(sources, [found])
            self.snapshot = Snapshot(sources)

    async def catch_up(self) -> None:
        """Follow commits made by other processes: compare the newest published version and
        each peer's held list with the index, and apply the changes that make them equal.
        Cheap when nothing changed; the scheduler calls it every second."""
        latest = await self.store.read.latest_version(with_body=False)
        lists = await self.store.read.peer_lists()
        snapshot = self.snapshot
        changes: list[Change] = []
        local = snapshot.sources.get(self.config.node_id)
        follow = latest is not None and (local is None or local.info.seq != latest.seq)
        if follow and latest is not None and await self.store.read.meta(RESTORE_PENDING) is None:
            version = await self.store.read.version(latest.seq)
            if version is not None:
                changes.append(LocalListPublished(version.seq, version.body))
        for peer_id in self.peers:
            index, accepted = snapshot.sources.get(peer_id), lists.get(peer_id)
            if accepted is None:
                continue
            if accepted.withdrawn is not None:
                if index is not None:
                    changes.append(PeerListWithdrawn(peer_id, accepted.withdrawn["code"]))
            elif (
                index is None
                or (index.info.seq, index.info.digest) != (accepted.seq, accepted.digest)
                or index.terms_id != accepted.terms_id
            ):
                found = await self._read_peer(peer_id)
                if found is not None:
                    changes.append(found)
            elif index.info.fetched_at != accepted.fetched_at:
                changes.append(PeerListRefreshed(peer_id, accepted.fetched_at))
        if changes:
            await self.on_commit(changes)
