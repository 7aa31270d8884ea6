"""Issuer administration: create, update, change status, import. Every change is audited.

Each operation validates its input completely before it opens a transaction, then writes the
issuer, its names, the audit record and the "needs publishing" mark in that one transaction.
An issuer is never deleted: it is revoked or retired and its history stays (protocol section 3.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_node.core import schema
from registry_node.core.errors import Conflict, InvalidInput, Malformed, NotFound, SchemaInvalid
from registry_node.core.model import (
    check_issuer,
    check_unique_ids,
    normalize_history,
    pinned_key_forms,
)
from registry_node.core.timeutil import Clock, format_rfc3339, parse_rfc3339
from registry_node.core.trust import listing
from registry_node.services.progress import IMPORTING, VALIDATING, Progress, ignore
from registry_node.services.publisher import mark_changed
from registry_node.services.store import Store, Tx


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int

    def as_json(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True)
class IssuerPage:
    #: each issuer with its status at the instant asked about (None: not yet in force)
    issuers: list[tuple[dict[str, Any], str | None]]
    #: more issuers match after the last one
    more: bool


def _merge_history(
    stored: list[dict[str, Any]], incoming: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Incoming entries are added to the stored history; none is ever dropped."""
    merged = list(stored)
    for entry in normalize_history(incoming):
        if entry not in merged:
            merged.append(entry)
    return normalize_history(merged)


