"""The Trust over IP TRQP v2 binding's logic (docs/protocol.md section 12): which authority a
question is put to, how a TRQP ``resource`` maps to the node's questions, and when a peer is
recognised. The HTTP edge (http/queries.py) parses and validates the request and renders the
answer; the questions themselves are answered by the lookup index."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core.errors import NotFound
from registry_node.core.timeutil import format_rfc3339, from_numeric_date, to_numeric_date
from registry_node.core.trust import TRUSTED, UNKNOWN, Question
from registry_node.services.peers import PeerRegistry
from registry_node.services.resolver import Resolver

ISSUE = "issue"
RECOGNIZE = ("recognize", "issue")
#: The DID methods whose keys the node resolves for credentials (docs/protocol.md 13.2).
DID_METHODS = ("did:key", "did:web")
CTID = re.compile(r"ce-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Request bodies up to this size have their rendered answers kept (a usual one is ~150 bytes).
MAX_REMEMBERED_BODY = 2048
#: Rendered answers kept per snapshot of the index, at most.
RENDERED_CACHE_SIZE = 10_000
_AUTHORIZATION = "authorization"


@dataclass(frozen=True)
class Verdict:
    """A TRQP answer: authorized (or recognized), and a message for people. ``until``: the
    instant (POSIX seconds) from which the same question may be answered differently, while the
    index and the peers' terms stay as they are."""

    granted: bool
    message: str
    until: float = math.inf


@dataclass(frozen=True)
class Rendered:
    """A whole answer rendered once: ``head`` + time_evaluated + ``tail`` is its JSON."""

    head: bytes
    tail: bytes
    until: float
    generation: int


