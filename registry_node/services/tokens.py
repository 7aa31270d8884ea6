"""Admin bearer tokens. A token is shown once when created; only its SHA-256 is stored.

Tokens are 256-bit random strings, so a fast hash is the right one: there is nothing to brute
force that a slow hash would protect (docs/adr/0003-admin-tokens.md).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from registry_node.core.errors import InvalidInput, NotFound
from registry_node.core.timeutil import Clock, format_rfc3339
from registry_node.services.store import Store

PREFIX = "rnt_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def list(self) -> list[dict[str, Any]]:
        """Every token's id, name and dates (never the token or its hash)."""
        return await self.store.read.tokens()

    async def create(self, name: str, actor: str) -> tuple[int, str]:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("token name: 1 to 100 characters", field="name")
        token = PREFIX + secrets.token_urlsafe(32)
        stamp = format_rfc3339(self.clock())
        async with self.store.write() as tx:
            token_id = await tx.insert_token(name, hash_token(token), stamp)
            await tx.add_audit(
                stamp, actor, "token.create", f"token {token_id}", None, {"name": name}
            )
        return token_id, token

    async def revoke(self, token_id: int, actor: str) -> None:
        stamp = format_rfc3339(self.clock())
        async with self.store.write() as tx:
            if not await tx.revoke_token(token_id, stamp):
                raise NotFound(f"no active token {token_id}", code="token_not_found")
            await tx.add_audit(stamp, actor, "token.revoke", f"token {token_id}", None, None)

    async def authenticate(self, token: str) -> str | None:
        """The token's name when it is valid and not revoked, else None."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        found = await self.store.read.token_by_hash(hash_token(token))
        return None if found is None else found[1]
