"""The trust invariants, attacked: one row per attack on a node that federates with a simulated
peer (docs/protocol.md sections 9.1 and 9.3).

Each row starts from a fresh node that has accepted the peer's first list. The row's ``attack``
arranges what the attacker (or the operator's response) does, the node syncs once, and the row
states the sync's outcome and reason code, the seq held afterwards and the peer's state, the
answer a verifier then gets about the probed issuer, and the alarm (peer event) raised. Time is
the injected clock; nothing sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_node.cli.peers import peer_line
from registry_node.core import keys
from registry_node.core.model import canonical_json
from registry_node.core.signing import sign_list
from registry_node.core.trust import Question
from registry_node.core.yamlsafe import dump_yaml
from tests.helpers import FakeClock
from tests.services.test_federation import World, make_world, peer_doc
from tests.sim import PeerSimulator, sim_issuer

PROBE = "did:web:issuer0.us-in.example"
FAKE = "did:web:diploma-mill.us-in.example"
YEAR = 365 * 86400


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, aiohttp_server: Any) -> AsyncIterator[World]:
    sim = PeerSimulator(clock)
    sim.issuers[0]["status_history"] = [
        {"status": "active", "from": "2020-01-01T00:00:00Z"},
        {"status": "revoked", "from": "2021-06-01T00:00:00Z", "reason": "diploma fraud"},
    ]
    sim.publish(seq=1)
    built = await make_world(tmp_path, clock, aiohttp_server, sim)
    first = await built.sync()
    assert first.outcome == "accepted", first.detail
    yield built
    await built.node.close()


async def reload(w: World, **overrides: Any) -> None:
    """The operator edits peers.yaml and reloads it (SIGHUP or the admin API)."""
    docs = [peer_doc(w.sim, w.url, **overrides)] if overrides.get("keys") != [] else []
    (w.tmp / "peers.yaml").write_text(dump_yaml({"peers": docs}))
    await w.federation.reload("signal:SIGHUP")


def ask(w: World, name: str = PROBE, **kw: Any) -> tuple[str, str]:
    at = kw.pop("at", None)
    now = w.clock()
    q = Question(name, at if at is not None else now.timestamp(), at_now=at is None, **kw)
    answer = w.node.resolver.ask(q)
    return answer["outcome"], answer["reason"]


# -- attacks -----------------------------------------------------------------------------------


async def threshold_raised(w: World) -> None:
    """The operator now wants two signatures; the held list has one."""
    await reload(w, keys=[*w.sim.pins, keys.generate().kid], threshold=2)
    assert ask(w) == ("unknown", "not_listed")  # at once, before any fetch


async def scope_narrowed_while_unreachable(w: World) -> None:
    await w.server.close()
    await reload(w, scope={"jurisdictions": ["US-IN"], "credential_types": ["ClrCredential"]})


async def validity_bound_lowered(w: World) -> None:
    await reload(w, max_validity="1h")  # the held list is valid for 24 h


async def stolen_key_fast_forward(w: World) -> None:
    """A stolen key signs seq 10^9 with a diploma mill in it; the node accepts it (it is validly
    signed), then the operator re-pins the peer to its new key."""
    w.clock.advance(minutes=5)
    w.sim.issuers.append({**sim_issuer(99), "id": FAKE})
    w.sim.publish(seq=10**9)
    assert (await w.sync()).outcome == "accepted"
    assert ask(w, FAKE) == ("trusted", "active")  # what the stolen key bought
    stolen, new = w.sim.signers[0], keys.generate()
    w.sim.issuers.pop()
    w.sim.signers, w.sim.seq = [new], 1  # the genuine peer publishes seq 2 with its new key
    w.sim.publish()
    assert stolen.kid not in w.sim.pins
    await reload(w, keys=[new.kid])
    assert ask(w, FAKE) == ("unknown", "not_listed")  # the stolen list is set aside at once


async def remove_and_add_back(w: World) -> None:
    """Removing a peer and adding it back is no way around rollback protection."""
    for _ in range(3):
        w.clock.advance(minutes=5)
        w.sim.publish()
    assert (await w.sync()).seq == 4
    await reload(w, keys=[])
    await reload(w)
    w.sim.serve_version(1)


async def freeze_for_decades(w: World) -> None:
    now = int(w.clock().timestamp())
    w.sim.publish(iat=now, exp=now + 30 * YEAR)


async def revocation_erased(w: World) -> None:
    w.clock.advance(minutes=5)
    w.sim.issuers[0]["status_history"] = [{"status": "active", "from": "2020-01-01T00:00:00Z"}]
    w.sim.publish()


async def revocation_moved_later(w: World) -> None:
    w.clock.advance(minutes=5)
    w.sim.issuers[0]["status_history"][1]["from"] = "2024-06-01T00:00:00Z"
    w.sim.publish()


async def revoked_issuer_dropped(w: World) -> None:
    """Dropping the issuer would leave another state's `active` to decide."""
    w.clock.advance(minutes=5)
    del w.sim.issuers[0]
    w.sim.publish()


