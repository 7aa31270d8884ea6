"""The OpenID Federation 1.0 binding's statements, built from the node's answers (docs/protocol.md
section 14; the profile and its choices are docs/adr/0012).

Pure: no I/O and no clock. The service (services/oidfed.py) says what the node trusts now, from
the same lookup index that answers ``GET /v1/issuers/{id}``, and signs what this module builds:
the node's Entity Configuration, Subordinate Statements about its issuers (its own and its
peers') and about its peers' nodes, the list and extended list pages, resolve answers and the
historical keys.

The profile in short: each node is the Trust Anchor of its state; an issuer is a leaf with no
Entity Configuration of its own (a DID has no ``/.well-known`` to serve one from), so its chain
is the node's Subordinate Statement about it followed by the node's Entity Configuration; a
peer state's node is a recognised Intermediate whose statement carries the keys it is pinned
with, so that a chain also runs through it. An issuer's credential-signing keys are protocol
keys of its ``ler_issuer`` metadata, not federation keys.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry_node.core.credentials.keys import (
    KeyProblem,
    b64url_encode,
    key_from_method,
)

WELL_KNOWN = "/.well-known/openid-federation"
STATEMENT_TYP = "entity-statement+jwt"
STATEMENT_MEDIA = "application/entity-statement+jwt"
RESOLVE_TYP = "resolve-response+jwt"
RESOLVE_MEDIA = "application/resolve-response+jwt"
JWKS_TYP = "jwk-set+jwt"
JWKS_MEDIA = "application/jwk-set+jwt"

#: Entity types (metadata members). Every issuer and peer node is a ``federation_entity``; an
#: issuer is also a ``ler_issuer`` (this profile's type), a node a ``ler_trust_registry``.
FEDERATION_ENTITY = "federation_entity"
ISSUER_TYPE = "ler_issuer"
REGISTRY_TYPE = "ler_trust_registry"
#: The metadata the DCC registry client reads, besides ``federation_entity``.
INSTITUTION_INFO = "institution_additional_information"
CREDENTIAL_ENGINE = "credential_registry_entity"
ROR_ENTITY = "ror_entity"

CE_RESOURCE = "https://credentialengineregistry.org/resources/"
ROR_URL = "https://ror.org/"

#: A statement holds for an hour at most, like an answer (services/index.py), and never past
#: the signed lists it rests on.
STATEMENT_MAX_SECONDS = 3600
#: Extended listing: the most entities on one page, and the default.
PAGE_MAX = 500
PAGE_DEFAULT = 100
#: The longest chain a resolver follows (statements, Entity Configuration included).
MAX_CHAIN_LENGTH = 8

PATHS = {
    "fetch": "/federation/fetch",
    "list": "/federation/list",
    "extended_list": "/federation/list-extended",
    "resolve": "/federation/resolve",
    "historical_keys": "/federation/historical-keys",
}


def endpoints(base: str) -> dict[str, str]:
    """The ``federation_entity`` endpoint parameters of a node served at ``base``."""
    return {
        "federation_fetch_endpoint": base + PATHS["fetch"],
        "federation_list_endpoint": base + PATHS["list"],
        "federation_extended_list_endpoint": base + PATHS["extended_list"],
        "federation_resolve_endpoint": base + PATHS["resolve"],
        "federation_historical_keys_endpoint": base + PATHS["historical_keys"],
    }


def error_body(error: str, description: str) -> dict[str, str]:
    """The OpenID Federation error body (section 8.9): ``error`` and ``error_description``."""
    return {"error": error, "error_description": description}


def statement_exp(iat: int, rests_on: Iterable[float]) -> int:
    """A statement's ``exp``: an hour after ``iat`` at most, and never later than any instant
    it rests on (the ``exp`` of each signed list, the next change of a status)."""
    bounds = [math.floor(t) for t in rests_on if math.isfinite(t)]
    return min([iat + STATEMENT_MAX_SECONDS, *bounds])


# -- the node's Entity Configuration ----------------------------------------------------------


def entity_configuration(
    *,
    node_id: str,
    name: str,
    jurisdiction: str,
    base: str,
    jwks: Sequence[Mapping[str, Any]],
    authority_hints: Sequence[str],
    iat: int,
    exp: int,
    homepage_uri: str | None = None,
) -> dict[str, Any]:
    """The claims of the node's Entity Configuration: ``iss = sub = node_id``, the federation
    keys (the list signing keys, current and announced), and its endpoints. ``authority_hints``
    names the peer nodes that recognise this one (those it recognises: recognition between
    states is mutual), so that a resolver starting from another state finds it."""
    entity: dict[str, Any] = {
        "organization_name": name,
        **endpoints(base),
        "homepage_uri": homepage_uri or base,
    }
    claims: dict[str, Any] = {
        "iss": node_id,
        "sub": node_id,
        "iat": iat,
        "exp": exp,
        "jwks": {"keys": [dict(k) for k in jwks]},
        "metadata": {
            FEDERATION_ENTITY: entity,
            REGISTRY_TYPE: {
                "jurisdiction": jurisdiction,
                "trust_list": f"{base}/trust-list",
                "metadata": f"{base}/.well-known/ler-trust-registry",
            },
        },
    }
    if authority_hints:
        claims["authority_hints"] = sorted(authority_hints)
    return claims


# -- issuers ------------------------------------------------------------------------------------


def _jwk_of(key: Any) -> dict[str, Any]:
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        n, e = rsa_numbers.n, rsa_numbers.e
        return {
            "kty": "RSA",
            "n": b64url_encode(n.to_bytes((n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(e.to_bytes((e.bit_length() + 7) // 8, "big")),
        }
    raise KeyProblem("unsupported_key_type", type(key).__name__)


def credential_jwks(methods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pinned verification methods as public JWKs (``kid``: the method's id where it has
    one, ``use: sig``). A method whose key cannot be read is left out."""
    out: list[dict[str, Any]] = []
    for method in methods:
        try:
            jwk = _jwk_of(key_from_method(method))
        except KeyProblem:
            continue
        if isinstance(method.get("id"), str):
            jwk["kid"] = method["id"]
        jwk["use"] = "sig"
        if jwk not in out:
            out.append(jwk)
    return out


