"""Three states, federated, on one machine: Ohio, Indiana and Michigan as real node processes.

The nodes share one module-wide federation (starting three processes is the slow part); before
each test ``Federation.settle`` brings it back to the baseline (every node up with its original
peers.yaml, its own list fresh, and fresh copies of the other two), so each test starts from a
known state whatever the previous one did. Time moves only through the shared clock offset
file; a test never sleeps for time to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from registry_node.core.timeutil import parse_rfc3339
from tests.e2e_harness import (
    LIST_VALIDITY,
    MICHIGAN,
    Federation,
    NodeProcess,
    eventually,
    federation,
    replay_proxy,
    signer_kids,
    verified_by,
)
from tests.pg import Cluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: An Ohio issuer that no other test depends on.
OHIO_PHARMACY = "did:web:pharmacy.ohio.example"
LICENSE = {"achievement_type": "License"}
#: Outcomes of a successful sync. A node's own scheduled first sync of each peer (at a random
#: moment in its first five seconds) may fetch a new version just before a test's explicit
#: sync does, which then finds it unchanged: tests check what the peer holds afterwards.
SYNCED = ("accepted", "unchanged", "not_modified")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest) -> dict[str, tuple[str, Path]]:
    """Every state on SQLite; then Ohio and Indiana on databases of the suite's own PostgreSQL
    server (Michigan stays on SQLite: a mixed federation)."""
    if request.param == "sqlite":
        return {}
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return {slug: (cluster.fresh_database(), cluster.password_file) for slug in ("oh", "in")}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed(
    tmp_path_factory: pytest.TempPathFactory, databases: dict[str, tuple[str, Path]]
) -> AsyncIterator[Federation]:
    async with federation(tmp_path_factory.mktemp("three-states"), databases) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def baseline(fed: Federation) -> None:
    await fed.settle()


def evidence_from(answer: dict[str, Any], node: NodeProcess) -> dict[str, Any]:
    """The one evidence item of ``answer`` that comes from ``node``'s list."""
    items = [e for e in answer["evidence"] if e["source"] == node.id]
    assert len(items) == 1, answer
    return dict(items[0])


def assert_trusted_by(answer: dict[str, Any], node: NodeProcess, seq: int) -> None:
    """``answer`` is ``trusted``, decided by ``node`` alone on its list version ``seq``."""
    assert (answer["outcome"], answer["reason"]) == ("trusted", "active"), answer
    assert answer["decided_by"] == [node.id], answer
    item = evidence_from(answer, node)
    assert item["jurisdiction"] == node.state.code
    assert item["local"] is False
    assert item["stale"] is False
    assert item["list"]["seq"] == seq, answer


async def test_each_state_trusts_the_others_issuers(fed: Federation) -> None:
    published = {node.id: (await node.current_list()).seq for node in fed.nodes.values()}
    for asker in fed.nodes.values():
        for source in fed.others(asker):
            answer = await asker.lookup(source.state.licensing_board, **LICENSE)
            assert_trusted_by(answer, source, published[source.id])
            assert [e["source"] for e in answer["evidence"]] == [source.id]
            authorization = evidence_from(answer, source)["entry"]["authorization"]
            assert "License" in authorization["achievement_types"]


async def test_a_revocation_reaches_the_other_states_at_their_next_sync(fed: Federation) -> None:
    ohio = fed.oh
    for node in fed.others(ohio):
        assert (await node.lookup(OHIO_PHARMACY))["outcome"] == "trusted"

    await ohio.set_status(OHIO_PHARMACY, "revoked", "licence board dissolved")
    seq = await ohio.publish()
    for node in fed.others(ohio):
        result = (await node.sync(ohio))[ohio.id]
        assert (result["outcome"], result["seq"]) in {(o, seq) for o in SYNCED}, result
        answer = await node.lookup(OHIO_PHARMACY)
        assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked"), answer
        assert answer["decided_by"] == [ohio.id]
        item = evidence_from(answer, ohio)
        assert item["list"]["seq"] == seq
        assert item["entry"]["status"] == "revoked"
        assert item["entry"]["status_reason"] == "licence board dissolved"


