"""Signed receipts: an answer to a verifier as a JWS compact token (docs/protocol.md 11.3),
signed with the node's current list signing key, so that it can be kept and checked offline
(core/receipts.py: the token's form; core/jwks.py: how long its key stays in /jwks.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import receipts as corereceipts
from registry_node.core import strictjson
from registry_node.core.errors import InvalidInput, Rejected
from registry_node.core.keys import SigningKey
from registry_node.core.model import b64url_decode, canonical_json
from registry_node.core.reasons import hint
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.timeutil import (
    Clock,
    format_rfc3339,
    from_numeric_date,
    parse_rfc3339,
    to_numeric_date,
)
from registry_node.services.keystore import KeyStore
from registry_node.services.store import Store

RECEIPT_TYP = corereceipts.TYP


class Receipts:
    def __init__(self, config: NodeConfig, store: Store, keystore: KeyStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.keystore = keystore
        self.clock = clock
        self._signer: SigningKey | None = None

    async def _current_signer(self) -> SigningKey:
        """The current key; its file is read again only after a rotation changed it."""
        current = await self.store.read.keys("current")
        if not current:
            raise RuntimeError("no current signing key")
        record = current[0]
        signer = self._signer
        if signer is None or signer.kid != record.kid:
            signer = self._signer = self.keystore.load(record.file, record.alg, record.kid)
        return signer

    async def sign(self, answer: Mapping[str, Any]) -> str:
        """The answer as a JWS compact token signed with the node's current list key."""
        signer = await self._current_signer()
        claims = {
            "iss": self.config.node_id,
            "sub": answer["question"]["id"],
            "iat": to_numeric_date(self.clock()),
            "exp": to_numeric_date(parse_rfc3339(answer["expires"])),
            "answer": answer,
        }
        return corereceipts.sign(canonical_json(claims), signer)

    def check(self, token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
        """What ``POST /v1/receipts/verify`` answers (docs/protocol.md section 11.7): whether
        ``token`` is a receipt this node signed, checked with ``jwks`` (its ``/jwks.json``)
        exactly as ``registry-node receipt verify`` checks it, and what it says."""
        try:
            receipt = corereceipts.check(token, corereceipts.trusted_keys(jwks, "/jwks.json"))
        except (Rejected, InvalidInput) as exc:
            detail = exc.detail
            issuer = _unverified_iss(token)
            if exc.code == "unknown_key" and issuer not in (None, self.config.node_id):
                detail += (
                    f"; the receipt says it is from {issuer}, not this node "
                    f"({self.config.node_id}): check it with that node's /jwks.json"
                )
            return {
                "verified": False,
                "code": exc.code,
                "detail": detail,
                "hint": hint(exc.code, family="receipt") or None,
            }
        claims = receipt.claims
        now = to_numeric_date(self.clock())
        exp = claims["exp"]
        return {
            "verified": True,
            "kid": receipt.header["kid"],
            "alg": receipt.header["alg"],
            "iss": claims["iss"],
            "sub": claims["sub"],
            "iat": format_rfc3339(from_numeric_date(claims["iat"])),
            "exp": _instant(exp),
            "expired": isinstance(exp, int) and exp <= now,
            "answer": claims["answer"],
        }


def _instant(value: Any) -> Any:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return format_rfc3339(from_numeric_date(value)) if ok else value


def _unverified_iss(token: str) -> str | None:
    """The ``iss`` a token claims, unverified: only to say which node to ask instead."""
    try:
        claims = strictjson.loads(b64url_decode(token.strip().split(".")[1]))
    except (IndexError, ValueError, StrictJSONError):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None
