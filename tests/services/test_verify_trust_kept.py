"""The trust decisions behind ``POST /v1/verify`` are kept with the index's snapshot
(services/index.py) and reused: whatever they rest on changing must change the very next
answer. A new snapshot (a list published, a peer's list accepted or withdrawn), a change of the
peers' terms (the policy generation) and the instant an answer could change (a status step)
each do.

Each test verifies the same credential with one verifier, changes one thing, and verifies
again. Last, where the check runs: on the event loop for a small credential, in the worker
thread otherwise, never two at once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_node.core.timeutil import format_rfc3339, to_numeric_date
from registry_node.services import verifier as verifier_module
from registry_node.services.index import Snapshot, SourceIndex, TrustIndex, source_index
from registry_node.services.verifier import INLINE_MAX_BYTES, Verifier
from tests import credential_factory as cf
from tests.helpers import FakeClock

OHIO = "https://registry.ohio.example"  # the node's own list
INDIANA = "https://registry.indiana.example"  # a peer's list
JURISDICTION = {OHIO: "US-OH", INDIANA: "US-IN"}
COLLEGE = "did:web:college.ohio.example"
METHOD = f"{COLLEGE}#key-1"
SUITES = ["eddsa-jcs-2022", "eddsa-rdfc-2022"]
AUTHORIZED = [
    {
        "credential_types": ["OpenBadgeCredential"],
        "achievement_types": ["Certificate"],
        "jurisdiction": "US-OH",
    }
]
ACTIVE = [{"status": "active", "from": "2020-01-01T00:00:00Z"}]


class Peers:
    """The peers' terms as the node holds them: each peer's ``on_stale`` (None: not
    configured), and a generation that changes with every reload."""

    def __init__(self) -> None:
        self.on_stale: dict[str, str | None] = {INDIANA: "reject"}
        self.generation = 0

    def reload(self, **on_stale: str | None) -> None:
        self.on_stale = {INDIANA: on_stale.get("indiana")}
        self.generation += 1


class Index(TrustIndex):
    def __init__(self, clock: FakeClock, peers: Peers) -> None:
        super().__init__(clock, lambda peer: peers.on_stale.get(peer))
        self.peers = peers

    def policy_generation(self) -> int:
        return self.peers.generation


def entry(
    key: Ed25519PrivateKey | None,
    history: Sequence[Mapping[str, Any]] = ACTIVE,
    authorizations: Sequence[Mapping[str, Any]] = AUTHORIZED,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": COLLEGE,
        "name": "Ohio State College",
        "org_type": "higher_education",
        "authorizations": list(authorizations),
        "status_history": list(history),
    }
    if key is not None:
        doc["keys"] = [cf.multikey_method(METHOD, key)]
    return doc


def snapshot(clock: FakeClock, lists: Mapping[str, dict[str, Any]]) -> Snapshot:
    now = to_numeric_date(clock())
    sources: dict[str, SourceIndex] = {}
    for source_id, doc in lists.items():
        sources[source_id] = source_index(
            source_id,
            JURISDICTION[source_id],
            source_id == OHIO,
            (3, "d" * 43, now - 3600, now + 86400, None),
            {COLLEGE: json.dumps(doc)},
            {COLLEGE: []},
        )
    return Snapshot(sources)


def trust(result: Mapping[str, Any]) -> dict[str, tuple[bool, str]]:
    checks = result["credential"]["checks"]
    return {c["name"]: (c["passed"], c["code"]) for c in checks if c["name"].startswith("trusted")}


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return cf.ed25519()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def badge(key: Ed25519PrivateKey, suite: str) -> dict[str, Any]:
    return cf.sign_data_integrity(cf.open_badge(COLLEGE), key, METHOD, cryptosuite=suite)


def verifier(index: TrustIndex) -> Verifier:
    return Verifier(index, timedelta(minutes=5))


@pytest.mark.parametrize("suite", SUITES)
def test_a_revocation_published_changes_the_very_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None)})
    check = verifier(index)
    credential = badge(key, suite)
    for _ in range(3):  # kept, and reused
        assert check.verify_now(credential)["verdict"] == "valid"
    revoked = [*ACTIVE, {"status": "revoked", "from": format_rfc3339(clock() - timedelta(hours=1))}]
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None, revoked)})
    result = check.verify_now(credential)
    assert result["verdict"] == "invalid"
    assert trust(result)["trusted_now"] == (False, "revoked")


@pytest.mark.parametrize("suite", SUITES)
def test_the_list_that_pins_the_key_withdrawing_an_authorisation_changes_the_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    """The decision among the sources that pin the key (Indiana's) is kept too: Ohio still
    authorises the college, but only Indiana's finding counts."""
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None)})
    check = verifier(index)
    credential = badge(key, suite)
    assert check.verify_now(credential)["verdict"] == "valid"
    assert check.verify_now(credential)["credential"]["trust"]["now"]["decided_by"] == [INDIANA]
    other = [{"credential_types": ["ClrCredential"], "jurisdiction": "US-IN"}]
    index.snapshot = snapshot(clock, {INDIANA: entry(key, authorizations=other), OHIO: entry(None)})
    result = check.verify_now(credential)
    assert result["verdict"] == "invalid"
    assert trust(result) == {
        "trusted_at_issuance": (False, "not_authorized"),
        "trusted_now": (False, "not_authorized"),
    }