async def test_peers_follow_a_key_rotation_without_new_pins(fed: Federation) -> None:
    indiana, watchers = fed.in_, fed.others(fed.in_)
    pinned = {node.id: node.peers_file.read_bytes() for node in watchers}
    old_kid = indiana.kid

    async def followed(expected_keys: list[str]) -> None:
        """Each watcher syncs, holds Indiana's latest list and still trusts its issuers."""
        latest = (await indiana.current_list()).seq
        for node in watchers:
            result = (await node.sync(indiana))[indiana.id]
            assert result["outcome"] in SYNCED, result
            peer = (await node.peers())[indiana.id]
            assert (peer["state"], peer["seq"]) == ("fresh", latest), peer
            assert peer["trusted_keys"] == sorted(expected_keys), peer
            answer = await node.lookup(indiana.state.licensing_board, **LICENSE)
            assert_trusted_by(answer, indiana, latest)

    # 1. Announce: the successor appears in next_keys; peers now trust both keys.
    out = await indiana.cli("keys", "rotate")
    new_kid = out.split("announced next key ", 1)[1].split()[0]
    announced = await indiana.current_list()
    assert [k["kid"] for k in announced.payload["next_keys"]] == [new_kid]
    assert signer_kids(announced.body) == [old_kid]
    await followed([old_kid, new_kid])

    # 2. One list validity later (moved on the shared clock) every node has republished.
    fed.clock.advance(LIST_VALIDITY + 5)
    await asyncio.gather(*(node.wait_list_fresh() for node in fed.nodes.values()))
    await asyncio.gather(*(node.sync() for node in fed.nodes.values()))
    await followed([old_kid, new_kid])

    # 3. Complete: the first list under the new key is signed by both, new key first.
    out = await indiana.cli("keys", "rotate", "--complete")
    assert f"key {new_kid} now signs" in out, out
    completing = await indiana.current_list()
    assert signer_kids(completing.body) == [new_kid, old_kid]
    assert [k["kid"] for k in completing.payload["keys"]] == [new_kid]
    assert completing.payload["next_keys"] == []
    await followed([new_kid])

    # 4. Afterwards the new key signs alone, and the peers still accept Indiana's lists.
    seq = await indiana.publish()
    alone = await indiana.current_list()
    assert (alone.seq, signer_kids(alone.body)) == (seq, [new_kid])
    await followed([new_kid])
    for node in watchers:
        assert node.peers_file.read_bytes() == pinned[node.id]
        assert new_kid not in pinned[node.id].decode()


async def test_a_dead_state_is_served_from_the_last_good_copy_until_it_expires(
    fed: Federation,
) -> None:
    michigan, watchers = fed.mi, fed.others(fed.mi)
    held = (await michigan.current_list()).seq
    board = michigan.state.licensing_board
    await michigan.kill()

    # Down, but its last list is still valid: the peers keep answering from it.
    for node in watchers:
        result = (await node.sync(michigan))[michigan.id]
        assert (result["outcome"], result["code"]) == ("failed", "connection_failed"), result
        peer = (await node.peers())[michigan.id]
        assert (peer["state"], peer["seq"]) == ("failing", held), peer
        assert_trusted_by(await node.lookup(board, **LICENSE), michigan, held)

    # Past the list's exp the peers no longer vouch for Michigan's issuers.
    exp = (await watchers[0].peers())[michigan.id]["exp"]
    fed.clock.move_past(parse_rfc3339(exp).timestamp())
    for node in watchers:
        assert (await node.peers())[michigan.id]["state"] == "stale"
        answer = await node.lookup(board, **LICENSE)
        assert (answer["outcome"], answer["reason"]) == ("unknown", "sources_stale"), answer
        assert answer["decided_by"] == []
        assert [u["source"] for u in answer["unavailable"]] == [michigan.id]

    # Back up, it republishes; once synced it is fresh everywhere again.
    await michigan.start()
    await fed.settle()
    republished = (await michigan.current_list()).seq
    assert republished > held
    for node in watchers:
        assert_trusted_by(await node.lookup(board, **LICENSE), michigan, republished)


