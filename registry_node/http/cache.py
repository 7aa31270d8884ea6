"""Published list bodies held in memory, identity and gzip, so serving never re-reads or
re-compresses a version. Versions are immutable, so an entry never goes stale; the cache only
asks the database which seq is current."""

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
        return await self.get(seq)

    async def get(self, seq: int) -> Representation | None:
        rep = self._entries.get(seq)
        if rep is not None:
            self._entries.move_to_end(seq)
            return rep
        version = await self.publisher.version(seq)
        return None if version is None else self._remember(version)
