"""The OpenID Federation 1.0 binding (docs/protocol.md section 14; docs/adr/0012): what the node
states about itself, its issuers and its peers' nodes, signed with its federation keys (the
list signing keys).

Every statement comes from the lookup index that answers ``GET /v1/issuers/{id}``: a
Subordinate Statement about an issuer is issued exactly when that answer is ``trusted`` and
rests on no stale list, and it expires no later than the lists it rests on. A statement about a
peer's node is issued while its list is in use (held under today's terms and fresh). The claims
are built by core/oidfed.py; the HTTP edge is http/oidfed.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import oidfed
from registry_node.core.keys import SigningKey, thumbprint
from registry_node.core.model import canonical_json
from registry_node.core.peers import PeerConfig
from registry_node.core.signing import sign_compact
from registry_node.core.timeutil import Clock, parse_rfc3339, to_numeric_date
from registry_node.core.trust import TRUSTED, Question
from registry_node.services.index import Snapshot
from registry_node.services.keystore import KeyStore
from registry_node.services.peers import PeerRegistry
from registry_node.services.resolver import Resolver
from registry_node.services.store import Store


class FederationError(Exception):
    """An OpenID Federation error answer (section 8.9): HTTP status, ``error`` and its text."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Statement:
    """A signed statement and the claims it holds."""

    jwt: str
    claims: Mapping[str, Any]


