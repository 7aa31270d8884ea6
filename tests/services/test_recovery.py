"""A restored node takes back the newest version its peers hold, or publishes nothing.

In process, with two stand-in neighbours that serve ``GET /v1/peers/list`` as a test sets
them up: the list of Ohio's they hold, none (404), an error, a list signed by another key, or
two different lists with the same seq. Each case checks what the restored node then does:
confirm, recover (the suspension made after the backup comes back and the seq continues), or
stay unconfirmed (nothing is published, the restored list is neither served nor used).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from registry_node.config import NodeConfig
from registry_node.core import keys
from registry_node.core.errors import ConfigError, Conflict
from registry_node.core.model import canonical_json, digest
from registry_node.core.signing import parse_jws, sign_list
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.queries import question
from registry_node.services import backup
from registry_node.services.node import Node
from registry_node.services.recovery import held_list_url
from tests.helpers import FakeClock, issuer

BOARD = issuer(1)["id"]
HOLDERS = ("https://registry.indiana.example", "https://registry.michigan.example")


@dataclass
class Holder:
    """A neighbour's ``/v1/peers/list``: answers ``status`` with ``body``."""

    status: int = 404
    body: bytes = b""
    asked: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.asked.append(request.query.get("id", ""))
        if self.status != 200:
            return web.json_response({"code": "x"}, status=self.status)
        return web.Response(body=self.body, content_type="application/jose+json")


@dataclass
class Story:
    config: NodeConfig
    clock: FakeClock
    holders: list[Holder]
    backup_seq: int
    #: the newest version, published after the backup with BOARD suspended
    newest: bytes
    resign: Callable[[bytes, int], bytes]


async def _outcome(node: Node) -> str:
    answer = json.loads(node.resolver.ask_json(question(node.resolver, BOARD, {})))
    return str(answer["outcome"])


@pytest.fixture
async def story(tmp_path: Path, config: NodeConfig, clock: FakeClock, aiohttp_server: Any) -> Story:
    holders = [Holder(), Holder()]
    docs = []
    for holder, peer_id in zip(holders, HOLDERS, strict=True):
        app = web.Application()
        app.router.add_get("/v1/peers/list", holder.handle)
        server = await aiohttp_server(app)
        docs.append(
            {
                "id": peer_id,
                "jurisdiction": "US-IN" if "indiana" in peer_id else "US-MI",
                "url": str(server.make_url("/trust-list")),
                "keys": [keys.generate().kid],
            }
        )
    config.peers_file.write_text(dump_yaml({"peers": docs}))
    node = await Node.open(config, clock)
    try:
        await node.issuers.create(issuer(1), "test")
        clock.advance(minutes=1)
        backup_seq = (await node.publisher.publish("test")).seq
        await node.backup(tmp_path / "backup")
        await node.issuers.set_status(BOARD, {"status": "suspended", "reason": "audit"}, "test")
        clock.advance(minutes=1)
        await node.publisher.publish("test")
        clock.advance(minutes=1)
        newest = (await node.publisher.publish("test")).body
        assert await _outcome(node) == "not_trusted"
        current = (await node.publisher.keys("current"))[0]
        signer = node.keystore.load(current.file, current.alg, current.kid)
    finally:
        await node.close()
    backup.restore(config, tmp_path / "backup", clock, "test")

    def resign(body: bytes, iat_shift: int) -> bytes:
        payload = json.loads(parse_jws(body).payload)
        payload["iat"] += iat_shift
        return sign_list(canonical_json(payload), [signer])

    return Story(config, clock, holders, backup_seq, newest, resign)


async def _restart(story: Story) -> Node:
    return await Node.open(story.config, story.clock)


async def test_the_newest_held_version_comes_back_and_the_seq_continues(story: Story) -> None:
    for holder in story.holders:
        holder.status, holder.body = 200, story.newest
    node = await _restart(story)
    try:
        assert await node.recovery.pending() is None
        assert all(h.asked == [node.config.node_id] for h in story.holders)
        assert await _outcome(node) == "not_trusted"  # the suspension is back
        board = await node.issuers.get(BOARD)
        assert board["status_history"][-1]["status"] == "suspended"
        latest = await node.publisher.latest()
        assert latest is not None and latest.body == story.newest
        story.clock.advance(minutes=1)
        after = await node.publisher.publish("test")
        assert json.loads(parse_jws(after.body).payload)["prev"] == digest(story.newest)
        assert after.seq == latest.seq + 1
        assert await node.store.read.version(story.backup_seq + 1) is None  # lost between
    finally:
        await node.close()


async def test_one_holder_with_none_held_is_an_answer(story: Story) -> None:
    story.holders[0].status, story.holders[0].body = 200, story.newest
    story.holders[1].status = 404
    node = await _restart(story)
    try:
        assert await node.recovery.pending() is None
        assert await _outcome(node) == "not_trusted"
    finally:
        await node.close()