def bulky_issuers(start: int, count: int) -> list[dict[str, Any]]:
    """Synthetic Ohio issuers with long entries (eight authorisations with long legal bases),
    so that building and signing a list that holds them takes a noticeable time."""
    return [
        {
            "id": f"did:web:bulk{n}.ohio.example",
            "name": f"Ohio Synthetic Licensing Board {n}",
            "org_type": "licensing_board",
            "authorizations": [
                {
                    "credential_types": ["OpenBadgeCredential"],
                    "achievement_types": [f"Certificate{a}"],
                    "jurisdiction": "US-OH",
                    "legal_basis": f"Ohio Revised Code {n}.{a}, " + "section text " * 70,
                }
                for a in range(8)
            ],
            "status_history": [
                {"status": "active", "from": "2024-01-01T00:00:00Z", "reason": "synthetic"}
            ],
        }
        for n in range(start, start + count)
    ]


BULK_ISSUERS = 600
#: The most extra issuers added to make a publication take long enough to interrupt.
MAX_BULK_ISSUERS = 4800
IMPORT_BATCH = 100  # stays under the admin API's 1 MiB body limit
#: /healthz unanswered this long means the node's event loop is busy building a list.
STALL = 0.04


async def healthz_latency(node: NodeProcess, limit: float | None = None) -> float | None:
    """Seconds the node took to answer /healthz, or None when it did not within ``limit``."""
    began = time.perf_counter()
    try:
        async with node.http.get(
            f"{node.url}/healthz", timeout=aiohttp.ClientTimeout(total=limit)
        ) as resp:
            await resp.read()
    except TimeoutError:
        return None
    return time.perf_counter() - began


async def test_a_node_killed_while_publishing_keeps_an_unbroken_history(
    fed: Federation,
) -> None:
    ohio = fed.oh

    # Measure: how long a publication takes, and how long it keeps the node from answering.
    # A faster machine builds the list sooner: issuers are added until a publication keeps
    # the node busy long enough to be interrupted below.
    imported, busy = 0, 0.0
    while busy < 3 * STALL:
        assert imported < MAX_BULK_ISSUERS, f"{imported} issuers kept the node busy {busy:.2f}s"
        for start in range(imported, imported + BULK_ISSUERS, IMPORT_BATCH):
            status, result = await ohio.admin(
                "POST",
                "/import",
                {"jurisdiction": "US-OH", "issuers": bulky_issuers(start, IMPORT_BATCH)},
            )
            assert (status, result["created"]) == (200, IMPORT_BATCH), result
        imported += BULK_ISSUERS
        began = time.perf_counter()
        request = asyncio.create_task(ohio.publish())
        busy = 0.0
        async with asyncio.timeout(30):
            while not request.done():
                busy = max(busy, await healthz_latency(ohio) or 0.0)
            held = await request
        took = time.perf_counter() - began
        print(f"\npublishing {imported} extra issuers took {took:.2f}s, busy for {busy:.2f}s")
    for node in fed.others(ohio):
        assert (await node.sync(ohio))[ohio.id]["seq"] == held

    # A change waits to be published; the publication that would carry it is killed midway,
    # once the node has stopped answering because it is building the list.
    suspended = "did:web:bulk7.ohio.example"
    await ohio.set_status(suspended, "suspended", "audit")
    request = asyncio.create_task(ohio.publish())
    try:
        async with asyncio.timeout(10):
            while not request.done() and await healthz_latency(ohio, STALL) is not None:
                pass
        assert not request.done(), "the publication finished before it could be interrupted"
        await ohio.kill()
        with pytest.raises(aiohttp.ClientError):
            await request
    finally:
        request.cancel()
        with contextlib.suppress(BaseException):
            await request

    await ohio.start()
    status, ready = await ohio.readyz()
    assert (status, ready["status"]) == (200, "ready"), ready

    # The pending change is published by the restarted node (or was, by the killed one):
    # either way exactly one version follows the one the peers hold.
    def status_of(payload: dict[str, Any], issuer_id: str) -> str:
        entry = next(i for i in payload["issuers"] if i["id"] == issuer_id)
        return str(entry["status_history"][-1]["status"])

    async def published_change() -> int | None:
        latest = await ohio.current_list()
        return latest.seq if status_of(latest.payload, suspended) == "suspended" else None

    latest = await eventually(published_change, "the suspension to be published")
    assert latest == held + 1
    assert await ohio.version(latest + 1) is None

    previous = None
    for seq in range(1, latest + 1):
        version = await ohio.version(seq)
        assert version is not None, f"seq {seq} is missing"
        assert version.seq == seq
        assert version.headers["ETag"].strip('"') == version.digest
        assert version.payload["prev"] == (previous.digest if previous else None), seq
        previous = version
    _, jwks = await ohio.get_json("/jwks.json")
    assert previous is not None
    assert verified_by(previous.body, jwks) == {ohio.kid}

    # The peers, holding the version before, accept the new one as its successor.
    for node in fed.others(ohio):
        result = (await node.sync(ohio))[ohio.id]
        assert (result["outcome"], result["seq"]) in {(o, latest) for o in SYNCED}, result
        peer = (await node.peers())[ohio.id]
        assert (peer["state"], peer["seq"], peer["digest"]) == ("fresh", latest, previous.digest)


