"""A neighbouring state's node, simulated: an aiohttp app serving lists signed on demand.

Knobs: the signing keys, announced keys, seq, prev, validity, iat, payload overrides, the raw
body, HTTP status, redirects, chunked transfer, and a drip (one byte at a time).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp import web

from registry_node.core import keys
from registry_node.core.model import b64url, canonical_json, digest
from registry_node.core.signing import TYP, sign_list
from registry_node.core.timeutil import to_numeric_date
from tests.helpers import FakeClock


def sim_issuer(
    n: int, jurisdiction: str = "US-IN", types: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": f"did:web:issuer{n}.{jurisdiction.lower()}.example",
        "name": f"Issuer {n}",
        "org_type": "higher_education",
        "authorizations": [
            {
                "credential_types": types or ["OpenBadgeCredential"],
                "achievement_types": ["Degree"],
                "jurisdiction": jurisdiction,
            }
        ],
        "status_history": [{"status": "active", "from": "2020-01-01T00:00:00Z"}],
    }


class PeerSimulator:
    def __init__(
        self,
        clock: FakeClock,
        peer_id: str = "https://registry.indiana.example",
        jurisdiction: str = "US-IN",
        issuers: int = 3,
    ) -> None:
        self.clock = clock
        self.peer_id = peer_id
        self.jurisdiction = jurisdiction
        self.signers = [keys.generate()]
        self.declared: list[keys.SigningKey] | None = None  # `keys` member; default: signers
        self.announced: list[keys.SigningKey] = []  # `next_keys` member
        self.issuers = [sim_issuer(n, jurisdiction) for n in range(issuers)]
        self.validity = timedelta(hours=24)
        self.seq = 0
        self.bodies: dict[int, bytes] = {}
        self.current = b""
        # HTTP knobs
        self.status = 200
        self.body_override: bytes | None = None
        self.redirect_to: str | None = None
        self.redirect_loop = False  # /trust-list and /moved redirect to each other
        self.chunked = False
        self.drip: float | None = None
        self.gate: asyncio.Event | None = None  # when set up, each request waits for it
        self.arrived = asyncio.Event()  # set when a request has arrived
        self.requests = 0
        self.publish()

    @property
    def pins(self) -> list[str]:
        return [k.kid for k in self.signers]

    def payload(self, seq: int, **overrides: Any) -> dict[str, Any]:
        now = to_numeric_date(self.clock())
        declared = self.declared if self.declared is not None else self.signers
        payload = {
            "version": 1,
            "iss": self.peer_id,
            "jurisdiction": self.jurisdiction,
            "name": "Indiana LER Trust Registry",
            "seq": seq,
            "iat": now,
            "exp": now + int(self.validity.total_seconds()),
            "prev": digest(self.bodies[seq - 1]) if seq - 1 in self.bodies else None,
            "keys": [k.public_jwk() for k in declared],
            "next_keys": [k.public_jwk() for k in self.announced],
            "issuers": self.issuers,
        }
        payload.update(overrides)
        return payload

    def publish(self, seq: int | None = None, **overrides: Any) -> bytes:
        """Sign and serve a new version (the next seq unless given)."""
        self.seq = seq if seq is not None else self.seq + 1
        body = sign_list(canonical_json(self.payload(self.seq, **overrides)), self.signers)
        self.bodies[self.seq] = body
        self.current = body
        return body

    def serve_version(self, seq: int) -> None:
        self.current = self.bodies[seq]

    def unsigned_body(self, header: dict[str, Any]) -> bytes:
        """A body whose only signature has ``header`` and an empty signature."""
        payload = canonical_json(self.payload(self.seq + 1))
        return canonical_json(
            {
                "payload": b64url(payload),
                "signatures": [
                    {"protected": b64url(canonical_json({"typ": TYP, **header})), "signature": ""}
                ],
            }
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.redirect_loop:
            raise web.HTTPFound("/moved" if request.path == "/trust-list" else "/trust-list")
        if self.redirect_to is not None and request.path == "/trust-list":
            raise web.HTTPFound(self.redirect_to)
        if self.status == 304:
            return web.Response(status=304)
        if self.status != 200:
            return web.Response(status=self.status, text="simulated failure")
        body = self.body_override if self.body_override is not None else self.current
        etag = f'"{digest(body)}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if self.drip is not None or self.chunked:
            resp = web.StreamResponse(
                headers={"ETag": etag, "Content-Type": "application/jose+json"}
            )
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            step = 1 if self.drip is not None else 4096
            for i in range(0, len(body), step):
                await resp.write(body[i : i + step])
                if self.drip is not None:
                    await asyncio.sleep(self.drip)  # the adversary's pace, not the test's
            await resp.write_eof()
            return resp
        return web.Response(body=body, headers={"ETag": etag}, content_type="application/jose+json")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/trust-list", self.handle)
        app.router.add_get("/moved", self.handle)
        return app
