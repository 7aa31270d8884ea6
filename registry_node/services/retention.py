"""Retention of the node's own old list versions, and compaction of the database.

A version's body is some hundreds of KB to MB; a node that publishes often would keep every
one of them for ever. The prune job (services/scheduler.py) removes the bodies of versions
that are neither among the newest ``retention.keep_versions`` nor replaced by a newer version
less than ``retention.keep_for`` ago (at least an hour: a signed answer, valid for an hour at
most, cites the version that was newest when it was signed, and its body stays fetchable).
What stays, for every version: seq, digest, ``prev``, times, signers (the hash chain), and for
every issuer its whole status history in the issuers table and in the newest body, from which
every as-of answer is computed. SQLite reuses the freed pages for later versions, so the file
stops growing; ``compact`` (VACUUM) shrinks it. docs/adr/0015 gives the reasons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.retention import chain_problems
from registry_node.core.timeutil import Clock, format_rfc3339, to_numeric_date
from registry_node.services.store import Store

log = logging.getLogger("registry_node.retention")

#: versions pruned per transaction, so that the single writer is never held for long
BATCH = 500


@dataclass(frozen=True)
class StorageReport:
    versions: int
    bodies_kept: int
    body_bytes: int
    file_bytes: int
    free_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "bodies_kept": self.bodies_kept,
            "body_bytes": self.body_bytes,
            "file_bytes": self.file_bytes,
            "free_bytes": self.free_bytes,
        }


class Retention:
    def __init__(self, config: NodeConfig, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    async def prune(self, actor: str = "system") -> list[int]:
        """Remove the bodies that retention no longer keeps; returns their seqs."""
        now = self.clock()
        kept = self.config.retention
        cutoff = to_numeric_date(now - kept.keep_for)
        pruned: list[int] = []
        while True:
            async with self.store.write() as tx:
                seqs = await tx.prune_bodies(
                    keep_last=kept.keep_versions,
                    replaced_before=cutoff,
                    now=format_rfc3339(now),
                    limit=BATCH,
                )
                if seqs:
                    await tx.add_audit(
                        format_rfc3339(now),
                        actor,
                        "versions.prune",
                        f"seq {seqs[0]}-{seqs[-1]}",
                        None,
                        {"pruned": len(seqs), "first": seqs[0], "last": seqs[-1]},
                    )
            pruned += seqs
            if len(seqs) < BATCH:
                break
        if pruned:
            log.info("pruned old version bodies", extra={"pruned": len(pruned)})
        return pruned

    async def check_chain(self) -> list[str]:
        """Problems of the hash chain and the kept bodies (empty: all is well)."""
        bodies = {v.seq: v.body for v in await self.store.read.versions() if not v.pruned}
        return chain_problems(await self.store.read.chain(), bodies)

    async def report(self) -> StorageReport:
        versions, kept, body_bytes = await self.store.read.version_counts()
        file_bytes, free_bytes = await self.store.read.file_size()
        return StorageReport(versions, kept, body_bytes, file_bytes, free_bytes)

    async def compact(self) -> tuple[StorageReport, StorageReport]:
        """Prune, then VACUUM: the database file shrinks to what it holds. Safe while the node
        runs (it waits for the writer); readers go on reading. Returns (before, after)."""
        self.store.sqlite_file("compact", "VACUUM FULL, run by the database's administrator")
        await self.prune("compact")
        before = await self.report()
        await self.store.vacuum()
        return before, await self.report()
