"""Publishing: seq, the prev chain, republishing before exp, debouncing, rotation, crashes."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from registry_node.config import NodeConfig
from registry_node.core import keys as corekeys
from registry_node.core import schema
from registry_node.core.errors import Conflict
from registry_node.core.model import digest
from registry_node.core.signing import parse_jws, verify_signatures
from registry_node.services.node import Node
from registry_node.services.publisher import FAULT_POINTS, Publisher
from registry_node.services.store import DATABASE_ERRORS, Version
from tests.helpers import FakeClock, issuer, make_config


def payload_of(version: Version) -> dict:
    return json.loads(parse_jws(version.body).payload)


def signer_kids(version: Version) -> set[str]:
    return {m.kid for m in parse_jws(version.body).signatures if m.kid}


async def test_first_open_publishes_seq_1_with_null_prev(node: Node) -> None:
    latest = await node.store.read.latest_version()
    assert latest is not None
    payload = payload_of(latest)
    assert payload["seq"] == 1
    assert payload["prev"] is None
    assert payload["iss"] == node.config.node_id
    assert payload["exp"] - payload["iat"] == 24 * 3600
    schema.validate(schema.TRUST_LIST, payload)


async def test_seq_increases_and_prev_chains_across_publishes_and_restarts(
    config: NodeConfig, clock: FakeClock
) -> None:
    for _ in range(3):
        node = await Node.open(config, clock)
        await node.publisher.publish("test")
        clock.advance(minutes=1)
        await node.publisher.publish("test")
        await node.close()
    node = await Node.open(config, clock)
    versions = await node.store.read.versions()
    await node.close()
    assert [v.seq for v in versions] == list(range(1, len(versions) + 1))
    assert len(versions) == 7
    for before, after in itertools.pairwise(versions):
        assert payload_of(after)["prev"] == digest(before.body)
        assert payload_of(after)["seq"] == payload_of(before)["seq"] + 1


async def test_published_versions_cannot_be_rewritten(backend_node: Node) -> None:
    node = backend_node  # on SQLite, then on PostgreSQL
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        async with node.store.write() as tx:
            await tx.conn.execute("UPDATE versions SET body = ? WHERE seq = 1", (b"\x00",))
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        async with node.store.write() as tx:
            await tx.conn.execute("DELETE FROM versions")
    assert await node.store.read.latest_seq() == 1


async def test_republishes_when_a_quarter_of_validity_is_left(node: Node, clock: FakeClock) -> None:
    first = await node.store.read.latest_version()
    assert first is not None
    clock.advance(hours=17, minutes=59)
    assert await node.publisher.tick() is None
    clock.advance(minutes=1)  # 18h elapsed: 6h (a quarter) left
    refreshed = await node.publisher.tick()
    assert refreshed is not None
    assert refreshed.seq == first.seq + 1
    assert refreshed.exp == first.exp + 18 * 3600
    assert refreshed.reason == "refresh before expiry"
    assert await node.publisher.tick() is None


async def test_changes_within_the_debounce_window_make_one_version(
    node: Node, clock: FakeClock
) -> None:
    start = await node.store.read.latest_seq()
    await node.issuers.create(issuer(1), "test")
    clock.advance(seconds=1)
    assert await node.publisher.tick() is None  # still inside the window
    await node.issuers.create(issuer(2), "test")
    clock.advance(seconds=1)
    assert await node.publisher.tick() is None  # the window restarts at each change
    clock.advance(seconds=1)
    version = await node.publisher.tick()
    assert version is not None and version.seq == start + 1
    assert {i["id"] for i in payload_of(version)["issuers"]} == {issuer(1)["id"], issuer(2)["id"]}
    assert await node.publisher.tick() is None


async def test_a_steady_trickle_of_changes_still_publishes(node: Node, clock: FakeClock) -> None:
    start = await node.store.read.latest_seq()
    for n in range(20):
        await node.issuers.create(issuer(n), "test")
        clock.advance(seconds=1.5)
        version = await node.publisher.tick()
        if version is not None:
            break
    assert version is not None and version.seq == start + 1
    assert n < 19


async def test_rotation_announces_then_signs_with_both_keys(node: Node, clock: FakeClock) -> None:
    old = (await node.store.read.keys("current"))[0]
    successor, announcing = await node.publisher.rotate(None, "test")
    assert [k["kid"] for k in payload_of(announcing)["next_keys"]] == [successor.kid]
    assert signer_kids(announcing) == {old.kid}

    with pytest.raises(Conflict) as early:
        await node.publisher.complete_rotation("test")
    assert early.value.code == "rotation_too_early"

    clock.advance(hours=24)
    _, transition = await node.publisher.complete_rotation("test")
    assert signer_kids(transition) == {old.kid, successor.kid}
    assert [k["kid"] for k in payload_of(transition)["keys"]] == [successor.kid]
    assert payload_of(transition)["next_keys"] == []
    trusted = {k.kid: corekeys.import_public_jwk(k.public_jwk) for k in (old, successor)}
    assert verify_signatures(parse_jws(transition.body), trusted).verified == {
        old.kid,
        successor.kid,
    }

    after = await node.publisher.publish("after rotation")
    assert signer_kids(after) == {successor.kid}
    states = {k.kid: k.state for k in await node.store.read.keys()}
    assert states == {old.kid: "retired", successor.kid: "current"}


async def test_a_second_rotation_cannot_start_while_one_is_pending(node: Node) -> None:
    await node.publisher.rotate("ES256", "test")
    with pytest.raises(Conflict) as info:
        await node.publisher.rotate(None, "test")
    assert info.value.code == "rotation_in_progress"


async def test_key_files_are_private(node: Node) -> None:
    await node.publisher.rotate(None, "test")
    files = list(node.config.keys_dir.iterdir())
    assert len(files) == 2
    for file in files:
        assert file.stat().st_mode & 0o077 == 0
    assert node.config.keys_dir.stat().st_mode & 0o077 == 0


async def test_a_world_readable_key_stops_the_node(config: NodeConfig, clock: FakeClock) -> None:
    node = await Node.open(config, clock)
    await node.close()
    key_file = next(config.keys_dir.iterdir())
    key_file.chmod(0o644)
    with pytest.raises(Exception, match="readable by group or others") as info:
        await Node.open(config, clock)
    assert getattr(info.value, "code", None) == "key_permissions"


def consistency(config: NodeConfig) -> tuple[list[int], object]:
    """Check a database left behind by a crash, synchronously and without the node's code
    paths that could paper over damage. Returns the versions."""
    conn = sqlite3.connect(config.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT seq, body, digest, prev FROM versions ORDER BY seq").fetchall()
        publish_audits = conn.execute(
            "SELECT count(*) FROM audit WHERE action = 'publish'"
        ).fetchone()[0]
        dirty = conn.execute("SELECT value FROM meta WHERE key = 'dirty_since'").fetchone()
    finally:
        conn.close()
    versions = []
    previous = None
    for seq, body, stored_digest, prev in rows:
        assert stored_digest == digest(body)
        payload = json.loads(parse_jws(body).payload)
        assert payload["seq"] == seq
        assert payload["prev"] == (previous and digest(previous)) == prev
        previous = body
        versions.append(seq)
    assert versions == list(range(1, len(versions) + 1))
    assert publish_audits == len(versions)  # the audit record commits with its version
    return versions, dirty


ROOT = Path(__file__).resolve().parents[2]

CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    from dataclasses import replace
    from pathlib import Path
    from registry_node.config import NodeConfig
    from registry_node.services.node import Node
    from registry_node.services.publisher import Publisher
    from tests.helpers import FakeClock, issuer, make_config, make_config

    async def main(tmp, point):
        config = make_config(Path(tmp))
        clock = FakeClock()
        node = await Node.open(config, clock)
        await node.issuers.create(issuer(7), "test")

        def fault(name):
            if name == point:
                os._exit(137)  # a crash: no rollback, no cleanup, no flush

        crashing = Publisher(config, node.store, node.keystore, clock, fault)
        await crashing.publish("crash test")
        print("no crash", flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.parametrize("point", FAULT_POINTS)
async def test_a_crash_between_publication_steps_leaves_a_consistent_database(
    tmp_path: Path, point: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHER,
        str(tmp_path),
        point,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 137, stderr.decode()
    config = NodeConfig(data_dir=tmp_path / "data")
    versions, dirty = consistency(config)
    assert versions == [1]  # the crashed publication left nothing behind
    assert dirty is not None  # and the change is still waiting to be published
    # The node opens again and publishes the pending change as seq 2.
    clock = FakeClock()
    clock.advance(minutes=5)
    node = await Node.open(make_config(tmp_path), clock)
    latest = await node.store.read.latest_version()
    await node.close()
    assert latest is not None and latest.seq == 2
    assert issuer(7)["id"] in {i["id"] for i in payload_of(latest)["issuers"]}
    assert consistency(config)[0] == [1, 2]


async def test_an_error_inside_publication_rolls_back(config: NodeConfig, clock: FakeClock) -> None:
    node = await Node.open(config, clock)
    await node.publisher.rotate(None, "test")

    def fault(name: str) -> None:
        if name == "keys_updated":
            raise RuntimeError("injected")

    failing = Publisher(config, node.store, node.keystore, clock, fault)
    await node.publisher.publish("ok")
    before = await node.store.read.versions()
    with pytest.raises(RuntimeError, match="injected"):
        await failing.publish("doomed")
    assert await node.store.read.versions() == before
    await node.close()
    assert consistency(config)[0] == [v.seq for v in before]
