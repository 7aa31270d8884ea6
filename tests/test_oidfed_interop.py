"""The OpenID Federation binding with the clients verifiers really use, against real node
processes (tests/e2e_harness.py: Ohio, Indiana and Michigan pinning each other's keys).

The npm packages are installed into tests/interop by ``make install-test`` (package-lock.json
pins them) and run with the machine's Node.js:

- ``@digitalcredentials/issuer-registry-client``, pointed at a node's Entity Configuration,
  finds the node's own issuer and a peer state's issuer with their names, and not a revoked one;
- ``@digitalcredentials/verifier-core``'s ``verifyCredential`` passes its ``registered_issuer``
  step for a credential whose issuer the node trusts, and fails it for one it does not;
- the ``jose`` library verifies the Entity Configuration, the statements and each resolve
  answer's trust chain hop by hop, and a chain through the peer's node.

Each script refuses any request beyond loopback and reports any it saw: everything they find,
they find on the nodes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from registry_node.core import oidfed
from registry_node.core.model import b64url_decode
from tests import credential_factory
from tests.e2e_harness import Federation, NodeProcess, federation

INTEROP = Path(__file__).resolve().parent / "interop"
OHIO_REVOKED = "https://www.great-lakes-welding-institute.example"
OHIO_UNIVERSITY = "did:web:credentials.buckeye-state-university.example"
INDIANA_UNIVERSITY = "did:web:credentials.hoosier-state-university.example"
#: the issuer of the credentials below, added to Ohio's list by the test
ISSUER_KEY = credential_factory.ed25519()
ISSUER_DID = credential_factory.did_key(ISSUER_KEY)
STRANGER_KEY = credential_factory.ed25519()


async def node_script(script: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Run ``node tests/interop/<script>`` with ``doc`` as JSON on standard input."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed: install it, then `make install-test`"
    assert (INTEROP / "node_modules").is_dir(), "run `make install-test` (npm ci)"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(INTEROP / script),
        cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            out, err = await proc.communicate(json.dumps(doc).encode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{err.decode()}"
    result: dict[str, Any] = json.loads(out)
    assert result["outside"] == [], f"{script} tried to leave loopback: {result['outside']}"
    return result


def ec_url(node: NodeProcess) -> str:
    return f"{node.url}/.well-known/openid-federation"


def credential(key: Any, number: int) -> dict[str, Any]:
    """A VC 2.0 credential signed with eddsa-rdfc-2022 by the did:key of ``key`` (only the
    VC 2.0 context, which the verifier's document loader carries: nothing is fetched)."""
    did = credential_factory.did_key(key)
    unsigned = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"urn:uuid:5d1c8a52-0000-4000-8000-{number:012d}",
        "type": ["VerifiableCredential"],
        "issuer": did,
        "validFrom": "2025-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:learner-7", "name": "Jo Learner"},
    }
    return credential_factory.sign_data_integrity(
        unsigned, key, credential_factory.did_key_method(key)
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Federation]:
    async with federation(tmp_path_factory.mktemp("oidfed")) as running:
        ohio = running.oh
        entry = {
            "id": ISSUER_DID,
            "name": "Scioto Credentialing Office (fictional)",
            "org_type": "workforce_agency",
            "url": "https://credentials.scioto.example",
            "authorizations": [
                {"credential_types": ["VerifiableCredential"], "jurisdiction": "US-OH"}
            ],
        }
        status, body = await ohio.admin("POST", "/issuers", entry)
        assert status == 201, body
        await ohio.publish()
        await running.settle()
        yield running


@pytest.mark.asyncio(loop_scope="module")
async def test_the_dcc_registry_client_finds_own_and_peer_issuers(fed: Federation) -> None:
    ohio = fed.oh
    revoked = await ohio.lookup(OHIO_REVOKED)
    assert (revoked["outcome"], revoked["reason"]) == ("not_trusted", "revoked")
    names = {"Ohio": ohio, "Indiana": fed.in_}
    for state, node in names.items():
        asked = [OHIO_UNIVERSITY, INDIANA_UNIVERSITY, OHIO_REVOKED, "did:web:nobody.example"]
        result = await node_script(
            "registry_client.mjs",
            {"entityConfiguration": ec_url(node), "name": state, "issuers": asked},
        )
        found = result["found"]
        for issuer, name, legal in (
            (OHIO_UNIVERSITY, "Buckeye State University", "Buckeye"),
            (INDIANA_UNIVERSITY, "Hoosier State University", "Hoosier"),
        ):
            assert found[issuer]["uncheckedRegistries"] == [], (state, issuer)
            (match,) = found[issuer]["matchingIssuers"]
            meta = match["issuer"]
            assert meta["federation_entity"]["organization_name"] == name
            assert legal in meta["institution_additional_information"]["legal_name"]
            assert meta["credential_registry_entity"]["ce_url"].startswith(
                "https://credentialengineregistry.org/resources/ce-"
            )
            # The registry the client reports is the node it was pointed at.
            assert match["registry"]["federation_entity"]["organization_name"].startswith(
                f"{state} registry"
            )
        for missing in (OHIO_REVOKED, "did:web:nobody.example"):
            assert found[missing] == {"matchingIssuers": [], "uncheckedRegistries": []}, (
                state,
                missing,
            )