class Trqp:
    def __init__(self, config: NodeConfig, resolver: Resolver, peers: PeerRegistry) -> None:
        self.config = config
        self.resolver = resolver
        self.peers = peers

    def _known_authority(self, authority: str) -> bool:
        """This node (the federated answer), or a source in use by its id or jurisdiction."""
        return authority == self.config.node_id or self.resolver.is_authority(authority)

    def metadata(self, authority: str | None) -> dict[str, Any]:
        """The Ayra TRQP profile's registry metadata (docs/protocol.md section 12.3): this
        registry, the authority it answers for (``authority`` when given: one whose questions
        it answers, else its own id), and its governance framework."""
        config = self.config
        if authority is not None and not self._known_authority(authority):
            raise NotFound(
                f"authority_id: {authority!r} is neither this node, a peer, nor their jurisdiction",
                code="authority_not_found",
                field="authority_id",
            )
        out: dict[str, Any] = {
            "id": config.node_id,
            "name": config.name,
            "description": (
                f"{config.name}: the registry of the Learning and Employment Record issuers "
                f"{config.jurisdiction} trusts. It answers TRQP v2 authorization questions for "
                f"its own id {config.node_id} (from every list it holds), for its jurisdiction "
                "and for each neighbouring state it federates with (from that state's signed "
                "list), and recognition questions about those states."
            ),
            "authority_id": authority or config.node_id,
            "supported_did_methods": list(DID_METHODS),
        }
        if config.governance_framework:
            out["governance_framework_id"] = config.governance_framework
        return out

    def authorize(
        self, entity: str, authority: str, action: str, resource: str, at: datetime | None
    ) -> Verdict:
        """Is ``entity`` authorised by ``authority`` (this node, a peer, or a jurisdiction)
        to ``action`` the ``resource``? Raises NotFound for what the registry does not know."""
        resolver = self.resolver
        if not self._known_authority(authority):
            raise NotFound(
                f"authority_id: {authority!r} is neither this node, a peer, nor their jurisdiction",
                code="authority_not_found",
                field="authority_id",
            )
        if action != ISSUE:
            raise NotFound(
                f"action: {action!r} is not recognised; this registry answers {ISSUE!r}",
                code="action_not_found",
                field="action",
            )
        scope = None if authority == self.config.node_id else authority
        answer, until = self._ask_resource(entity, resource, at, scope)
        # A trusted answer proves the resource known; only a refusal needs the (costlier) check.
        if answer["outcome"] != TRUSTED and not resolver.knows_resource(resource):
            raise NotFound(
                f"resource: {resource!r} is not a credential type, achievement type or CTID "
                "that any list names",
                code="resource_not_found",
                field="resource",
            )
        if answer["outcome"] == UNKNOWN:
            raise NotFound(
                f"entity_id: {entity!r} is not known to {authority!r}: {answer['detail']}",
                code="entity_not_found",
                field="entity_id",
            )
        return Verdict(
            answer["outcome"] == TRUSTED,
            f"{answer['outcome']} ({answer['reason']}): {answer['detail']}",
            until,
        )

    def _ask_resource(
        self, name: str, resource: str, at: datetime | None, authority: str | None
    ) -> tuple[Mapping[str, Any], float]:
        """Ask about ``resource`` as a credential type, then as an achievement type; the
        first answer that is not ``not_authorized`` (or ``not_listed``) stands. With it, the
        earliest ``until`` of the decisions it rests on (both, when both were asked)."""
        resolver = self.resolver
        when = (at or resolver.clock()).timestamp()
        now = at is None
        untils: list[float] = []

        def ask(
            credential_type: str | None = None,
            achievement_type: str | None = None,
            ctid: str | None = None,
        ) -> Mapping[str, Any]:
            q = Question(name, when, credential_type, achievement_type, ctid, at_now=now)
            decided = resolver.decided(q, authority)
            untils.append(decided.until)
            return decided.answer

        if CTID.fullmatch(resource):
            answer = ask(ctid=resource)
            return answer, min(untils)
        answer = ask(credential_type=resource)
        # Not a credential type any source is trusted for: ask again as an achievement type.
        unsure = ("not_authorized", "not_listed")
        if answer["outcome"] != TRUSTED and answer["reason"] in unsure:
            other = ask(achievement_type=resource)
            if other["reason"] not in unsure or answer["reason"] == "not_listed":
                return other, min(untils)
        return answer, min(untils)

    # -- answers rendered once ----------------------------------------------------------
    #
    # An authorization answer depends only on the request body, the index's snapshot, the
    # peers' terms (the policy generation) and the clock: it stands until its ``until``. So
    # the edge's rendering of it is kept with the snapshot (a change of the index drops them
    # all), keyed by the exact body bytes, and only time_evaluated is spliced in per request.

    def rendered_authorization(self, body: bytes) -> bytes | None:
        """The answer to the authorization request ``body`` rendered before from the current
        snapshot and terms, if it still stands; None otherwise."""
        resolver = self.resolver
        held: Rendered | None = resolver.snapshot.rendered.get((_AUTHORIZATION, body))
        if held is None or held.generation != resolver.policy_generation():
            return None
        now = resolver.clock().timestamp()
        if now >= held.until:
            return None
        return b"".join((held.head, resolver.now_text(now).encode(), held.tail))

    def remember_authorization(self, body: bytes, head: bytes, tail: bytes, until: float) -> None:
        """Keep the rendering of the answer to ``body``, made just now from the current
        snapshot (no await between the answer and this call)."""
        if len(body) > MAX_REMEMBERED_BODY:
            return
        rendered = self.resolver.snapshot.rendered
        if len(rendered) >= RENDERED_CACHE_SIZE:
            rendered.clear()
        generation = self.resolver.policy_generation()
        rendered[(_AUTHORIZATION, body)] = Rendered(head, tail, until, generation)

    def recognize(self, entity: str, authority: str, action: str, resource: str) -> Verdict:
        """Does this node recognise the peer ``entity`` for ``resource`` (section 12.2)?"""
        config = self.config
        if authority not in (config.node_id, config.jurisdiction):
            raise NotFound(
                f"authority_id: this node answers recognition questions only as {config.node_id!r}",
                code="authority_not_found",
                field="authority_id",
            )
        if action not in RECOGNIZE:
            raise NotFound(
                f"action: {action!r} is not recognised; use 'recognize'",
                code="action_not_found",
                field="action",
            )
        peer = self.peers.by_authority(entity)
        if peer is None:
            raise NotFound(
                f"entity_id: {entity!r} is not a peer of this node",
                code="entity_not_found",
                field="entity_id",
            )
        index = self.resolver.snapshot.sources.get(peer.id)
        if index is None or not self.resolver.current(index):
            return Verdict(False, f"no list from {peer.jurisdiction} is held under today's terms")
        if index.info.exp <= to_numeric_date(self.resolver.clock()):
            expired = format_rfc3339(from_numeric_date(index.info.exp))
            return Verdict(
                False, f"the list held from {peer.jurisdiction} is stale (expired {expired})"
            )
        types = peer.scope.credential_types
        if not (types is None or resource in types or resource in index.resources()):
            return Verdict(
                False, f"{resource!r} is outside the scope this node trusts {peer.jurisdiction} for"
            )
        return Verdict(
            True,
            f"{peer.jurisdiction} is a peer with a fresh list (seq {index.info.seq}, "
            f"expires {format_rfc3339(from_numeric_date(index.info.exp))})",
        )
