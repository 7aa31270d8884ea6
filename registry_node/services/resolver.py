"""The trust resolver: who vouches for an issuer, for what, and as of when.

An issuer is looked up by any of its names (``id`` or ``aka``) in this state's own issuers and
in every configured peer's last accepted list. A peer whose list is past its ``exp`` is stale:
with ``on_stale: reject`` its entries are not used and the answer says so; with ``warn`` they
are used and marked stale (docs/protocol.md section 9.5). A peer removed from peers.yaml is not
consulted at all.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.model import status_at
from registry_node.core.timeutil import Clock, format_rfc3339, from_numeric_date, to_numeric_date
from registry_node.services.federation import Federation
from registry_node.services.store import Store


def _answer(entry: dict[str, Any], source: str, jurisdiction: str, at: datetime) -> dict[str, Any]:
    status = status_at(entry["status_history"], at)
    return {
        "source": source,
        "source_jurisdiction": jurisdiction,
        "id": entry["id"],
        "aka": entry.get("aka", []),
        "name": entry["name"],
        "org_type": entry["org_type"],
        "status": None if status is None else status.status,
        "status_since": None if status is None else format_rfc3339(status.since),
        "status_reason": None if status is None else status.reason,
        "authorizations": entry.get("authorizations", []),
        "keys": entry.get("keys", []),
        "stale": False,
    }


class Resolver:
    def __init__(
        self, config: NodeConfig, store: Store, federation: Federation, clock: Clock
    ) -> None:
        self.config = config
        self.store = store
        self.federation = federation
        self.clock = clock

    async def lookup(self, name: str, at: datetime | None = None) -> dict[str, Any]:
        now = self.clock()
        when = at or now
        sources: list[dict[str, Any]] = []
        unavailable: list[dict[str, Any]] = []
        local = await self.store.read.issuer_by_name(name)
        if local is not None:
            sources.append(_answer(local, self.config.node_id, self.config.jurisdiction, when))
        rows = await self.store.read.peer_entries_named(name)
        lists = await self.store.read.peer_lists() if rows else {}
        for peer_id, text in rows:
            peer = self.federation.peers.get(peer_id)
            accepted = lists.get(peer_id)
            if peer is None or accepted is None:
                continue
            stale = accepted.exp <= to_numeric_date(now)
            expired = format_rfc3339(from_numeric_date(accepted.exp))
            if stale and peer.on_stale == "reject":
                unavailable.append(
                    {"source": peer_id, "reason": "stale", "detail": f"its list expired {expired}"}
                )
                continue
            answer = _answer(json.loads(text), peer_id, peer.jurisdiction, when)
            answer["stale"] = stale
            answer["list"] = {"seq": accepted.seq, "exp": expired}
            sources.append(answer)
        return {
            "name": name,
            "at": format_rfc3339(when),
            "known": bool(sources),
            "sources": sources,
            "unavailable": unavailable,
        }
