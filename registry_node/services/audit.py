"""The audit log, as the edges read it: who changed what, before and after (append-only).

A search pages by record id (``after``), so that a page boundary never skips or repeats a
record, and says whether more records match beyond its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from registry_node.core.timeutil import parse_rfc3339
from registry_node.services.store import AuditRecord, Store

#: Records read from the database at a time while a time filter skips some
_BATCH = 500


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    #: more records match after the last one (continue with ``after=next_after``)
    more: bool
    next_after: int


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def records(self, after: int = 0, limit: int = 100) -> list[AuditRecord]:
        """Up to ``limit`` records with an id above ``after``, oldest first."""
        return await self.store.read.audit(after, limit)

    async def search(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        target: str | None = None,
    ) -> AuditPage:
        """Up to ``limit`` records with an id above ``after`` made by ``actor``, about
        ``target`` (an issuer id, a peer id), at or after ``since`` and before ``until``."""
        found: list[AuditRecord] = []
        cursor = after
        while len(found) <= limit:
            batch = await self.store.read.audit(
                cursor, max(_BATCH, limit + 1), actor=actor, target=target
            )
            for record in batch:
                at = parse_rfc3339(record.at)
                if (since is None or at >= since) and (until is None or at < until):
                    found.append(record)
                    if len(found) > limit:
                        break
            if not batch or len(found) > limit:
                break
            cursor = batch[-1].id
        more = len(found) > limit
        records = found[:limit]
        return AuditPage(records, more, records[-1].id if records else after)
