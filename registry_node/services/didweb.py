"""Resolving did:web over the network: OFF unless ``credentials.resolve_did_web`` is true.

Keys pinned in the trust lists always come first; a did:web issuer that the lists pin no key
for is looked up only when the operator enabled this. Then:

- the DID document is fetched over https only, with the limits of a peer fetch (timeouts, an
  overall deadline, a body limit, same-origin redirects), through the fetcher of
  services/fetcher.py;
- the host name is resolved by a resolver that drops every loopback, private, link-local,
  multicast, reserved or unspecified address, so the connection can only go to a public one
  (checking the addresses the connection really uses also defeats DNS rebinding);
- the document's ``id`` must be the DID asked for, and only its verification methods whose
  controller is that DID and that ``assertionMethod`` refers to are used; a document holding
  private key material is refused (core/credentials/diddoc.py, the same rules as for a
  document the operator hands the node).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from registry_node.config import FederationConfig
from registry_node.core import strictjson
from registry_node.core.credentials.diddoc import DidDocumentProblem, assertion_methods
from registry_node.core.errors import FetchFailed
from registry_node.core.strictjson import StrictJSONError
from registry_node.services.fetcher import Fetcher, new_session

DID_MEDIA_TYPE = "application/did+json, application/json;q=0.9"
MAX_DID_DOCUMENT = 256 * 1024


def did_web_url(did: str) -> str:
    """The https URL of a did:web DID's document (W3C did:web method, section 3.2)."""
    if not did.startswith("did:web:") or "#" in did or "?" in did:
        raise ValueError(f"{did!r} is not a did:web DID")
    parts = did.removeprefix("did:web:").split(":")
    host = unquote(parts[0])
    if not host or "/" in host or "@" in host:
        raise ValueError(f"{did!r} has no valid host")
    path = "/".join(unquote(p) for p in parts[1:])
    if any(p in ("", ".", "..") for p in parts[1:]):
        raise ValueError(f"{did!r} has an empty or relative path segment")
    return f"https://{host}/{path}/did.json" if path else f"https://{host}/.well-known/did.json"


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class PublicOnlyResolver(AbstractResolver):
    """Resolves names to public addresses only; a name with none is a connection error."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        public = [r for r in found if is_public(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to non-public addresses: refused")
        return public

    async def close(self) -> None:
        await self.inner.close()


def methods_of(document: Any, did: str) -> list[dict[str, Any]]:
    """The verification methods of ``did``'s fetched document that may sign its credentials
    (the rules of core/credentials/diddoc.py). Raises FetchFailed with the rule's code."""
    try:
        return assertion_methods(document, did)
    except DidDocumentProblem as exc:
        raise FetchFailed(exc.detail, code=exc.code) from None


class DidWebResolver:
    """Fetches did:web documents with the peer-fetch limits and public addresses only."""

    def __init__(
        self,
        config: FederationConfig,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        limits = replace(config, max_list_bytes=MAX_DID_DOCUMENT)
        self.session = session or new_session(limits, PublicOnlyResolver())
        self.fetcher = Fetcher(self.session, limits)

    async def methods(self, did: str) -> list[dict[str, Any]]:
        """Raises FetchFailed (with a reason code) when the DID cannot be resolved."""
        try:
            url = did_web_url(did)
        except ValueError as exc:
            raise FetchFailed(str(exc), code="did_invalid") from None
        fetched = await self.fetcher.fetch(url, accept=DID_MEDIA_TYPE)
        try:
            document = strictjson.loads(fetched.body)
        except StrictJSONError:
            raise FetchFailed(f"{url} is not JSON", code="did_document_malformed") from None
        return methods_of(document, did)

    async def close(self) -> None:
        await self.session.close()