async def test_a_replayed_old_list_is_refused_as_rollback(fed: Federation) -> None:
    ohio, indiana, michigan = fed.oh, fed.in_, fed.mi
    held = await michigan.publish()
    for node in (ohio, indiana):
        assert (await node.sync(michigan))[michigan.id]["seq"] == held
    old = await michigan.version(held - 1)
    assert old is not None
    peer = (await ohio.peers())[michigan.id]
    assert set(signer_kids(old.body)) <= set(peer["trusted_keys"]), "replay must verify"

    async with replay_proxy(old.body) as proxy:
        try:
            ohio.peers_file.write_text(
                ohio.peers_document(fed.others(ohio), {michigan.id: proxy.url})
            )
            assert await ohio.reload_peers() == {
                "added": [],
                "removed": [],
                "changed": [michigan.id],
            }
            result = (await ohio.sync(michigan))[michigan.id]
            assert (result["outcome"], result["code"]) == ("rejected", "rollback"), result
            assert proxy.hits >= 1

            peer = (await ohio.peers())[michigan.id]
            assert peer["last_error"]["code"] == "rollback", peer
            assert (peer["state"], peer["seq"]) == ("failing", held), peer
            answer = await ohio.lookup(MICHIGAN.licensing_board, **LICENSE)
            assert_trusted_by(answer, michigan, held)
            # Indiana, fetching from Michigan itself, was never offered the old version.
            assert (await indiana.peers())[michigan.id]["seq"] == held
            assert_trusted_by(
                await indiana.lookup(MICHIGAN.licensing_board, **LICENSE), michigan, held
            )
        finally:
            ohio.peers_file.write_text(ohio.baseline_peers)
            await ohio.reload_peers()


async def test_ctrl_c_stops_a_node_quietly(fed: Federation) -> None:
    ohio, indiana = fed.oh, fed.in_
    # A list to judge, so that the node has started its judging worker process.
    seq = await indiana.publish()
    assert (await ohio.sync(indiana))[indiana.id]["seq"] == seq
    start = ohio.log_file.stat().st_size
    assert await ohio.stop(signal.SIGINT, group=True) == 0
    log = ohio.log_file.read_bytes()[start:].decode(errors="replace")
    assert "Traceback" not in log, log