class OpenIdFederation:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        keystore: KeyStore,
        resolver: Resolver,
        peers: PeerRegistry,
        clock: Clock,
    ) -> None:
        self.config = config
        self.store = store
        self.keystore = keystore
        self.resolver = resolver
        self.peers = peers
        self.clock = clock
        self._signer: SigningKey | None = None
        #: the sorted candidate ids of the listings, for one snapshot and peer generation
        self._ids: tuple[Snapshot, int, list[str]] | None = None

    # -- signing ------------------------------------------------------------------------

    async def _current_signer(self) -> SigningKey:
        """The current list signing key; its file is read again only after a rotation."""
        current = await self.store.read.keys("current")
        if not current:
            raise FederationError(503, "temporarily_unavailable", "no current signing key")
        record = current[0]
        signer = self._signer
        if signer is None or signer.kid != record.kid:
            signer = self._signer = self.keystore.load(record.file, record.alg, record.kid)
        return signer

    async def _sign(
        self, claims: Mapping[str, Any], typ: str, signer: SigningKey | None = None
    ) -> Statement:
        signer = signer or await self._current_signer()
        return Statement(sign_compact(canonical_json(claims), signer, typ), claims)

    def _now(self) -> int:
        return to_numeric_date(self.clock())

    def _own_exp(self) -> int:
        """The ``exp`` of the node's own list in use; 503 when there is none or it expired
        (nothing the node states may outlive the list its keys are published in)."""
        own = self.resolver.in_use(self.config.node_id)
        if own is None:
            raise FederationError(
                503, "temporarily_unavailable", "the node's own list is not published or expired"
            )
        return own.exp

    # -- the Entity Configuration --------------------------------------------------------

    async def entity_configuration(self) -> Statement:
        """The node's Entity Configuration: its federation keys (current and announced list
        signing keys), its endpoints, and the peers that recognise it as ``authority_hints``."""
        config = self.config
        now = self._now()
        current = await self.store.read.keys("current")
        upcoming = await self.store.read.keys("next")
        hints = [p for p in self.peers if self.resolver.in_use(p) is not None]
        claims = oidfed.entity_configuration(
            node_id=config.node_id,
            name=config.name,
            jurisdiction=config.jurisdiction,
            base=config.base_url,
            jwks=[k.public_jwk for k in (*current, *upcoming)],
            authority_hints=hints,
            iat=now,
            exp=oidfed.statement_exp(now, [self._own_exp()]),
        )
        return await self._sign(claims, oidfed.STATEMENT_TYP)

    # -- Subordinate Statements ----------------------------------------------------------

    def _issuer_claims(self, sub: str) -> dict[str, Any] | None:
        """The claims of a statement about the issuer named ``sub`` (its id or an aka), or
        None when the node does not trust it now on fresh lists."""
        now = self.clock()
        answer = self.resolver.ask(Question(sub, now.timestamp(), at_now=True))
        if answer["outcome"] != TRUSTED or answer["stale"]:
            return None
        decided = set(answer["decided_by"])
        deciding = [e for e in answer["evidence"] if e["source"] in decided]
        deciding.sort(key=lambda e: not e["local"])  # the node's own entry first
        sources = self.resolver.snapshot.sources
        rests_on: list[float] = [parse_rfc3339(answer["expires"]).timestamp()]
        authorizations: list[dict[str, Any]] = []
        for found in deciding:
            index = sources[found["source"]]
            listing = index.listing(found["entry"]["id"])
            rests_on.append(listing.next_change(now.timestamp()))  # expires: the lists' exp
            # A peer's entries were narrowed to its scope when its list was accepted.
            authorizations += _plain(listing.authorizations)
        primary = sources[deciding[0]["source"]].entry(deciding[0]["entry"]["id"])
        metadata = oidfed.issuer_metadata(
            primary,
            evidence=oidfed.vouched_by(deciding),
            authorizations=authorizations,
            listed_by=deciding[0]["source"],
        )
        iat = int(now.timestamp())
        return oidfed.subordinate_statement(
            iss=self.config.node_id,
            sub=sub,
            iat=iat,
            exp=oidfed.statement_exp(iat, rests_on),
            jwks=[],
            metadata=metadata,
            source_endpoint=self.config.base_url + oidfed.PATHS["fetch"],
        )

    async def _peer_keys(self, peer: PeerConfig) -> list[dict[str, Any]]:
        """The keys a peer's node is pinned with: the full JWKs in peers.yaml, and the keys of
        its held list whose thumbprints are pinned."""
        keys = [dict(k) for k in peer.pinned_jwks]
        held = await self.store.read.peer_list(peer.id)
        seen = {thumbprint(k) for k in keys}
        for key in () if held is None else held.trusted_keys:
            kid = thumbprint(dict(key))
            if kid in peer.pinned_thumbprints and kid not in seen:
                keys.append(dict(key))
                seen.add(kid)
        return keys

    async def _peer_claims(self, peer: PeerConfig) -> dict[str, Any] | None:
        """The claims of a statement about a peer's node, while its list is in use."""
        source = self.resolver.in_use(peer.id)
        if source is None:
            return None
        keys = await self._peer_keys(peer)
        if not keys:
            return None
        iat = self._now()
        metadata = oidfed.peer_metadata(peer.jurisdiction, peer.url)
        types = peer.scope.credential_types
        jurisdictions = peer.scope.jurisdictions or {peer.jurisdiction}
        metadata[oidfed.REGISTRY_TYPE]["scope"] = {
            "jurisdictions": sorted(jurisdictions),
            "credential_types": None if types is None else sorted(types),
        }
        claims = oidfed.subordinate_statement(
            iss=self.config.node_id,
            sub=peer.id,
            iat=iat,
            exp=oidfed.statement_exp(iat, [source.exp, self._own_exp()]),
            jwks=keys,
            metadata=metadata,
            source_endpoint=self.config.base_url + oidfed.PATHS["fetch"],
        )
        # The peer's subordinates are its issuers, leaves: no longer path runs through it;
        # and below it only what its own list says, within what this node trusts it for.
        claims["constraints"] = {"max_path_length": 0}
        claims["metadata_policy"] = oidfed.peer_policy(peer.id, jurisdictions, types)
        return claims

    async def _claims(self, sub: str) -> dict[str, Any]:
        if sub == self.config.node_id:
            raise FederationError(
                400, "invalid_request", "sub is this node itself: see its Entity Configuration"
            )
        self._own_exp()
        peer = self.peers.get(sub)
        claims = await self._peer_claims(peer) if peer is not None else self._issuer_claims(sub)
        if claims is None:
            raise FederationError(
                404, "not_found", f"{sub!r} is not an entity this node vouches for now"
            )
        return claims

    async def fetch(self, sub: str) -> Statement:
        """The Subordinate Statement about ``sub``; 404 ``not_found`` when the node does not
        vouch for it now (revoked, suspended, retired, unknown, only on stale lists, or a peer
        whose list is not in use)."""
        return await self._sign(await self._claims(sub), oidfed.STATEMENT_TYP)

    # -- listing -------------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        """Every issuer id (not aka) in a source and every peer id, sorted."""
        snapshot, generation = self.resolver.snapshot, self.peers.generation
        held = self._ids
        if held is None or held[0] is not snapshot or held[1] != generation:
            ids = {issuer for issuer, _ in snapshot.browse_keys} | set(self.peers)
            held = self._ids = (snapshot, generation, sorted(ids))
        return held[2]

    def _keep(
        self, entity_types: Sequence[str], intermediate: bool | None
    ) -> tuple[Any, list[str]]:
        wanted = frozenset(entity_types)
        candidates = self._candidates()

        def keep(entity_id: str) -> bool:
            is_peer = entity_id in self.peers
            if intermediate is not None and intermediate != is_peer:
                return False
            types = oidfed.PEER_TYPES if is_peer else oidfed.ISSUER_TYPES
            if wanted and not wanted & types:
                return False
            if is_peer:
                return self.resolver.in_use(entity_id) is not None
            return self._vouched(entity_id)

        return keep, candidates

    def _vouched(self, issuer: str) -> bool:
        """Would :meth:`fetch` issue a statement about ``issuer`` now? (The same decision as
        the statement's, without building it.)"""
        answer = self.resolver.decision(Question(issuer, self.clock().timestamp(), at_now=True))
        return answer["outcome"] == TRUSTED and not answer["stale"]

    def list(
        self,
        entity_types: Sequence[str] = (),
        intermediate: bool | None = None,
        trust_marked: bool = False,
    ) -> list[str]:
        """The ids of every entity the node would issue a statement about now (section 8.2)."""
        self._own_exp()
        if trust_marked:
            return []  # this node issues no trust marks
        keep, candidates = self._keep(entity_types, intermediate)
        return [c for c in candidates if keep(c)]

    async def extended_list(
        self,
        entity_types: Sequence[str] = (),
        intermediate: bool | None = None,
        trust_marked: bool = False,
        from_entity_id: str | None = None,
        limit: int = oidfed.PAGE_DEFAULT,
    ) -> dict[str, Any]:
        """One page of :meth:`list`, each entity with its signed statement (the Extended
        Subordinate Listing draft)."""
        self._own_exp()
        keep, candidates = self._keep(entity_types, intermediate)
        if trust_marked:
            candidates = []
        found = oidfed.page(candidates, keep, from_entity_id, min(limit, oidfed.PAGE_MAX))
        if found is None:
            raise FederationError(
                400, "entity_id_not_found", f"from_entity_id {from_entity_id!r} is not listed"
            )
        chunk, following = found
        items = []
        signer = await self._current_signer()  # one key for the whole page
        for entity_id in chunk:
            try:
                claims = await self._claims(entity_id)
            except FederationError:
                continue  # changed while the page was made
            statement = await self._sign(claims, oidfed.STATEMENT_TYP, signer)
            items.append({"id": entity_id, "entity_statement": statement.jwt})
        out: dict[str, Any] = {"immediate_subordinate_entities": items}
        if following is not None:
            out["next_entity_id"] = following
        return out

    # -- resolving -----------------------------------------------------------------------

    async def resolve(
        self, sub: str, trust_anchors: Iterable[str], entity_types: Sequence[str] = ()
    ) -> Statement:
        """The resolved metadata of ``sub`` with its trust chain to this node (section 8.3):
        the node's statement about ``sub`` then its Entity Configuration; for the node itself,
        its Entity Configuration alone. The answer expires with the chain's earliest ``exp``."""
        anchors = list(trust_anchors)
        if self.config.node_id not in anchors:
            raise FederationError(
                404,
                "invalid_trust_anchor",
                f"this node resolves only to itself as trust anchor ({self.config.node_id})",
            )
        configuration = await self.entity_configuration()
        if sub == self.config.node_id:
            chain = [configuration]
            metadata = configuration.claims["metadata"]
        else:
            statement = await self.fetch(sub)
            chain = [statement, configuration]
            metadata = statement.claims["metadata"]
        if entity_types:
            metadata = {k: v for k, v in metadata.items() if k in entity_types}
        claims = oidfed.resolve_claims(
            iss=self.config.node_id,
            sub=sub,
            iat=self._now(),
            metadata=metadata,
            chain=[s.jwt for s in chain],
            chain_exps=[s.claims["exp"] for s in chain],
        )
        return await self._sign(claims, oidfed.RESOLVE_TYP)

    # -- historical keys -----------------------------------------------------------------

    async def historical_keys(self) -> Statement:
        """The federation keys no longer in use, each with the instant it stopped signing as
        its ``exp`` (section 8.7)."""
        records = await self.store.read.keys("retired")
        keys = []
        for record in records:
            if record.retired_at is None:
                continue
            jwk = dict(record.public_jwk)
            since = record.activated_at or record.created_at
            jwk["iat"] = to_numeric_date(parse_rfc3339(since))
            jwk["exp"] = to_numeric_date(parse_rfc3339(record.retired_at))
            keys.append(jwk)
        claims = {"iss": self.config.node_id, "iat": self._now(), "keys": keys}
        return await self._sign(claims, oidfed.JWKS_TYP)


def _plain(authorizations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The authorizations as JSON values (lists, not the index's shared tuples)."""
    return [
        {k: list(v) if isinstance(v, tuple) else v for k, v in auth.items()}
        for auth in authorizations
    ]