async def one_key_counted_twice(w: World) -> None:
    """A second encoding of the signing key (a 33-byte x) declared to pass a threshold of 2."""
    import base64

    from joserfc.jwk import JWKRegistry

    from registry_node.core.model import b64url

    es = keys.generate("ES256")
    jwk = es.public_jwk()
    raw = base64.urlsafe_b64decode(jwk["x"] + "=")
    members = {"kty": "EC", "crv": "P-256", "x": b64url(b"\0" + raw), "y": jwk["y"]}
    twin = {**jwk, **members, "kid": JWKRegistry.import_key(members).thumbprint()}
    w.sim.signers = [es]
    w.clock.advance(minutes=5)
    w.sim.publish(next_keys=[twin])


def _signed_text(w: World, edit: Callable[[str], str]) -> None:
    """A validly signed list whose payload text was edited (for what no encoder writes)."""
    w.clock.advance(minutes=5)
    text = canonical_json(w.sim.payload(w.sim.seq + 1)).decode()
    w.sim.body_override = sign_list(edit(text).encode(), w.sim.signers)


async def nested_too_deep(w: World) -> None:
    _signed_text(w, lambda t: t[:-1] + ',"x":' + "[" * 20_000 + "]" * 20_000 + "}")


async def huge_integer(w: World) -> None:
    _signed_text(w, lambda t: t.replace(f'"seq":{w.sim.seq + 1}', '"seq":' + "9" * 4300))


async def lone_surrogate_in_an_id(w: World) -> None:
    _signed_text(w, lambda t: t.replace("did:web:issuer1.", "did:web:\\ud800issuer1."))


async def duplicate_member_in_an_entry(w: World) -> None:
    _signed_text(w, lambda t: t.replace('"name":"Issuer 1"', '"name":"Issuer 1","name":"X"'))


async def calendar_edge_instant(w: World) -> None:
    w.sim.issuers[1]["status_history"].append(
        {"status": "active", "from": "0001-01-01T00:00:00+01:00"}
    )
    w.clock.advance(minutes=5)
    w.sim.publish()


@dataclass(frozen=True)
class Row:
    name: str
    attack: Callable[[World], Awaitable[None]]
    outcome: str
    code: str | None
    held: int | None
    state: str
    #: what a verifier is told about PROBE as of now (revoked since 2021, so not_trusted)
    answer: tuple[str, str]
    #: the peer events the attack leaves, newest first
    events: tuple[str, ...] = ()