@pytest.mark.parametrize("suite", SUITES)
def test_a_peer_list_withdrawn_changes_the_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    """Ohio pins the key; Indiana's list, which revoked the college, is withdrawn (the new
    snapshot lacks it): its revocation no longer applies."""
    index = Index(clock, Peers())
    revoked = [*ACTIVE, {"status": "revoked", "from": "2025-06-01T00:00:00Z"}]
    index.snapshot = snapshot(clock, {INDIANA: entry(None, revoked), OHIO: entry(key)})
    check = verifier(index)
    credential = badge(key, suite)
    assert trust(check.verify_now(credential))["trusted_now"] == (False, "revoked")
    assert trust(check.verify_now(credential))["trusted_now"] == (False, "revoked")
    index.snapshot = snapshot(clock, {OHIO: entry(key)})
    assert check.verify_now(credential)["verdict"] == "valid"


@pytest.mark.parametrize("suite", SUITES)
def test_the_peers_terms_changing_changes_the_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    """Same snapshot, new terms: Indiana's list (which revoked the college) is set aside when
    the peer is no longer configured, and counts again once it is."""
    peers = Peers()
    index = Index(clock, peers)
    revoked = [*ACTIVE, {"status": "revoked", "from": "2025-06-01T00:00:00Z"}]
    index.snapshot = snapshot(clock, {INDIANA: entry(None, revoked), OHIO: entry(key)})
    check = verifier(index)
    credential = badge(key, suite)
    assert trust(check.verify_now(credential))["trusted_now"] == (False, "revoked")
    peers.reload(indiana=None)
    assert check.verify_now(credential)["verdict"] == "valid"
    assert check.verify_now(credential)["verdict"] == "valid"
    peers.reload(indiana="reject")
    assert trust(check.verify_now(credential))["trusted_now"] == (False, "revoked")


@pytest.mark.parametrize("suite", SUITES)
def test_a_status_step_coming_due_changes_the_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    """A suspension the list announced for later applies from its instant on, with nothing
    else changed."""
    index = Index(clock, Peers())
    later = format_rfc3339(clock() + timedelta(minutes=30))
    history = [*ACTIVE, {"status": "suspended", "from": later}]
    index.snapshot = snapshot(clock, {INDIANA: entry(key, history)})
    check = verifier(index)
    credential = badge(key, suite)
    assert check.verify_now(credential)["verdict"] == "valid"
    clock.advance(minutes=29)
    assert check.verify_now(credential)["verdict"] == "valid"
    clock.advance(minutes=1)
    result = check.verify_now(credential)
    assert trust(result)["trusted_now"] == (False, "suspended")


# --- where the check runs -----------------------------------------------------------------


async def test_a_small_credential_is_checked_on_the_loop_a_large_one_in_the_worker(
    clock: FakeClock, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small (as sent) and no other verification running: on the event loop. Larger than
    INLINE_MAX_BYTES, of unknown size, or while another verification runs: in the worker
    thread, never two at once."""
    threads: list[str] = []
    real = verifier_module.verify_credential

    def recording(*args: Any, **kw: Any) -> Any:
        threads.append(threading.current_thread().name)
        assert not check._busy.acquire(blocking=False)
        return real(*args, **kw)

    monkeypatch.setattr(verifier_module, "verify_credential", recording)
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None)})
    check = verifier(index)
    credential = badge(key, "eddsa-jcs-2022")
    loop = threading.current_thread().name
    try:
        assert (await check.verify(credential, 1500))["verdict"] == "valid"
        assert (await check.verify(credential, INLINE_MAX_BYTES))["verdict"] == "valid"
        assert threads == [loop, loop]
        assert (await check.verify(credential, INLINE_MAX_BYTES + 1))["verdict"] == "valid"
        assert (await check.verify(credential))["verdict"] == "valid"
        assert threads[2:] != [loop, loop]
        assert all(name.startswith("verify") for name in threads[2:])
        with check._busy:
            pending = asyncio.ensure_future(check.verify(credential, 1500))
            await asyncio.sleep(0)
            assert not pending.done()
        assert (await pending)["verdict"] == "valid"
        assert threads[4].startswith("verify")
    finally:
        await check.close()


async def test_a_small_credential_that_would_take_long_is_checked_again_in_the_worker(
    clock: FakeClock, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blank-node poisoning in a small body: the quick check on the loop gives up after a few
    canonicalisation steps, and the worker's whole check gives the answer it always gave."""
    ids = [f"_:n{i}" for i in range(9)]
    clique = [
        {"@id": me, "http://example.org/p": [{"@id": o} for o in ids if o != me]} for me in ids
    ]
    credential = cf.sign_data_integrity(
        {
            "@context": [cf.VC_V2],
            "type": ["VerifiableCredential"],
            "issuer": COLLEGE,
            "validFrom": "2025-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:learner", "@included": clique},
        },
        key,
        METHOD,
        cryptosuite="eddsa-jcs-2022",
    )
    credential["proof"]["cryptosuite"] = "eddsa-rdfc-2022"
    size = len(json.dumps(credential))
    assert size <= INLINE_MAX_BYTES
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {INDIANA: entry(key)})
    check = verifier(index)
    try:
        for _ in range(2):  # its shapes learnt, so only canonicalisation is left
            await check.verify(credential, size)
        threads: list[str] = []
        real = verifier_module.verify_credential

        def recording(*args: Any, **kw: Any) -> Any:
            threads.append(threading.current_thread().name)
            return real(*args, **kw)

        monkeypatch.setattr(verifier_module, "verify_credential", recording)
        result = await check.verify(credential, size)
        assert threads[0] == threading.current_thread().name
        assert len(threads) == 2 and threads[1].startswith("verify")
        signature = next(c for c in result["credential"]["checks"] if c["name"] == "signature")
        assert signature["code"] == "not_canonicalizable"
        assert result == check.verify_now(credential) | {"verified_at": result["verified_at"]}
    finally:
        await check.close()


