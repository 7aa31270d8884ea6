"""peers.yaml: the neighbouring states this node fetches, validated against ``peers-v1.json``.

A mistake names the peer and the field (``peers.yaml: peers[1] (https://registry.in.example):
threshold: ...``). Pins may be full JWKs or RFC 7638 thumbprints; both are reduced to
thumbprints, and a full JWK pin also supplies its key material.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from registry_node.core import schema
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.keys import import_public_jwk
from registry_node.core.model import canonical_json
from registry_node.core.timeutil import parse_duration

DEFAULT_REFRESH = timedelta(minutes=15)
MIN_REFRESH = timedelta(seconds=30)
#: The longest ``exp - iat`` a peer's list may have unless its entry says otherwise: a stolen
#: key cannot mint a list that stays fresh for longer (the freeze attack). A node's own
#: ``list_validity`` must fit it (config.py).
DEFAULT_MAX_VALIDITY = timedelta(days=3)
MAX_MAX_VALIDITY = timedelta(days=31)
#: A pin written as a string: an RFC 7638 thumbprint (SHA-256, base64url without padding)
PIN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
#: What a pin looks like, for the error that refuses one that does not
PIN_FORM = (
    "a pin is 43 base64url characters: the RFC 7638 SHA-256 thumbprint of the neighbour's "
    "key, as printed by `registry-node peers invite` (or the key itself as a public JWK)"
)


@dataclass(frozen=True)
class Scope:
    """What a peer may vouch for: authorizations in these jurisdictions, for these credential
    types (None: any type). By default a peer vouches only for its own jurisdiction."""

    jurisdictions: frozenset[str]
    credential_types: frozenset[str] | None = None


@dataclass(frozen=True)
class PeerConfig:
    id: str
    jurisdiction: str
    url: str
    pinned_thumbprints: frozenset[str]
    pinned_jwks: tuple[dict[str, Any], ...] = ()
    threshold: int = 1
    refresh: timedelta = DEFAULT_REFRESH
    scope: Scope = field(default_factory=lambda: Scope(frozenset()))
    on_stale: str = "reject"
    max_validity: timedelta = DEFAULT_MAX_VALIDITY

    @property
    def pins_id(self) -> str:
        """Identifies the pin set, so that re-pinning by the operator resets the trusted keys."""
        data = canonical_json(sorted(self.pinned_thumbprints))
        return hashlib.sha256(data).hexdigest()[:16]

    @property
    def terms_id(self) -> str:
        """Identifies everything a list is judged or used under (identity, pins, threshold,
        scope, validity bound, ``on_stale``): when it changes, the held list is judged again
        from its stored bytes at once, and is not used until it has passed (section 9.1)."""
        scope = self.scope
        data = canonical_json(
            [
                self.id,
                self.jurisdiction,
                sorted(self.pinned_thumbprints),
                self.threshold,
                sorted(scope.jurisdictions),
                None if scope.credential_types is None else sorted(scope.credential_types),
                int(self.max_validity.total_seconds()),
                self.on_stale,
            ]
        )
        return hashlib.sha256(data).hexdigest()[:16]


def refetch_needed(before: PeerConfig | None, after: PeerConfig) -> bool:
    """Does a reload from ``before`` to ``after`` call for fetching the peer's list at once,
    whatever its backoff? Yes when where the list comes from or the keys that must sign it
    changed: the operator has just fixed or re-pinned the peer, and the failures counted under
    the old settings say nothing about the new ones. (Other changes of terms need no fetch:
    the held list is judged again from its stored bytes.)"""
    return before is not None and (
        before.url != after.url or before.pinned_thumbprints != after.pinned_thumbprints
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_allowed(url: str, *, allow_http_loopback: bool = True) -> bool:
    """May the node fetch from ``url``? https, or plain http to a loopback address when
    ``allow_http_loopback`` (section 9.1)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and allow_http_loopback and _is_loopback(parts.hostname or "")
    )