TABLE = [
    Row(
        "threshold_raised_withdraws_the_held_one_signature_list",
        threshold_raised,
        "rejected",
        "threshold_not_met",
        1,
        "withdrawn",
        ("unknown", "not_listed"),
        ("rejected", "withdrawn"),
    ),
    Row(
        "scope_narrowed_while_the_peer_is_unreachable_applies_at_once",
        scope_narrowed_while_unreachable,
        "failed",
        "connection_failed",
        1,
        "failing",
        ("unknown", "not_listed"),
        ("rejudged", "scope"),
    ),
    Row(
        "validity_bound_lowered_withdraws_the_held_list",
        validity_bound_lowered,
        "rejected",
        "validity_too_long",
        1,
        "withdrawn",
        ("unknown", "not_listed"),
        ("validity_too_long", "withdrawn"),
    ),
    Row(
        "stolen_key_fast_forward_recovered_by_re_pinning",
        stolen_key_fast_forward,
        "accepted",
        None,
        2,
        "fresh",
        ("not_trusted", "revoked"),
        ("epoch", "withdrawn", "gap"),
    ),
    Row(
        "removing_and_re_adding_a_peer_keeps_rollback_protection",
        remove_and_add_back,
        "rejected",
        "rollback",
        4,
        "failing",
        ("not_trusted", "revoked"),
        ("rollback", "gap"),
    ),
    Row(
        "list_frozen_for_decades_by_a_stolen_key",
        freeze_for_decades,
        "rejected",
        "validity_too_long",
        1,
        "failing",
        ("not_trusted", "revoked"),
        ("validity_too_long",),
    ),
    Row(
        "revocation_erased_after_the_fact",
        revocation_erased,
        "rejected",
        "history_rewritten",
        1,
        "failing",
        ("not_trusted", "revoked"),
        ("history_rewritten",),
    ),
    Row(
        "revocation_moved_later",
        revocation_moved_later,
        "rejected",
        "history_rewritten",
        1,
        "failing",
        ("not_trusted", "revoked"),
        ("history_rewritten",),
    ),
    Row(
        "revoked_issuer_dropped_from_the_list",
        revoked_issuer_dropped,
        "rejected",
        "history_rewritten",
        1,
        "failing",
        ("not_trusted", "revoked"),
        ("history_rewritten",),
    ),
    Row(
        "one_key_in_two_encodings",
        one_key_counted_twice,
        "rejected",
        "key_invalid",
        1,
        "failing",
        ("not_trusted", "revoked"),
        ("rejected",),
    ),
    *(
        Row(
            f"hostile_body_{attack.__name__}",
            attack,
            "rejected",
            code,
            1,
            "failing",
            ("not_trusted", "revoked"),
            ("rejected",),
        )
        for attack, code in [
            (nested_too_deep, "payload_not_json"),
            (huge_integer, "payload_not_json"),
            (lone_surrogate_in_an_id, "payload_not_json"),
            (duplicate_member_in_an_entry, "payload_not_json"),
            (calendar_edge_instant, "schema_invalid"),
        ]
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.name)
async def test_attack(world: World, row: Row, caplog: pytest.LogCaptureFixture) -> None:
    await row.attack(world)
    with caplog.at_level(logging.WARNING, logger="registry_node.federation"):
        result = await world.sync()
    assert (result.outcome, result.code) == (row.outcome, row.code), result.detail
    assert await world.held_seq() == row.held
    status = await world.status()
    assert status["state"] == row.state
    assert ask(world) == row.answer
    events = await world.node.store.read.peer_events(world.sim.peer_id)
    assert tuple(e["kind"] for e in events) == row.events
    alarms = [r for r in caplog.records if r.levelno == logging.ERROR]
    metrics = world.node.metrics.render().decode()
    if row.code in ("history_rewritten", "equivocation"):
        assert [r.getMessage() for r in alarms] == [f"ALARM: peer {row.code.replace('_', ' ')}"]
        peer = f'peer="{world.sim.peer_id}"'
        assert f'registry_peer_alarms_total{{{peer},reason="{row.code}"}} 1.0' in metrics
    else:
        assert alarms == []
    if row.state == "withdrawn":
        assert status["withdrawn"]["code"] == row.code
        assert f'registry_peer_list_in_use{{peer="{world.sim.peer_id}"}} 0.0' in metrics
    else:
        assert status["withdrawn"] is None


async def test_a_new_trust_epoch_is_audited_and_shown(world: World) -> None:
    await stolen_key_fast_forward(world)
    status = await world.status()
    assert status["state"] == "withdrawn"
    assert status["withdrawn"]["new_epoch"] is True
    assert status["withdrawn"]["code"] == "unknown_key"
    assert status["trusted_keys"] == world.sim.pins  # the keys the stolen list declared are gone
    line = peer_line(status).split("\t")
    assert line[2] == "withdrawn"
    assert line[6].startswith("not used (new trust epoch): unknown_key: ")
    audit = [r for r in await world.node.store.read.audit() if r.action == "peer.epoch"]
    assert len(audit) == 1
    assert audit[0].target == world.sim.peer_id
    assert audit[0].after["seq"] == 10**9


async def test_re_pinning_that_keeps_the_stolen_key_is_no_new_epoch(world: World) -> None:
    stolen = world.sim.signers[0]
    world.sim.publish(seq=10**9)
    assert (await world.sync()).outcome == "accepted"
    new = keys.generate()
    world.sim.signers, world.sim.seq = [new], 1
    world.sim.publish()
    await reload(world, keys=[stolen.kid, new.kid])  # the stolen key is still pinned
    status = await world.status()
    assert status["state"] == "fresh"  # the held list passes the new pins: it still binds
    assert (await world.sync()).code == "rollback"
    events = [e["kind"] for e in await world.node.store.read.peer_events(world.sim.peer_id)]
    assert "epoch" not in events


async def test_a_withdrawn_list_comes_back_when_the_terms_are_restored(world: World) -> None:
    await threshold_raised(world)
    assert (await world.status())["state"] == "withdrawn"
    await reload(world)
    assert (await world.status())["state"] == "fresh"
    assert ask(world) == ("not_trusted", "revoked")


async def test_a_start_with_an_edited_peers_file_judges_the_held_list(world: World) -> None:
    from dataclasses import replace

    from registry_node.services.node import Node

    config = world.node.config
    await world.node.close()
    await world.server.close()  # unreachable: the judgement uses the stored bytes
    doc = peer_doc(world.sim, world.url, keys=[*world.sim.pins, keys.generate().kid], threshold=2)
    (world.tmp / "peers.yaml").write_text(dump_yaml({"peers": [doc]}))
    # A command-line tool opening the database leaves the held list to the node's reload.
    tool = await Node.open(replace(config), world.clock, judge_peers=False, publish=False)
    held = await tool.store.read.peer_list(world.sim.peer_id)
    await tool.close()
    assert held is not None and held.withdrawn is None
    world.node = await Node.open(replace(config), world.clock)
    status = await world.status()
    assert (status["state"], status["withdrawn"]["code"]) == ("withdrawn", "threshold_not_met")
    assert ask(world) == ("unknown", "not_listed")
    events = await world.node.store.read.peer_events(world.sim.peer_id)
    assert events[0]["kind"] == "withdrawn"


async def test_a_list_judged_under_other_terms_is_not_used_until_judged_again(
    world: World,
) -> None:
    """Between a change of terms and the judgement under them, the held list is not a source."""
    assert ask(world) == ("not_trusted", "revoked")
    world.configure(scope={"jurisdictions": ["US-IN"], "credential_types": ["ClrCredential"]})
    assert ask(world) == ("unknown", "not_listed")
    status = await world.status()
    assert (status["state"], status["withdrawn"]["code"]) == ("withdrawn", "terms_changed")
    await world.federation.reconcile()
    assert (await world.status())["state"] == "fresh"


async def test_gauges_follow_a_peer_removed_added_back_and_re_pinned(world: World) -> None:
    peer = f'peer="{world.sim.peer_id}"'
    await reload(world, keys=[])
    await reload(world)
    metrics = world.node.metrics.render().decode()
    assert f"registry_peer_list_seq{{{peer}}} 1.0" in metrics
    assert f"registry_peer_list_in_use{{{peer}}} 1.0" in metrics
    assert f'registry_peer_entries{{kind="accepted",{peer}}} 3.0' in metrics
    await reload(world, keys=[keys.generate().kid])  # the held list fails the new pin
    metrics = world.node.metrics.render().decode()
    assert f"registry_peer_list_in_use{{{peer}}} 0.0" in metrics
    assert f'registry_peer_entries{{kind="accepted",{peer}}} 0.0' in metrics


async def test_a_bundle_leaves_out_a_withdrawn_list(world: World) -> None:
    """An offline bundle carries only lists that satisfy today's terms."""
    from registry_node.services import bundle

    saved = await bundle.save(world.node, world.tmp / "before")
    assert [item["id"] for item in saved["lists"]] == [
        world.node.config.node_id,
        world.sim.peer_id,
    ]
    await threshold_raised(world)
    saved = await bundle.save(world.node, world.tmp / "after")
    assert [item["id"] for item in saved["lists"]] == [world.node.config.node_id]
