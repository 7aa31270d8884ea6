"""Published list bodies held in memory, identity and gzip, so serving never re-reads or
re-compresses a version. A version's body never changes, so an entry never goes stale; but
retention may prune an old one, so the cache asks the database which seq is current and, for
an older one, whether its body is still kept."""

from __future__ import annotations

import gzip
from collections import OrderedDict
from dataclasses import dataclass

from registry_node.services.publisher import Publisher
from registry_node.services.store import Version


@dataclass(frozen=True)
class Representation:
    version: Version
    gzip_body: bytes


class ListCache:
    def __init__(self, publisher: Publisher, size: int = 8) -> None:
        self.publisher = publisher
        self.size = size
        self._entries: OrderedDict[int, Representation] = OrderedDict()

    def _remember(self, version: Version) -> Representation:
        rep = Representation(version, gzip.compress(version.body, compresslevel=6, mtime=0))
        self._entries[version.seq] = rep
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return rep

    async def latest(self) -> Representation | None:
        seq = await self.publisher.latest_seq()
        if seq == 0:
            return None
        return await self.get(seq, newest=True)

    async def get(self, seq: int, *, newest: bool = False) -> Representation | None:
        """Version ``seq``; None when it was never published or its body was pruned. The
        newest body is never pruned; an older one held here is checked against the database
        (retention may have pruned it since)."""
        rep = self._entries.get(seq)
        if rep is not None:
            if not newest and await self.publisher.pruned(seq):
                del self._entries[seq]
                return None
            self._entries.move_to_end(seq)
            return rep
        version = await self.publisher.version(seq)
        if version is None or version.pruned:  # a pruned body is never served (empty)
            return None
        return self._remember(version)