async def test_no_holder_with_anything_newer_confirms_the_restore(story: Story) -> None:
    node = await _restart(story)  # both answer 404: none held
    try:
        assert await node.recovery.pending() is None
        assert (await node.publisher.latest_seq()) == story.backup_seq
    finally:
        await node.close()


def _unusable(story: Story) -> dict[str, Callable[[], None]]:
    def down() -> None:
        story.holders[0].status, story.holders[0].body = 200, story.newest
        story.holders[1].status = 500

    def forged() -> None:
        other = keys.generate()
        payload = json.loads(parse_jws(story.newest).payload)
        story.holders[0].status = 200
        story.holders[0].body = sign_list(canonical_json(payload), [other])

    def equivocation() -> None:
        story.holders[0].status, story.holders[0].body = 200, story.newest
        story.holders[1].status, story.holders[1].body = 200, story.resign(story.newest, 1)

    return {"down": down, "forged": forged, "equivocation": equivocation}


@pytest.mark.parametrize("case", ["down", "forged", "equivocation"])
async def test_without_every_peers_confirmation_nothing_is_published(
    story: Story, case: str
) -> None:
    _unusable(story)[case]()
    node = await _restart(story)
    try:
        pending = await node.recovery.pending()
        assert pending is not None
        assert pending["check"]["confirmed"] is False
        # Nothing is published: not on schedule, not on request.
        assert await node.publisher.latest_seq() == story.backup_seq
        story.clock.advance(hours=23)
        assert await node.publisher.tick() is None
        with pytest.raises(Conflict) as refused:
            await node.publisher.publish("test")
        assert refused.value.code == "restore_unconfirmed"
        # The restored list (the board still active in it) is no source of answers.
        assert await _outcome(node) != "trusted"
        await node.resolver.catch_up()
        assert await _outcome(node) != "trusted"
        # The operator decides: the node publishes again.
        assert await node.recovery.confirm("test") is True
        assert await node.recovery.pending() is None
        assert (await node.publisher.publish("test")).seq == story.backup_seq + 1
    finally:
        await node.close()


async def test_a_backup_is_checked_before_anything_is_restored(
    tmp_path: Path, config: NodeConfig, clock: FakeClock
) -> None:
    node = await Node.open(config, clock)
    try:
        folder = tmp_path / "b"
        manifest = await node.backup(folder)
        assert manifest["seq"] == 1
        with pytest.raises(ConfigError, match="not an empty folder"):
            await node.backup(folder)
    finally:
        await node.close()
    before = config.db_path.read_bytes()
    other = NodeConfig(node_id="https://registry.indiana.example", data_dir=tmp_path / "x")
    with pytest.raises(ConfigError, match="node_id") as wrong:
        backup.restore(other, folder, clock, "test")
    assert wrong.value.code == "backup_invalid"
    with (folder / "registry.sqlite3").open("ab") as f:
        f.write(b"x")
    with pytest.raises(ConfigError, match="does not match its digest"):
        backup.restore(config, folder, clock, "test")
    (folder / "backup.json").unlink()
    with pytest.raises(ConfigError, match="not a complete backup"):
        backup.restore(config, folder, clock, "test")
    assert config.db_path.read_bytes() == before  # nothing was touched


def test_the_held_list_is_asked_for_beside_the_trust_list() -> None:
    node = "https://registry.ohio.example"
    assert held_list_url("https://r.example/trust-list", node) == (
        "https://r.example/v1/peers/list?id=https://registry.ohio.example"
    )
    assert held_list_url("https://r.example/state/trust-list", node).startswith(
        "https://r.example/state/v1/peers/list?"
    )
    assert held_list_url("https://r.example/lists/current.jws", node).startswith(
        "https://r.example/v1/peers/list?"
    )


async def test_readiness_and_the_list_say_why_while_unconfirmed(
    story: Story, aiohttp_client: Any
) -> None:
    from tests.http.test_openapi import validation_errors

    story.holders[1].status = 500
    client = await aiohttp_client(create_app(story.config, story.clock, run_scheduler=False))
    ready = await client.get("/readyz")
    assert ready.status == 503
    doc = await ready.json()
    assert doc["status"] == "not_ready"
    check = doc["checks"]["trust_list"]
    assert check["ok"] is False and "restored from a backup" in check["detail"]
    assert check["restore"]["last_attempt"]["peers"][HOLDERS[1]].startswith("http_status")
    assert validation_errors(doc, "#/components/schemas/Readiness") == []
    current = await client.get("/trust-list")
    assert current.status == 503
    assert (await current.json())["code"] == "restore_unconfirmed"
    # History is still history: the restored version itself stays fetchable by its seq.
    assert (await client.get(f"/trust-list/{story.backup_seq}")).status == 200