class IssuerService:
    def __init__(self, store: Store, clock: Clock, jurisdiction: str) -> None:
        self.store = store
        self.clock = clock
        self.jurisdiction = jurisdiction

    async def get(self, issuer_id: str) -> dict[str, Any]:
        doc = await self.store.read.issuer(issuer_id)
        if doc is None:
            raise NotFound(f"no issuer {issuer_id!r}", code="issuer_not_found")
        return doc

    async def all(self) -> list[dict[str, Any]]:
        return await self.store.read.issuers()

    async def browse(
        self,
        *,
        at: datetime | None = None,
        status: str | None = None,
        org_type: str | None = None,
        text: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> IssuerPage:
        """The issuers in id order, each with its status at ``at`` (default now; None: not
        yet in force), filtered, from after the id ``after``, at most ``limit`` of them."""
        when = (at or self.clock()).timestamp()
        needle = text.casefold() if text else None
        found: list[tuple[dict[str, Any], str | None]] = []
        more = False
        for entry in await self.store.read.issuers():
            if after is not None and entry["id"] <= after:
                continue
            step = listing(entry).status_at(when)  # the one rule: core/trust.py
            now = step.status if step else None
            if status is not None and now != status:
                continue
            if org_type is not None and entry["org_type"] != org_type:
                continue
            if needle is not None and not any(
                needle in name.casefold()
                for name in (entry["id"], entry["name"], *entry.get("aka", ()))
            ):
                continue
            if limit is not None and len(found) == limit:
                more = True
                break
            found.append((entry, now))
        return IssuerPage(found, more)

    async def _check_names(self, tx: Tx, doc: Mapping[str, Any]) -> None:
        for name in (doc["id"], *doc.get("aka", ())):
            owner = await tx.name_owner(name)
            if owner is not None and owner != doc["id"]:
                raise Conflict(
                    f"{name!r} already names issuer {owner!r}",
                    code="issuer_name_taken",
                    field="aka" if name != doc["id"] else "id",
                )

    async def create(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        now = self.clock()
        doc = pinned_key_forms(doc)
        if "status_history" not in doc:
            doc["status_history"] = [
                {"status": "active", "from": format_rfc3339(now), "reason": "created"}
            ]
        check_issuer(doc)
        doc["status_history"] = normalize_history(doc["status_history"])
        async with self.store.write() as tx:
            if await tx.issuer(doc["id"]) is not None:
                raise Conflict(f"issuer {doc['id']!r} already exists", code="issuer_exists")
            await self._check_names(tx, doc)
            stamp = format_rfc3339(now)
            await tx.put_issuer(doc, stamp, created=True)
            await tx.add_audit(stamp, actor, "issuer.create", doc["id"], None, doc)
            await mark_changed(tx, now)
        return doc

    async def update(self, issuer_id: str, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        """Replace an issuer's description. Its status history can only grow (set_status)."""
        now = self.clock()
        if doc.get("id", issuer_id) != issuer_id:
            raise InvalidInput("id: cannot change an issuer's id", code="id_immutable", field="id")
        async with self.store.write() as tx:
            before = await tx.issuer(issuer_id)
            if before is None:
                raise NotFound(f"no issuer {issuer_id!r}", code="issuer_not_found")
            after = pinned_key_forms(dict(doc, id=issuer_id))
            if "status_history" in after and after["status_history"] != before["status_history"]:
                raise InvalidInput(
                    "status_history: change status with the status operation; "
                    "history is never rewritten",
                    code="history_immutable",
                    field="status_history",
                )
            after["status_history"] = before["status_history"]
            check_issuer(after)
            if after == before:
                return before
            await self._check_names(tx, after)
            stamp = format_rfc3339(now)
            await tx.put_issuer(after, stamp, created=False)
            await tx.add_audit(stamp, actor, "issuer.update", issuer_id, before, after)
            await mark_changed(tx, now)
        return after

    async def set_status(
        self, issuer_id: str, change: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Add ``{status, from, reason}`` to the history; ``from`` defaults to now and may be
        in the future (the change takes effect then) or in the past (recorded as such)."""
        now = self.clock()
        schema.validate(schema.STATUS_CHANGE, change, "status change")
        entry = {
            "status": change["status"],
            "from": format_rfc3339(parse_rfc3339(change["from"]) if "from" in change else now),
            "reason": change["reason"],
        }
        async with self.store.write() as tx:
            before = await tx.issuer(issuer_id)
            if before is None:
                raise NotFound(f"no issuer {issuer_id!r}", code="issuer_not_found")
            after = dict(before)
            after["status_history"] = normalize_history([*before["status_history"], entry])
            check_issuer(after)
            stamp = format_rfc3339(now)
            await tx.put_issuer(after, stamp, created=False)
            await tx.add_audit(stamp, actor, "issuer.status", issuer_id, before, after)
            await mark_changed(tx, now)
        return after

    def parse_source(
        self, doc: Any, source: str, progress: Progress = ignore
    ) -> list[dict[str, Any]]:
        """Validate a whole source document (file or import body) before anything is written."""
        if not isinstance(doc, dict) or not isinstance(doc.get("issuers"), list):
            raise Malformed(f"{source}: must be a mapping with 'jurisdiction' and 'issuers' list")
        total = len(doc["issuers"])
        # Entries first, so that an error names the entry by its position and id.
        for index, entry in enumerate(doc["issuers"]):
            progress(VALIDATING, index, total)
            label = entry.get("id") if isinstance(entry, dict) else None
            where = f"{source}: issuers[{index}]" + (
                f" ({label})" if isinstance(label, str) else ""
            )
            if not isinstance(entry, dict):
                raise SchemaInvalid(f"{where}: must be a mapping", [(f"issuers[{index}]", "")])
            entry = doc["issuers"][index] = pinned_key_forms(entry, where, f"issuers[{index}]")
            check_issuer(entry, where, f"issuers[{index}]")
        progress(VALIDATING, total, total)
        # The entries passed above; the envelope is checked without checking them again.
        schema.validate(schema.ISSUER_SOURCE, {**doc, "issuers": []}, source)
        if doc["jurisdiction"] != self.jurisdiction:
            raise InvalidInput(
                f"{source}: jurisdiction: {doc['jurisdiction']} is not this node's "
                f"({self.jurisdiction})",
                code="jurisdiction_mismatch",
                field="jurisdiction",
            )
        entries: list[dict[str, Any]] = doc["issuers"]
        check_unique_ids(entries, source)
        return entries

    async def import_entries(
        self, entries: list[dict[str, Any]], actor: str, progress: Progress = ignore
    ) -> ImportResult:
        """Upsert many issuers in one transaction; histories are merged, never shortened.
        ``progress`` hears of each entry before it is written; nothing is visible to readers
        (or published) before the whole import commits."""
        async with self.store.write() as tx:
            result = await self.merge_in(tx, entries, actor, progress)
        progress(IMPORTING, len(entries), len(entries))
        return result

    async def merge_in(
        self, tx: Tx, entries: list[dict[str, Any]], actor: str, progress: Progress = ignore
    ) -> ImportResult:
        """:meth:`import_entries` inside the caller's transaction."""
        now = self.clock()
        stamp = format_rfc3339(now)
        created = updated = unchanged = 0
        total = len(entries)
        for index, entry in enumerate(entries):
            progress(IMPORTING, index, total)
            before = await tx.issuer(entry["id"])
            if before is None:
                after = dict(entry, status_history=normalize_history(entry["status_history"]))
            else:
                history = _merge_history(before["status_history"], entry["status_history"])
                after = dict(entry, status_history=history)
            if after == before:
                unchanged += 1
                continue
            # A merged history is new data: it must pass the schema too (size limits).
            check_issuer(after, f"issuer {after['id']}")
            await self._check_names(tx, after)
            await tx.put_issuer(after, stamp, created=before is None)
            action = "issuer.create" if before is None else "issuer.update"
            await tx.add_audit(stamp, actor, action, after["id"], before, after)
            created += before is None
            updated += before is not None
        if created or updated:
            await mark_changed(tx, now)
        return ImportResult(created, updated, unchanged)