def _identifier(entry: Mapping[str, Any], scheme: str) -> str | None:
    for ident in entry.get("identifiers", ()):
        if ident.get("scheme") == scheme:
            value = ident.get("value")
            return value if isinstance(value, str) else None
    return None


def vouched_by(sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The evidence of which states' lists vouch for an issuer: each deciding source's node
    id, jurisdiction, and the list (seq, digest, iat, exp) its finding rests on."""
    return [
        {
            "source": s["source"],
            "jurisdiction": s["jurisdiction"],
            "local": s["local"],
            "list": {k: s["list"][k] for k in ("seq", "digest", "iat", "exp")},
            "status": s["entry"]["status"],
            "status_since": s["entry"]["status_since"],
        }
        for s in sources
    ]


def issuer_metadata(
    entry: Mapping[str, Any],
    *,
    evidence: Sequence[Mapping[str, Any]],
    authorizations: Sequence[Mapping[str, Any]],
    listed_by: str,
) -> dict[str, Any]:
    """The metadata of an issuer's Subordinate Statement, from its entry in the list that
    decided the answer: what the DCC registry client reads (``federation_entity``,
    ``institution_additional_information``, ``credential_registry_entity``, ``ror_entity``)
    and this profile's ``ler_issuer`` (its credential-signing keys, what it is authorised for,
    which lists vouch for it, and ``listed_by``: the node whose list the entry is from, which
    a superior's metadata policy can require, :func:`peer_policy`)."""
    entity: dict[str, Any] = {"organization_name": entry["name"]}
    if "url" in entry:
        entity["homepage_uri"] = entry["url"]
    if "logo" in entry:
        entity["logo_uri"] = entry["logo"]
    metadata: dict[str, Any] = {FEDERATION_ENTITY: entity}
    if "legal_name" in entry:
        metadata[INSTITUTION_INFO] = {"legal_name": entry["legal_name"]}
    ctid = _identifier(entry, "ctid")
    if ctid is not None:
        metadata[CREDENTIAL_ENGINE] = {"ctid": ctid, "ce_url": CE_RESOURCE + ctid}
    ror = _identifier(entry, "ror")
    if ror is not None:
        metadata[ROR_ENTITY] = {"rorid": ror, "ror_url": ROR_URL + ror}
    issuer: dict[str, Any] = {
        "org_type": entry["org_type"],
        "identifiers": [dict(i) for i in entry.get("identifiers", ())],
        "authorizations": [dict(a) for a in authorizations],
        "jurisdictions": sorted({a["jurisdiction"] for a in authorizations}),
        "credential_types": sorted({t for a in authorizations for t in a["credential_types"]}),
        "listed_by": listed_by,
        "vouched_by": list(evidence),
    }
    if entry.get("aka"):
        issuer["aka"] = list(entry["aka"])
    methods = entry.get("keys", ())
    if methods:
        issuer["jwks"] = {"keys": credential_jwks(methods)}
        issuer["verification_methods"] = [dict(m) for m in methods]
    metadata[ISSUER_TYPE] = issuer
    return metadata


def subordinate_statement(
    *,
    iss: str,
    sub: str,
    iat: int,
    exp: int,
    jwks: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    source_endpoint: str | None = None,
) -> dict[str, Any]:
    """The claims of a Subordinate Statement. ``jwks`` is REQUIRED (an empty set for an issuer
    with no federation keys: under this profile an issuer has no Entity Configuration for
    such keys to verify)."""
    claims: dict[str, Any] = {
        "iss": iss,
        "sub": sub,
        "iat": iat,
        "exp": exp,
        "jwks": {"keys": [dict(k) for k in jwks]},
        "metadata": dict(metadata),
    }
    if source_endpoint is not None:
        claims["source_endpoint"] = source_endpoint
    return claims


def peer_metadata(jurisdiction: str, list_url: str) -> dict[str, Any]:
    """The metadata of a peer node's statement: what this node knows of it from peers.yaml."""
    base = list_url.rsplit("/", 1)[0] if list_url.endswith("/trust-list") else None
    entity: dict[str, Any] = {}
    if base is not None:
        entity["federation_fetch_endpoint"] = base + PATHS["fetch"]
    return {
        FEDERATION_ENTITY: entity,
        REGISTRY_TYPE: {"jurisdiction": jurisdiction, "trust_list": list_url},
    }


def peer_policy(
    peer_id: str, jurisdictions: Iterable[str], credential_types: Iterable[str] | None
) -> dict[str, Any]:
    """The metadata policy of the statement about a peer's node: below it, an issuer is
    accepted only as listed by the peer's own list (not as the peer's answer from a third
    state's list, which this node may not trust), and only for the jurisdictions and credential
    types this node trusts the peer for."""
    issuer: dict[str, Any] = {
        "listed_by": {"one_of": [peer_id], "essential": True},
        "jurisdictions": {"subset_of": sorted(jurisdictions), "essential": True},
    }
    if credential_types is not None:
        issuer["credential_types"] = {"subset_of": sorted(credential_types), "essential": True}
    return {ISSUER_TYPE: issuer}


def apply_policy(metadata: Mapping[str, Any], policy: Mapping[str, Any]) -> dict[str, Any] | None:
    """``metadata`` with ``policy`` applied (the ``one_of``, ``subset_of`` and ``essential``
    operators of OpenID Federation 1.0 section 6.1), or None when it violates the policy: a
    value not ``one_of`` those allowed, an essential parameter absent or, after
    ``subset_of``, empty. Any other operator is a violation (fail closed)."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in metadata.items()}
    for entity_type, parameters in policy.items():
        values = out.get(entity_type)
        for name, operators in parameters.items():
            if set(operators) - {"one_of", "subset_of", "essential"}:
                return None
            present = isinstance(values, dict) and name in values
            if not present:
                if operators.get("essential"):
                    return None
                continue
            assert isinstance(values, dict)
            value = values[name]
            if "one_of" in operators and value not in operators["one_of"]:
                return None
            if "subset_of" in operators:
                if not isinstance(value, list):
                    return None
                value = values[name] = [v for v in value if v in operators["subset_of"]]
                if not value and operators.get("essential"):
                    return None
    return out


# -- listing --------------------------------------------------------------------------------


#: The entity types of each kind of subordinate (the ``entity_type`` filter of the listings).
ISSUER_TYPES = frozenset({FEDERATION_ENTITY, ISSUER_TYPE})
PEER_TYPES = frozenset({FEDERATION_ENTITY, REGISTRY_TYPE})


def page(
    ids: Sequence[str], keep: Callable[[str], bool], from_entity_id: str | None, limit: int
) -> tuple[list[str], str | None] | None:
    """One page of the sorted ``ids`` that ``keep`` keeps: from ``from_entity_id`` (included)
    on, at most ``limit`` of them, and the id that starts the next page (None on the last).
    None when ``from_entity_id`` is given but is not a kept id (the Extended Listing's
    ``entity_id_not_found``). ``keep`` is called only as far as the page reaches."""
    start = 0
    if from_entity_id is not None:
        start = bisect_left(ids, from_entity_id)
        if start >= len(ids) or ids[start] != from_entity_id or not keep(from_entity_id):
            return None
    chunk: list[str] = []
    for position in range(start, len(ids)):
        entity_id = ids[position]
        if not keep(entity_id):
            continue
        if len(chunk) == limit:
            return chunk, entity_id
        chunk.append(entity_id)
    return chunk, None


# -- resolving ------------------------------------------------------------------------------


def resolve_claims(
    *,
    iss: str,
    sub: str,
    iat: int,
    metadata: Mapping[str, Any],
    chain: Sequence[str],
    chain_exps: Sequence[int],
) -> dict[str, Any]:
    """The claims of a resolve answer: its ``exp`` is the earliest ``exp`` in the chain."""
    if not chain or len(chain) != len(chain_exps):
        raise ValueError("a resolve answer needs its whole chain")
    return {
        "iss": iss,
        "sub": sub,
        "iat": iat,
        "exp": min(chain_exps),
        "metadata": dict(metadata),
        "trust_chain": list(chain),
    }


def chains(
    leaf: str,
    anchor: str,
    superiors: Callable[[str], Iterable[str]],
    *,
    max_length: int = MAX_CHAIN_LENGTH,
) -> list[list[str]]:
    """Every path of entity ids from ``leaf`` up to ``anchor`` through ``superiors`` (each
    entity's authority hints), shortest first. Peer nodes that recognise each other make loops;
    a path never visits an entity twice, and none is longer than ``max_length`` entities, so
    the search ends on any graph."""
    found: list[list[str]] = []
    frontier: list[list[str]] = [[leaf]]
    while frontier:
        following: list[list[str]] = []
        for path in frontier:
            if path[-1] == anchor:
                found.append(path)
                continue
            if len(path) >= max_length:
                continue
            for superior in sorted(set(superiors(path[-1]))):
                if superior not in path:
                    following.append([*path, superior])
        frontier = following
    return found


def within_constraints(
    path: Sequence[str], max_path_length: Callable[[str, str], int | None]
) -> bool:
    """Does the chain ``path`` (leaf first, anchor last) respect every ``max_path_length``
    that a superior on it sets for its subject (``max_path_length(superior, subject)``, None
    for none)? A statement about ``path[i]`` allows at most that many intermediates between
    ``path[i]`` and the leaf (OpenID Federation 1.0 section 6.2)."""
    for i in range(1, len(path) - 1):
        limit = max_path_length(path[i + 1], path[i])
        if limit is not None and i - 1 > limit:
            return False
    return True


__all__ = [
    "CE_RESOURCE",
    "ISSUER_TYPE",
    "JWKS_MEDIA",
    "PATHS",
    "RESOLVE_MEDIA",
    "STATEMENT_MEDIA",
    "apply_policy",
    "chains",
    "credential_jwks",
    "endpoints",
    "entity_configuration",
    "error_body",
    "issuer_metadata",
    "page",
    "peer_policy",
    "resolve_claims",
    "statement_exp",
    "subordinate_statement",
    "within_constraints",
]
