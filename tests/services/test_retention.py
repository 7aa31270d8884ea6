"""Retention: pruning old version bodies keeps every as-of answer and the hash chain.

A node publishes many versions over days while its issuers' standing changes. Pruning then
removes the bodies of the versions retention no longer keeps; every answer to "was this issuer
trusted at instant t" must be exactly what it was, the chain of digests must still check, the
kept bodies must still be served byte for byte, and a pruned version's URL answers 410.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig, RetentionConfig
from registry_node.core.model import digest
from registry_node.core.retention import chain_problems
from registry_node.core.timeutil import (
    format_rfc3339,
    from_numeric_date,
    parse_rfc3339,
    to_numeric_date,
)
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.http.queries import question
from registry_node.services.node import Node
from registry_node.services.store import DATABASE_ERRORS
from tests.helpers import FakeClock, issuer, make_config

KEEP_VERSIONS = 3
KEEP_FOR = timedelta(hours=30)
ISSUERS = 40
#: (issuer number, status) changes, one every six hours of node time
CHANGES = [
    (1, "suspended"),
    (2, "revoked"),
    (1, "active"),
    (3, "retired"),
    (4, "suspended"),
    (1, "revoked"),
    (5, "suspended"),
    (5, "active"),
    (6, "revoked"),
    (7, "retired"),
    (8, "suspended"),
    (4, "active"),
]


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    return make_config(
        tmp_path, retention=RetentionConfig(keep_versions=KEEP_VERSIONS, keep_for=KEEP_FOR)
    )


async def _history(client: TestClient, clock: FakeClock) -> list[str]:
    """Publish a version per status change, six hours apart; return every change's instant."""
    node = client.app[NODE]
    for n in range(1, ISSUERS + 1):
        await node.issuers.create(issuer(n), "test")
    await node.publisher.publish("issuers created")
    instants = []
    for n, status in CHANGES:
        clock.advance(hours=6)
        stamp = format_rfc3339(clock())
        instants.append(stamp)
        await node.issuers.set_status(
            f"did:web:board{n}.ohio.example", {"status": status, "reason": "audit"}, "test"
        )
        await node.publisher.publish("issuers changed")
    return instants


def _text(second: int) -> str:
    return format_rfc3339(from_numeric_date(second))