# -- the keys pinned for an issuer, kept with the snapshot too --------------------------------


def signature(result: Mapping[str, Any]) -> tuple[bool, str]:
    checks = result["credential"]["checks"]
    found = next(c for c in checks if c["name"] == "signature")
    return found["passed"], found["code"]


@pytest.mark.parametrize("suite", SUITES)
def test_a_key_replaced_by_a_new_snapshot_is_the_key_of_the_next_answer(
    clock: FakeClock, key: Ed25519PrivateKey, suite: str
) -> None:
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {OHIO: entry(key)})
    check = verifier(index)
    credential = badge(key, suite)
    for _ in range(2):
        assert check.verify_now(credential)["verdict"] == "valid"
    index.snapshot = snapshot(clock, {OHIO: entry(cf.ed25519())})
    assert signature(check.verify_now(credential)) == (False, "bad_signature")
    index.snapshot = snapshot(clock, {OHIO: entry(key)})
    assert check.verify_now(credential)["verdict"] == "valid"


def test_the_keys_of_a_list_turning_stale_are_set_aside_at_its_exp(
    clock: FakeClock, key: Ed25519PrivateKey
) -> None:
    """Indiana (``on_stale: reject``) pins the key: kept until its list's exp, not past it,
    and usable again for an instant before it (the clock set back)."""
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None)})
    check = verifier(index)
    credential = badge(key, "eddsa-jcs-2022")
    assert check.verify_now(credential)["verdict"] == "valid"
    clock.advance(hours=24, seconds=-1)
    assert check.verify_now(credential)["verdict"] == "valid"
    clock.advance(seconds=1)  # Indiana's exp: stale, rejected
    assert signature(check.verify_now(credential)) == (False, "unknown_key")
    clock.advance(seconds=-2)
    assert check.verify_now(credential)["verdict"] == "valid"


def test_the_keys_follow_the_peers_terms(clock: FakeClock, key: Ed25519PrivateKey) -> None:
    peers = Peers()
    index = Index(clock, peers)
    index.snapshot = snapshot(clock, {INDIANA: entry(key), OHIO: entry(None)})
    check = verifier(index)
    credential = badge(key, "eddsa-jcs-2022")
    assert check.verify_now(credential)["verdict"] == "valid"
    peers.reload(indiana=None)  # Indiana no longer configured: its keys are not used
    assert signature(check.verify_now(credential)) == (False, "unknown_key")
    peers.reload(indiana="reject")
    assert check.verify_now(credential)["verdict"] == "valid"


def test_the_keys_kept_per_snapshot_are_bounded(
    clock: FakeClock, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_node.services import index as index_module

    monkeypatch.setattr(index_module, "METHODS_CACHE_SIZE", 3)
    index = Index(clock, Peers())
    index.snapshot = snapshot(clock, {OHIO: entry(key)})
    for number in range(10):
        assert index.methods_by_source(f"did:web:other-{number}.example") == {}
        assert len(index.snapshot.methods) <= 3
    pinned = index.methods_by_source(COLLEGE)
    assert [m["id"] for m in pinned[OHIO]] == [METHOD]
    assert index.methods_by_source(COLLEGE) is pinned  # kept
    index.snapshot = snapshot(clock, {OHIO: entry(key)})
    assert index.methods_by_source(COLLEGE) is not pinned  # a new snapshot starts empty