@pytest.mark.asyncio(loop_scope="module")
async def test_verifier_core_registered_issuer_step(fed: Federation) -> None:
    for node in (fed.oh, fed.in_):  # Ohio's own issuer, and at Indiana a peer state's
        trusted = await node_script(
            "verifier_core.mjs",
            {
                "entityConfiguration": ec_url(node),
                "name": node.state.name,
                "credential": credential(ISSUER_KEY, 1),
            },
        )
        assert trusted["errors"] is None, trusted
        assert trusted["steps"]["valid_signature"]["valid"] is True, trusted
        step = trusted["steps"]["registered_issuer"]
        assert step["valid"] is True and step["uncheckedRegistries"] == []
        (match,) = step["matchingIssuers"]
        name = match["issuer"]["federation_entity"]["organization_name"]
        assert name == "Scioto Credentialing Office (fictional)"
    stranger = await node_script(
        "verifier_core.mjs",
        {
            "entityConfiguration": ec_url(fed.oh),
            "name": "Ohio",
            "credential": credential(STRANGER_KEY, 2),
        },
    )
    assert stranger["steps"]["valid_signature"]["valid"] is True, stranger
    step = stranger["steps"]["registered_issuer"]
    assert (step["valid"], step["matchingIssuers"], step["uncheckedRegistries"]) == (False, [], [])


@pytest.mark.asyncio(loop_scope="module")
async def test_statements_and_chains_verify_with_jose(fed: Federation) -> None:
    ohio, indiana = fed.oh, fed.in_
    result = await node_script(
        "jose_chain.mjs",
        {
            "entityConfiguration": ec_url(ohio),
            "anchor": ohio.id,
            "subjects": [OHIO_UNIVERSITY, INDIANA_UNIVERSITY, ISSUER_DID, indiana.id],
            "peer": {
                "id": indiana.id,
                "entityConfiguration": ec_url(indiana),
                "issuer": INDIANA_UNIVERSITY,
            },
        },
    )
    assert sorted(result["configuration"]["authority_hints"]) == sorted([indiana.id, fed.mi.id])
    subjects = result["subjects"]
    assert subjects[OHIO_UNIVERSITY]["vouched_by"] == [ohio.id]
    assert subjects[INDIANA_UNIVERSITY]["vouched_by"] == [indiana.id]
    assert all(s["chain"] == 2 for s in subjects.values())
    peer = result["peer"]
    # Indiana's statement about its issuer, Ohio's about Indiana, Ohio's configuration.
    assert peer["chain"] == [INDIANA_UNIVERSITY, indiana.id, ohio.id]
    assert peer["name"] == "Hoosier State University" and peer["max_path_length"] == 0
    assert ohio.id in peer["peer_hints"] and peer["exp_ok"] is True


@pytest.mark.asyncio(loop_scope="module")
async def test_a_resolver_through_the_states_graph_ends_and_keeps_to_the_constraints(
    fed: Federation,
) -> None:
    """The nodes' authority_hints point both ways (a graph with loops): the search of
    core/oidfed.py ends, and of its paths only those whose every hop has a statement, that
    keep to the statements' max_path_length and to the metadata policies of the statements
    about peers remain: Ohio directly, or through Indiana, whose list vouches for it."""
    by_id = {node.id: node for node in fed.nodes.values()}
    hints: dict[str, list[str]] = {}
    for node in fed.nodes.values():
        async with fed.http.get(ec_url(node)) as resp:
            claims = json.loads(b64url_decode((await resp.text()).split(".")[1]))
        hints[node.id] = claims.get("authority_hints", [])
    assert all(len(h) == 2 for h in hints.values())  # each state names the other two

    async def statement(superior: str, subject: str) -> dict[str, Any] | None:
        url = f"{by_id[superior].url}/federation/fetch"
        async with fed.http.get(url, params={"sub": subject}) as resp:
            if resp.status != 200:
                return None
            claims: dict[str, Any] = json.loads(b64url_decode((await resp.text()).split(".")[1]))
            return claims

    leaf, ohio = INDIANA_UNIVERSITY, fed.oh.id
    # A leaf's superiors are the nodes that answer for it (it has no configuration).
    vouching = [n for n in by_id if await statement(n, leaf) is not None]
    assert sorted(vouching) == sorted(by_id)  # every state trusts Indiana's university
    paths = oidfed.chains(leaf, ohio, lambda e: vouching if e == leaf else hints[e])
    assert [leaf, fed.in_.id, fed.mi.id, ohio] in paths  # a loop-free walk through two states
    statements = {
        (path[i + 1], path[i]): await statement(path[i + 1], path[i])
        for path in paths
        for i in range(len(path) - 1)
    }

    def policy_holds(path: list[str]) -> bool:
        """The superiors' metadata policies, applied to what the leaf's superior states."""
        metadata = (statements[(path[1], path[0])] or {}).get("metadata", {})
        for i in range(1, len(path) - 1):
            policy = (statements[(path[i + 1], path[i])] or {}).get("metadata_policy", {})
            metadata = oidfed.apply_policy(metadata, policy)
            if metadata is None:
                return False
        return True

    def limit(superior: str, subject: str) -> int | None:
        found = statements[(superior, subject)] or {}
        value = found.get("constraints", {}).get("max_path_length")
        return value if isinstance(value, int) else None

    valid = [
        path
        for path in paths
        if all(statements[(path[i + 1], path[i])] for i in range(len(path) - 1))
        and oidfed.within_constraints(path, limit)
    ]
    # Michigan answers for Indiana's university too, from Indiana's list: a chain through
    # Michigan keeps to max_path_length, and only Ohio's policy on Michigan refuses it.
    assert [leaf, fed.mi.id, ohio] in valid
    valid = [path for path in valid if policy_holds(path)]
    assert valid == [[leaf, ohio], [leaf, fed.in_.id, ohio]]
