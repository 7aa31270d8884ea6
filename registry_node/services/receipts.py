"""Signed receipts: an answer to a verifier as a JWS compact token (docs/protocol.md 11.3),
signed with the node's current list signing key, so that it can be kept and checked offline
(core/receipts.py: the token's form; core/jwks.py: how long its key stays in /jwks.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import receipts as corereceipts
from registry_node.core.keys import SigningKey
from registry_node.core.model import canonical_json
from registry_node.core.timeutil import Clock, parse_rfc3339, to_numeric_date
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