def _questions(instants: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Every issuer touched, asked at, just before and just after each change, and now."""
    ats = {"2019-06-01T00:00:00Z", "2020-01-01T00:00:00Z"}
    for stamp in instants:
        second = to_numeric_date(parse_rfc3339(stamp))
        ats |= {stamp, _text(second - 1), _text(second + 1)}
    asked: list[tuple[str, dict[str, str]]] = []
    for n in sorted({n for n, _ in CHANGES} | {9}):
        name = f"did:web:board{n}.ohio.example"
        asked.append((name, {}))
        asked.append((name, {"achievement_type": "License"}))
        for at in sorted(ats):
            asked.append((name, {"at": at}))
            asked.append((name, {"at": at, "achievement_type": "License"}))
    return asked


async def _answers(client: TestClient, asked: list[tuple[str, dict[str, str]]]) -> list[bytes]:
    found = []
    for name, params in asked:
        resp = await client.get(f"/v1/issuers/{name}", params=params)
        assert resp.status == 200, await resp.text()
        found.append(await resp.read())
    return found


async def _bodies(client: TestClient, last: int) -> dict[int, bytes]:
    bodies = {}
    for seq in range(1, last + 1):
        resp = await client.get(f"/trust-list/{seq}", headers={"Accept-Encoding": "identity"})
        if resp.status == 200:
            bodies[seq] = await resp.read()
    return bodies


async def test_pruning_keeps_every_as_of_answer_and_the_chain(
    client: TestClient, clock: FakeClock, config: NodeConfig
) -> None:
    node: Node = client.app[NODE]
    instants = await _history(client, clock)
    latest = await node.publisher.latest_seq()
    assert latest == len(CHANGES) + 2  # and the initial publication
    asked = _questions(instants)
    before = await _answers(client, asked)
    assert b'"reason":"suspended"' in b"".join(before)  # the questions reach the history
    assert b'"reason":"revoked"' in b"".join(before)
    originals = await _bodies(client, latest)
    assert sorted(originals) == list(range(1, latest + 1))

    pruned = await node.retention.prune()

    # What retention keeps: the newest KEEP_VERSIONS, and every version replaced by a newer
    # one less than KEEP_FOR ago (one a signed answer still valid may cite).
    cutoff = to_numeric_date(clock() - KEEP_FOR)
    versions = await node.store.read.versions()
    replaced_at = {v.seq: after.iat for v, after in itertools.pairwise(versions)}
    expected = [
        v.seq for v in versions if v.seq <= latest - KEEP_VERSIONS and replaced_at[v.seq] <= cutoff
    ]
    assert pruned == expected
    assert 0 < len(pruned) < latest - KEEP_VERSIONS  # some kept only for keep_for
    kept_for_time = range(pruned[-1] + 1, latest - KEEP_VERSIONS + 1)
    assert all(replaced_at[seq] > cutoff for seq in kept_for_time)

    # Every as-of answer is byte for byte what it was.
    assert await _answers(client, asked) == before
    # ... and so it is from a node opened afresh on the pruned database.
    reopened = await Node.open(config, clock, import_source=False, publish=False)
    try:
        for (name, params), answer in zip(asked, before, strict=True):
            fresh = reopened.resolver.ask_json(question(reopened.resolver, name, params))
            assert fresh == answer, (name, params)
        assert await reopened.retention.check_chain() == []
    finally:
        await reopened.close()

    # The chain of digests is whole and links every version to its original body.
    chain = await node.store.read.chain()
    assert [seq for seq, _, _ in chain] == list(range(1, latest + 1))
    assert all(own == digest(originals[seq]) for seq, own, _ in chain)
    assert chain_problems(chain, originals) == []
    assert await node.retention.check_chain() == []

    # Kept bodies are served as before; pruned ones answer 410 with Problem Details.
    for seq in range(1, latest + 1):
        resp = await client.get(f"/trust-list/{seq}", headers={"Accept-Encoding": "identity"})
        if seq in pruned:
            assert resp.status == 410
            problem = await resp.json(content_type=None)
            assert problem["code"] == "version_gone"
            assert resp.headers["Content-Type"].startswith("application/problem+json")
        else:
            assert resp.status == 200
            assert await resp.read() == originals[seq]
    missing = await client.get(f"/trust-list/{latest + 1}")
    assert missing.status == 404
    assert (await missing.json())["code"] == "version_not_found"
    current = await client.get("/trust-list", headers={"Accept-Encoding": "identity"})
    assert await current.read() == originals[latest]

    # A second run has nothing to do; the audit log records the first.
    assert await node.retention.prune() == []
    actions = [r.action for r in await node.audit.records(limit=1000)]
    assert actions.count("versions.prune") == 1


async def test_a_chain_check_finds_a_broken_link_or_body(node: Node, clock: FakeClock) -> None:
    for _ in range(3):
        clock.advance(hours=1)
        await node.publisher.publish("test")
    chain = await node.store.read.chain()
    bodies = {v.seq: v.body for v in await node.store.read.versions()}
    assert chain_problems(chain, bodies) == []
    seq, own, _ = chain[2]
    broken = [*chain[:2], (seq, own, "A" * 43), *chain[3:]]
    assert chain_problems(broken, bodies) != []
    assert chain_problems(chain, {**bodies, 2: bodies[3]}) != []


async def test_the_database_prunes_only_old_bodies_and_nothing_else(
    backend_node: Node, clock: FakeClock
) -> None:
    node = backend_node  # on SQLite, then on PostgreSQL
    for _ in range(2):
        clock.advance(hours=1)
        await node.publisher.publish("test")
    newest = await node.publisher.latest_seq()
    stamp = format_rfc3339(clock())
    prune = "UPDATE versions SET body = ?, pruned_at = ? WHERE seq = ?"
    refused: list[tuple[str, tuple[Any, ...]]] = [
        # the newest body
        (prune, (b"", stamp, newest)),
        # a body replaced rather than pruned
        (prune, (b"\x00", stamp, 1)),
        # anything else of a version
        ("UPDATE versions SET body = ?, pruned_at = ?, digest = 'x' WHERE seq = 1", (b"", stamp)),
        ("UPDATE versions SET reason = 'x' WHERE seq = 1", ()),
        ("DELETE FROM versions WHERE seq = 1", ()),
    ]
    for sql, params in refused:
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            async with node.store.write() as tx:
                await tx.conn.execute(sql, params)
    async with node.store.write() as tx:
        await tx.conn.execute(prune, (b"", stamp, 1))
    with pytest.raises(DATABASE_ERRORS, match="append-only"):  # once pruned, for good
        async with node.store.write() as tx:
            await tx.conn.execute(
                "UPDATE versions SET body = ?, pruned_at = NULL WHERE seq = 1", (b"\x00",)
            )
    with pytest.raises(ValueError, match="keep_last"):
        async with node.store.write() as tx:
            await tx.prune_bodies(keep_last=0, replaced_before=2**40, now=stamp)


async def test_compact_shrinks_the_file_after_pruning(
    tmp_path: Path, clock: FakeClock, aiohttp_client: Any
) -> None:
    config = make_config(
        tmp_path, retention=RetentionConfig(keep_versions=1, keep_for=timedelta(hours=1))
    )
    client: TestClient = await aiohttp_client(create_app(config, clock, run_scheduler=False))
    node: Node = client.app[NODE]
    for n in range(1, 61):
        await node.issuers.create(issuer(n), "test")
    for _ in range(20):
        clock.advance(hours=1)
        await node.publisher.publish("test")
    clock.advance(hours=2)  # every version but the newest was replaced over an hour ago
    grown = await node.retention.report()
    assert grown.bodies_kept == grown.versions
    before, after = await node.retention.compact()
    assert before.bodies_kept == after.bodies_kept == 1
    assert before.free_bytes > 0
    assert after.free_bytes == 0
    freed = grown.body_bytes - after.body_bytes
    assert grown.file_bytes - after.file_bytes >= 0.8 * freed  # the pruned bodies' space
    assert await node.retention.check_chain() == []
    resp = await client.get("/trust-list")
    assert resp.status == 200
