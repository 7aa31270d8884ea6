"""The audit log, as the edges read it: who changed what, before and after (append-only)."""

from __future__ import annotations

from registry_node.services.store import AuditRecord, Store


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def records(self, after: int = 0, limit: int = 100) -> list[AuditRecord]:
        """Up to ``limit`` records with an id above ``after``, oldest first."""
        return await self.store.read.audit(after, limit)