def parse_peers(doc: Any, source: str, *, allow_http_loopback: bool = True) -> list[PeerConfig]:
    """Validate a whole peers document; raise ConfigError naming the peer and the field."""
    if doc is None:
        doc = {"peers": []}
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: must be a mapping with a 'peers' list", code="peers_invalid")
    peers_doc = doc.get("peers")
    if isinstance(peers_doc, list):
        for index, entry in enumerate(peers_doc):
            if isinstance(entry, dict):
                _check_entry(entry, index, source)
    try:
        schema.validate(schema.PEERS, doc, source)
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code="peers_invalid", field=exc.field) from exc
    peers = [
        _peer(entry, index, source, allow_http_loopback) for index, entry in enumerate(doc["peers"])
    ]
    seen: dict[str, int] = {}
    for index, peer in enumerate(peers):
        if peer.id in seen:
            raise ConfigError(
                f"{source}: peers[{index}] ({peer.id}): id: already used by peers[{seen[peer.id]}]",
                code="peers_invalid",
                field=f"peers[{index}].id",
            )
        seen[peer.id] = index
    return peers


def _label(entry: dict[str, Any], index: int, source: str) -> str:
    ident = entry.get("id")
    return f"{source}: peers[{index}]" + (f" ({ident})" if isinstance(ident, str) else "")


def _check_pins(entry: dict[str, Any], index: int, source: str) -> None:
    """A pin that is neither a thumbprint nor a JWK gets an error that says what a pin looks
    like (the schema alone would say only that it matches neither form)."""
    pins = entry.get("keys")
    if not isinstance(pins, list):
        return
    for pos, pin in enumerate(pins):
        if isinstance(pin, dict) or (isinstance(pin, str) and PIN_PATTERN.fullmatch(pin)):
            continue
        if isinstance(pin, str):
            shown = f"{pin[:60]!r} ({len(pin)} characters)"
        else:
            shown = f"{type(pin).__name__} {str(pin)[:60]!r}"
        raise ConfigError(
            f"{_label(entry, index, source)}: keys[{pos}]: {shown} is not a pin; {PIN_FORM}",
            code="peers_invalid",
            field=f"peers[{index}].keys[{pos}]",
        )


def _check_entry(entry: dict[str, Any], index: int, source: str) -> None:
    _check_pins(entry, index, source)
    try:
        schema.validate(
            schema.PEERS + "#/$defs/peer", entry, _label(entry, index, source), f"peers[{index}]"
        )
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code="peers_invalid", field=exc.field) from exc


def _peer(entry: dict[str, Any], index: int, source: str, allow_http_loopback: bool) -> PeerConfig:
    where = _label(entry, index, source)

    def fail(member: str, why: str) -> ConfigError:
        return ConfigError(
            f"{where}: {member}: {why}", code="peers_invalid", field=f"peers[{index}].{member}"
        )

    if not url_allowed(entry["url"], allow_http_loopback=allow_http_loopback):
        raise fail("url", "must be https (plain http is allowed only to a loopback address)")
    thumbprints: set[str] = set()
    jwks: list[dict[str, Any]] = []
    for pos, pin in enumerate(entry["keys"]):
        if isinstance(pin, str):
            thumbprints.add(pin)
            continue
        try:
            key = import_public_jwk(pin)
        except InvalidInput as exc:
            raise fail(f"keys[{pos}]", exc.detail) from exc
        thumbprints.add(key.thumbprint())
        jwks.append(dict(pin))
    threshold = entry.get("threshold", 1)
    if threshold > len(thumbprints):
        raise fail("threshold", f"{threshold} exceeds the {len(thumbprints)} distinct pinned keys")
    refresh = parse_duration(entry.get("refresh", int(DEFAULT_REFRESH.total_seconds())))
    if refresh < MIN_REFRESH:
        raise fail("refresh", f"must be at least {int(MIN_REFRESH.total_seconds())}s")
    max_validity = parse_duration(
        entry.get("max_validity", int(DEFAULT_MAX_VALIDITY.total_seconds()))
    )
    if not MIN_REFRESH <= max_validity <= MAX_MAX_VALIDITY:
        raise fail(
            "max_validity",
            f"must be between {int(MIN_REFRESH.total_seconds())}s and {MAX_MAX_VALIDITY.days}d",
        )
    scope_doc = entry.get("scope", {})
    types = scope_doc.get("credential_types")
    scope = Scope(
        jurisdictions=frozenset(scope_doc.get("jurisdictions", [entry["jurisdiction"]])),
        credential_types=frozenset(types) if types is not None else None,
    )
    return PeerConfig(
        id=entry["id"],
        jurisdiction=entry["jurisdiction"],
        url=entry["url"],
        pinned_thumbprints=frozenset(thumbprints),
        pinned_jwks=tuple(jwks),
        threshold=threshold,
        refresh=refresh,
        scope=scope,
        on_stale=entry.get("on_stale", "reject"),
        max_validity=max_validity,
    )
