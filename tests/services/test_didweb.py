"""did:web resolution: off by default; when on, https only, public addresses only, and the
document must be the DID's own."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from registry_node.config import FederationConfig, NodeConfig
from registry_node.core.errors import FetchFailed
from registry_node.services.didweb import (
    DidWebResolver,
    PublicOnlyResolver,
    did_web_url,
    is_public,
    methods_of,
)
from registry_node.services.fetcher import new_session
from registry_node.services.node import Node
from registry_node.services.verifier import Verifier, issuers_in
from tests import credential_factory as cf
from tests.helpers import FakeClock


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:college.example", "https://college.example/.well-known/did.json"),
        ("did:web:college.example%3A8443", "https://college.example:8443/.well-known/did.json"),
        ("did:web:college.example:units:nursing", "https://college.example/units/nursing/did.json"),
    ],
)
def test_did_web_url(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize(
    "did", ["did:key:z6Mk", "did:web:", "did:web:a.example:..:x", "did:web:a.example#k", "x"]
)
def test_did_web_url_refuses(did: str) -> None:
    with pytest.raises(ValueError, match=r"did:web|host|segment"):
        did_web_url(did)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 (an address to refuse, not one to bind)
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_only_public_addresses_count(address: str, public: bool) -> None:
    assert is_public(address) is public


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_drops_private_addresses() -> None:
    mixed = PublicOnlyResolver(FixedResolver("10.0.0.7", "93.184.215.14"))
    assert [r["host"] for r in await mixed.resolve("college.example", 443)] == ["93.184.215.14"]
    with pytest.raises(OSError, match="non-public"):
        await PublicOnlyResolver(FixedResolver("127.0.0.1")).resolve("college.example", 443)


async def test_a_did_on_loopback_is_refused_before_connecting() -> None:
    """The name resolves to loopback, where something listens: no connection is made."""
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    config = FederationConfig()
    spy = FixedResolver("127.0.0.1")
    resolver = DidWebResolver(config, new_session(config, PublicOnlyResolver(spy)))
    try:
        with pytest.raises(FetchFailed) as caught:
            await resolver.methods(f"did:web:college.example%3A{port}")
    finally:
        await resolver.close()
        listener.close()
        await listener.wait_closed()
    assert caught.value.code == "connection_failed"
    assert spy.asked == ["college.example"]
    assert connections == 0


def test_the_document_must_be_the_dids_own() -> None:
    did = "did:web:college.example"
    key = cf.multikey(cf.ed25519().public_key())
    doc = {
        "id": did,
        "verificationMethod": [
            {"id": "#key-1", "type": "Multikey", "controller": did, "publicKeyMultibase": key},
            {"id": "did:web:other.example#k", "type": "Multikey", "publicKeyMultibase": key},
        ],
        "assertionMethod": ["#key-1", "did:web:other.example#k"],
    }
    assert [m["id"] for m in methods_of(doc, did)] == [f"{did}#key-1"]
    with pytest.raises(FetchFailed) as caught:
        methods_of({**doc, "id": "did:web:evil.example"}, did)
    assert caught.value.code == "did_document_mismatch"
    leaked = dict(
        doc, verificationMethod=[{**doc["verificationMethod"][0], "secretKeyMultibase": "z1"}]
    )
    with pytest.raises(FetchFailed) as caught:
        methods_of(leaked, did)
    assert caught.value.code == "did_document_private_key"


def test_issuers_of_a_credential_and_what_it_carries() -> None:
    key = cf.ed25519()
    inner = cf.sign_jws(cf.open_badge("did:web:b.example"), key, "Ed25519")
    clr: dict[str, Any] = {
        "issuer": {"id": "did:web:a.example"},
        "credentialSubject": {"verifiableCredential": [inner, {"issuer": "did:web:c.example"}]},
    }
    assert issuers_in(clr) == ["did:web:a.example", "did:web:b.example", "did:web:c.example"]
    assert issuers_in("not a jws") == []


async def test_off_by_default(config: NodeConfig, clock: FakeClock) -> None:
    node = await Node.open(config, clock)
    try:
        assert node.verifier.did_web is None
    finally:
        await node.close()


class StubDidWeb:
    """Stands in for the network: the document of one did:web issuer."""

    def __init__(self, did: str, methods: list[dict[str, Any]]) -> None:
        self.documents = {did: methods}
        self.asked: list[str] = []

    async def methods(self, did: str) -> list[dict[str, Any]]:
        self.asked.append(did)
        if did not in self.documents:
            raise FetchFailed("no such DID", code="http_status")
        return self.documents[did]

    async def close(self) -> None:
        pass


async def test_when_on_an_unpinned_did_web_key_is_resolved(
    config: NodeConfig, clock: FakeClock
) -> None:
    did = "did:web:college.example"
    key = cf.ed25519()
    stub = StubDidWeb(did, [cf.multikey_method(f"{did}#key-1", key)])
    node = await Node.open(config, clock)
    verifier = Verifier(node.resolver, config.federation.clock_skew, stub)  # type: ignore[arg-type]
    try:
        credential = cf.sign_data_integrity(cf.open_badge(did), key, f"{did}#key-1")
        result = await verifier.verify(credential)
        checks = {c["name"]: c["passed"] for c in result["credential"]["checks"]}
        assert checks["signature"] and checks["issuer_binding"]
        assert not checks["trusted_now"]  # resolving a key says nothing about trust
        assert stub.asked == [did]
        plain = Verifier(node.resolver, config.federation.clock_skew)
        refused = await plain.verify(credential)
        codes = {c["name"]: c["code"] for c in refused["credential"]["checks"]}
        assert codes["signature"] == "unknown_key"
        await plain.close()
    finally:
        await verifier.close()
        await node.close()
