"""Federation against a simulated peer: one table of scenarios, one row per attack or fault.

Each row starts from a fresh node that pins the simulated peer's key. Unless a row says
otherwise, the node first accepts the peer's seq 1 (the baseline); then the row arranges its
scenario, the node syncs once, and the row states the outcome, the reason code and which seq
the node holds afterwards. Time is the injected clock; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from registry_node.config import FederationConfig
from registry_node.core import keys, reasons
from registry_node.core.packed import PackedTexts
from registry_node.core.peers import parse_peers
from registry_node.core.yamlsafe import dump_yaml
from registry_node.services.federation import FAULT_POINTS, Federation, SyncResult
from registry_node.services.node import Node
from tests.helpers import FakeClock, make_config
from tests.sim import PeerSimulator, sim_issuer

LIMIT = 64 * 1024


def peer_doc(sim: PeerSimulator, url: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": sim.peer_id,
        "jurisdiction": sim.jurisdiction,
        "url": url,
        "keys": sim.pins,
        "refresh": "15m",
    }
    doc.update(overrides)
    return doc


@dataclass
class World:
    sim: PeerSimulator
    server: TestServer
    node: Node
    clock: FakeClock
    url: str
    tmp: Path

    @property
    def federation(self) -> Federation:
        return self.node.federation

    async def sync(self) -> SyncResult:
        return await self.federation.sync(self.sim.peer_id)

    def configure(self, **overrides: Any) -> None:
        doc = {"peers": [peer_doc(self.sim, self.url, **overrides)]}
        self.federation.set_peers(parse_peers(doc, "peers.yaml"))

    async def held_seq(self) -> int | None:
        held = await self.node.store.read.peer_list(self.sim.peer_id)
        return None if held is None else held.seq

    async def status(self) -> dict[str, Any]:
        return (await self.federation.status())[0].as_json()


async def make_world(
    tmp: Path,
    clock: FakeClock,
    aiohttp_server: Any,
    sim: PeerSimulator,
    processes: int = 0,
    concurrency: int = 8,
) -> World:
    server = await aiohttp_server(sim.app())
    url = str(server.make_url("/trust-list"))
    (tmp / "peers.yaml").write_text(dump_yaml({"peers": [peer_doc(sim, url)]}))
    federation = FederationConfig(
        max_list_bytes=LIMIT,
        read_timeout=timedelta(seconds=0.3),
        deadline=timedelta(seconds=0.6),
        judge_processes=processes,
        concurrency=concurrency,
    )
    node = await Node.open(make_config(tmp, federation=federation), clock)
    return World(sim, server, node, clock, url, tmp)


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, aiohttp_server: Any) -> AsyncIterator[World]:
    built = await make_world(tmp_path, clock, aiohttp_server, PeerSimulator(clock))
    yield built
    await built.node.close()


# -- scenarios -------------------------------------------------------------------------------


def nothing(w: World) -> None:
    pass


def new_version(w: World) -> None:
    w.clock.advance(minutes=10)
    w.sim.issuers.append(sim_issuer(100 + w.sim.seq))
    w.sim.publish()


def same_seq_different_bytes(w: World) -> None:
    w.clock.advance(minutes=10)
    w.sim.issuers.append(sim_issuer(98))
    w.sim.publish(seq=1)


def seq_gap(w: World) -> None:
    for _ in range(3):
        new_version(w)


def broken_prev_chain(w: World) -> None:
    w.clock.advance(minutes=10)
    w.sim.publish(prev="A" * 43)


def unknown_key(w: World) -> None:
    w.sim.signers = [keys.generate()]
    w.sim.publish()


def too_few_signatures(w: World) -> None:
    second = keys.generate("ES256")
    w.configure(keys=[*w.sim.pins, second.kid], threshold=2)


def alg_none(w: World) -> None:
    w.sim.body_override = w.sim.unsigned_body({"alg": "none", "kid": w.sim.pins[0]})


def typ_mismatch(w: World) -> None:
    w.sim.body_override = w.sim.unsigned_body(
        {"alg": "Ed25519", "kid": w.sim.pins[0], "typ": "JWT"}
    )


def rotation_announced_then_used(w: World) -> None:
    successor = keys.generate()
    w.sim.announced = [successor]
    new_version(w)
    w.sim.held_for_check = successor  # type: ignore[attr-defined]


def rotation_to_unannounced_key(w: World) -> None:
    w.clock.advance(minutes=10)
    w.sim.signers = [keys.generate()]
    w.sim.publish()


def expired_list(w: World) -> None:
    w.clock.advance(hours=1)
    w.sim.publish(exp=int(w.clock().timestamp()) - 1, iat=int(w.clock().timestamp()) - 3600)


def iat_in_future(w: World) -> None:
    future = int(w.clock().timestamp()) + 600
    w.sim.publish(iat=future, exp=future + 3600)


def iat_within_skew(w: World) -> None:
    soon = int(w.clock().timestamp()) + 240
    w.sim.publish(iat=soon, exp=soon + 3600)


def wrong_iss(w: World) -> None:
    w.sim.publish(iss="https://registry.michigan.example")


def wrong_jurisdiction(w: World) -> None:
    w.sim.publish(jurisdiction="US-MI")


def entries_outside_scope(w: World) -> None:
    w.sim.issuers += [sim_issuer(50, "US-OH"), sim_issuer(51, "US-OH")]
    mixed = sim_issuer(52)
    mixed["authorizations"].append({**mixed["authorizations"][0], "jurisdiction": "US-OH"})
    w.sim.issuers.append(mixed)
    w.sim.publish()


def types_outside_scope(w: World) -> None:
    w.configure(scope={"jurisdictions": ["US-IN"], "credential_types": ["ClrCredential"]})
    w.sim.issuers.append(sim_issuer(60, types=["ClrCredential", "OpenBadgeCredential"]))
    w.sim.publish()


def schema_invalid_payload(w: World) -> None:
    bad = sim_issuer(70)
    bad["org_type"] = "school"
    w.sim.issuers.append(bad)
    w.sim.publish()


def truncated_body(w: World) -> None:
    w.sim.publish()
    w.sim.body_override = w.sim.current[: len(w.sim.current) // 2]


def non_json_body(w: World) -> None:
    w.sim.body_override = b"<html><body>Service Unavailable</body></html>"


def oversized_with_length(w: World) -> None:
    w.sim.body_override = b" " * (LIMIT + 1)


def oversized_chunked(w: World) -> None:
    w.sim.body_override = b" " * (LIMIT * 4)
    w.sim.chunked = True


def drip(w: World) -> None:
    w.sim.publish()
    w.sim.drip = 0.05  # a byte every 50 ms: under the read timeout, past the deadline


def http_500(w: World) -> None:
    w.sim.publish()
    w.sim.status = 500


async def connection_refused(w: World) -> None:
    await w.server.close()


def redirect_same_origin(w: World) -> None:
    w.sim.publish()
    w.sim.redirect_to = w.url.replace("/trust-list", "/moved")


def redirect_other_origin(w: World) -> None:
    w.sim.publish()
    w.sim.redirect_to = w.url.replace("127.0.0.1", "localhost").replace("/trust-list", "/moved")


def redirect_loop(w: World) -> None:
    w.sim.publish()
    w.sim.redirect_loop = True


def chunked_ok(w: World) -> None:
    w.sim.publish()
    w.sim.chunked = True


@dataclass(frozen=True)
class Row:
    name: str
    arrange: Callable[[World], Awaitable[None] | None]
    outcome: str
    code: str | None
    held: int | None  # the seq held after the sync
    baseline: bool = True


TABLE = [
    Row("first_sync", nothing, "accepted", None, 1, baseline=False),
    Row("unchanged_list_gets_304", nothing, "not_modified", None, 1),
    Row("new_version", new_version, "accepted", None, 2),
    Row(
        "same_seq_different_bytes_is_equivocation",
        same_seq_different_bytes,
        "rejected",
        "equivocation",
        1,
    ),
    Row("seq_gap_is_accepted_and_recorded", seq_gap, "accepted", None, 4),
    Row("broken_prev_chain", broken_prev_chain, "rejected", "chain_broken", 1),
    Row("signature_by_unknown_key", unknown_key, "rejected", "unknown_key", None, baseline=False),
    Row(
        "too_few_signatures_for_threshold",
        too_few_signatures,
        "rejected",
        "threshold_not_met",
        None,
        baseline=False,
    ),
    Row("alg_none", alg_none, "rejected", "alg_not_allowed", 1),
    Row("mismatched_typ", typ_mismatch, "rejected", "typ_mismatch", 1),
    Row("key_rotation_announced", rotation_announced_then_used, "accepted", None, 2),
    Row(
        "rotation_to_a_key_never_announced",
        rotation_to_unannounced_key,
        "rejected",
        "unknown_key",
        1,
    ),
    Row("expired_list", expired_list, "rejected", "expired", 1),
    Row("iat_in_the_future", iat_in_future, "rejected", "iat_in_future", 1),
    Row("iat_within_clock_skew", iat_within_skew, "accepted", None, 2),
    Row("wrong_iss", wrong_iss, "rejected", "wrong_issuer", 1),
    Row("wrong_jurisdiction", wrong_jurisdiction, "rejected", "wrong_jurisdiction", 1),
    Row("entries_outside_scope_are_dropped", entries_outside_scope, "accepted", None, 2),
    Row("credential_types_outside_scope_are_narrowed", types_outside_scope, "accepted", None, 2),
    Row("schema_invalid_payload", schema_invalid_payload, "rejected", "schema_invalid", 1),
    Row("truncated_body", truncated_body, "rejected", "not_json", 1),
    Row("non_json_body", non_json_body, "rejected", "not_json", 1),
    Row("over_size_limit_with_content_length", oversized_with_length, "failed", "too_large", 1),
    Row("over_size_limit_without_content_length", oversized_chunked, "failed", "too_large", 1),
    Row("chunked_body_within_limit", chunked_ok, "accepted", None, 2),
    Row("server_drips_past_the_deadline", drip, "failed", "timeout", 1),
    Row("http_500_keeps_last_good", http_500, "failed", "http_status", 1),
    Row("connection_refused_keeps_last_good", connection_refused, "failed", "connection_failed", 1),
    Row("redirect_within_origin_is_followed", redirect_same_origin, "accepted", None, 2),
    Row("redirect_to_another_origin", redirect_other_origin, "failed", "redirect_refused", 1),
    Row("redirect_loop", redirect_loop, "failed", "too_many_redirects", 1),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.name)
async def test_scenario(world: World, row: Row, caplog: pytest.LogCaptureFixture) -> None:
    if row.baseline:
        first = await world.sync()
        assert first.outcome == "accepted", first
    arranged = row.arrange(world)
    if arranged is not None:
        await arranged
    result = await world.sync()
    assert (result.outcome, result.code) == (row.outcome, row.code), result.detail
    assert await world.held_seq() == row.held
    status = await world.status()
    if row.outcome in ("rejected", "failed"):
        assert row.code is not None
        assert status["last_error"]["code"] == row.code
        # what to do, from the registry, for this outcome's use of the code
        hint = reasons.get(row.code).use(leads_to=row.outcome).hint
        assert hint and status["last_error"]["hint"] == hint
        logged = [r for r in caplog.records if getattr(r, "code", None) == row.code]
        assert [getattr(r, "hint", None) for r in logged] == [hint]
        assert status["consecutive_failures"] == 1
        assert status["state"] == ("failing" if row.held else "never_synced")
    else:
        assert status["state"] == "fresh"
        assert status["last_error"] is None
    await EXTRA.get(row.name, _no_check)(world, result)


async def _no_check(world: World, result: SyncResult) -> None:
    pass


async def _check_equivocation_alarm(world: World, result: SyncResult) -> None:
    events = await world.node.store.read.peer_events(world.sim.peer_id)
    assert events[0]["kind"] == "equivocation"
    metrics = world.node.metrics.render().decode()
    peer = 'peer="https://registry.indiana.example"'
    assert f'registry_peer_rejections_total{{{peer},reason="equivocation"}} 1.0' in metrics


async def _check_gap(world: World, result: SyncResult) -> None:
    events = await world.node.store.read.peer_events(world.sim.peer_id)
    assert events[0]["kind"] == "gap"
    assert events[0]["detail"] == {"skipped": 2, "seq": 4}


async def _check_scope(world: World, result: SyncResult) -> None:
    status = await world.status()
    assert status["entries"] == {"accepted": 4, "dropped_scope": 2, "narrowed_scope": 1}
    stored = await world.node.store.read.peer_entries(world.sim.peer_id)
    assert "did:web:issuer50.us-oh.example" not in stored
    mixed = json.loads(stored["did:web:issuer52.us-in.example"])
    assert [a["jurisdiction"] for a in mixed["authorizations"]] == ["US-IN"]


async def _check_types(world: World, result: SyncResult) -> None:
    stored = await world.node.store.read.peer_entries(world.sim.peer_id)
    assert set(stored) == {"did:web:issuer60.us-in.example"}
    entry = json.loads(stored["did:web:issuer60.us-in.example"])
    assert entry["authorizations"][0]["credential_types"] == ["ClrCredential"]


async def _check_rotation(world: World, result: SyncResult) -> None:
    successor = world.sim.held_for_check  # type: ignore[attr-defined]
    status = await world.status()
    assert successor.kid in status["trusted_keys"]
    # The peer now signs with the announced key alone: accepted without editing peers.yaml.
    world.sim.signers, world.sim.announced = [successor], []
    new_version(world)
    after = await world.sync()
    assert after.outcome == "accepted", after.detail
    assert (await world.status())["trusted_keys"] == [successor.kid]


async def _check_not_modified(world: World, result: SyncResult) -> None:
    assert world.sim.requests == 2


EXTRA: dict[str, Callable[[World, SyncResult], Awaitable[None]]] = {
    "same_seq_different_bytes_is_equivocation": _check_equivocation_alarm,
    "seq_gap_is_accepted_and_recorded": _check_gap,
    "entries_outside_scope_are_dropped": _check_scope,
    "credential_types_outside_scope_are_narrowed": _check_types,
    "key_rotation_announced": _check_rotation,
    "unchanged_list_gets_304": _check_not_modified,
}


async def test_lists_are_judged_in_a_worker_process(
    tmp_path: Path, clock: FakeClock, aiohttp_server: Any
) -> None:
    world = await make_world(tmp_path, clock, aiohttp_server, PeerSimulator(clock), processes=1)
    try:
        assert (await world.sync()).outcome == "accepted"
        # The kept entries cross back packed; stored and indexed, they are the signed texts.
        stored = await world.node.store.read.peer_entries(world.sim.peer_id)
        indexed = world.node.resolver.snapshot.sources[world.sim.peer_id].texts
        assert isinstance(indexed, PackedTexts) and indexed == stored and stored
        world.sim.signers = [keys.generate()]
        world.sim.publish()
        assert (await world.sync()).code == "unknown_key"  # Rejected crosses the boundary
        pool = world.federation.executor
        assert pool is not None
        # The worker dies (say, killed for memory): that sync fails, the next gets a new one.
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 1).result()
        crashed = await world.sync()
        assert (crashed.outcome, crashed.code) == ("failed", "judge_crashed")
        assert await world.held_seq() == 1
        assert (await world.sync()).code == "unknown_key"
        assert world.federation.executor is not pool
    finally:
        await world.node.close()


async def test_rollback_to_an_older_version_is_refused(world: World) -> None:
    await world.sync()
    new_version(world)
    assert (await world.sync()).seq == 2
    world.sim.serve_version(1)
    result = await world.sync()
    assert (result.outcome, result.code) == ("rejected", "rollback")
    assert await world.held_seq() == 2


async def test_same_bytes_with_a_new_etag_only_refresh_the_fetch_time(world: World) -> None:
    await world.sync()
    held = await world.node.store.read.peer_list(world.sim.peer_id)
    world.clock.advance(minutes=5)
    world.sim.body_override = world.sim.current  # same bytes
    async with world.node.store.write() as tx:  # forget the ETag: the server sends a 200
        await tx.conn.execute("UPDATE peer_lists SET etag = NULL")
    result = await world.sync()
    assert result.outcome == "unchanged"
    after = await world.node.store.read.peer_list(world.sim.peer_id)
    assert after is not None and held is not None
    assert after.accepted_at == held.accepted_at
    assert after.fetched_at > held.fetched_at


async def test_a_peer_that_stops_publishing_goes_stale_then_resumes(world: World) -> None:
    await world.sync()
    world.clock.advance(hours=25)
    result = await world.sync()  # still serving seq 1, now expired: 304 from the server
    assert (result.outcome, result.code) == ("rejected", "expired")
    assert (await world.status())["state"] == "stale"
    world.sim.publish()
    result = await world.sync()
    assert result.outcome == "accepted"
    status = await world.status()
    assert status["state"] == "fresh"
    assert status["consecutive_failures"] == 0


async def test_removed_peer_stops_being_trusted(world: World) -> None:
    await world.sync()
    world.federation.set_peers([])
    assert await world.federation.status() == []
    with pytest.raises(Exception, match="no configured peer"):
        await world.sync()


async def test_re_pinning_resets_the_trusted_keys(world: World) -> None:
    await world.sync()
    compromised_recovery = keys.generate()
    world.sim.signers = [compromised_recovery]
    world.sim.publish()
    assert (await world.sync()).code == "unknown_key"
    world.configure(keys=[compromised_recovery.kid])  # the operator pins the new key
    result = await world.sync()
    assert result.outcome == "accepted", result.detail


@pytest.mark.parametrize("point", FAULT_POINTS)
async def test_a_crash_between_fetch_and_commit_keeps_the_old_state(
    world: World, point: str
) -> None:
    await world.sync()
    before = await world.node.store.read.peer_list(world.sim.peer_id, with_body=True)
    entries_before = await world.node.store.read.peer_entries(world.sim.peer_id)
    new_version(world)

    def fault(name: str) -> None:
        if name == point:
            raise RuntimeError(f"crash at {name}")

    world.federation._fault = fault
    with pytest.raises(RuntimeError, match="crash at"):
        await world.sync()
    assert await world.node.store.read.peer_list(world.sim.peer_id, with_body=True) == before
    assert await world.node.store.read.peer_entries(world.sim.peer_id) == entries_before
    # After a restart the node holds the same list, then syncs the new one.
    await world.node.close()
    world.node = await Node.open(replace(world.node.config), world.clock)
    assert await world.held_seq() == 1
    assert (await world.sync()).seq == 2


async def test_one_peer_down_while_two_others_sync(
    tmp_path: Path, clock: FakeClock, aiohttp_server: Any
) -> None:
    sims = [
        PeerSimulator(clock, "https://registry.indiana.example", "US-IN"),
        PeerSimulator(clock, "https://registry.michigan.example", "US-MI"),
        PeerSimulator(clock, "https://registry.illinois.example", "US-IL"),
    ]
    world = await make_world(tmp_path, clock, aiohttp_server, sims[0])
    try:
        docs = [peer_doc(sims[0], world.url)]
        for sim in sims[1:]:
            server = await aiohttp_server(sim.app())
            docs.append(peer_doc(sim, str(server.make_url("/trust-list"))))
        world.federation.set_peers(parse_peers({"peers": docs}, "peers.yaml"))
        sims[0].drip = 0.05  # slow and doomed
        results = {r.peer_id: r for r in await world.federation.sync_all()}
        assert results[sims[0].peer_id].code == "timeout"
        assert results[sims[1].peer_id].outcome == "accepted"
        assert results[sims[2].peer_id].outcome == "accepted"
        states = {s.id: s.state for s in await world.federation.status()}
        assert states == {
            "https://registry.indiana.example": "never_synced",
            "https://registry.michigan.example": "fresh",
            "https://registry.illinois.example": "fresh",
        }
    finally:
        await world.node.close()


async def test_syncs_in_flight_are_bounded(
    tmp_path: Path, clock: FakeClock, aiohttp_server: Any
) -> None:
    first, second = (
        PeerSimulator(clock, "https://registry.indiana.example", "US-IN"),
        PeerSimulator(clock, "https://registry.michigan.example", "US-MI"),
    )
    world = await make_world(tmp_path, clock, aiohttp_server, first, concurrency=1)
    try:
        server = await aiohttp_server(second.app())
        docs = [peer_doc(first, world.url), peer_doc(second, str(server.make_url("/trust-list")))]
        world.federation.set_peers(parse_peers({"peers": docs}, "peers.yaml"))
        fetch = world.federation.fetcher.fetch
        in_flight, most = 0, 0

        async def counting_fetch(url: str, etag: str | None = None) -> Any:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await fetch(url, etag)
            finally:
                in_flight -= 1

        world.federation.fetcher.fetch = counting_fetch  # type: ignore[method-assign]
        first.gate = asyncio.Event()
        both = asyncio.ensure_future(world.federation.sync_all())
        await first.arrived.wait()  # the first sync is held at the server, holding its slot
        assert second.requests == 0
        first.gate.set()
        results = await both
        assert [r.outcome for r in results] == ["accepted", "accepted"]
        assert most == 1
        assert second.requests == 1
    finally:
        await world.node.close()


async def test_peers_status_and_metrics_report_each_peer(world: World) -> None:
    await world.sync()
    status = await world.status()
    assert status["seq"] == 1
    assert status["entries"]["accepted"] == 3
    assert status["trusted_keys"] == world.sim.pins
    assert status["last_attempt"] == status["last_success"]
    world.clock.advance(seconds=90)
    metrics = world.node.metrics.render().decode()
    peer = 'peer="https://registry.indiana.example"'
    assert f"registry_peer_list_age_seconds{{{peer}}} 90.0" in metrics
    assert f'registry_peer_syncs_total{{outcome="accepted",{peer}}} 1.0' in metrics
    assert f'registry_peer_entries{{kind="accepted",{peer}}} 3.0' in metrics
    assert f"registry_peer_fetch_duration_seconds_count{{{peer}}} 1.0" in metrics


def test_peers_file_mistakes_name_the_peer_and_field() -> None:
    from registry_node.core.errors import ConfigError

    good = {
        "id": "https://registry.indiana.example",
        "jurisdiction": "US-IN",
        "url": "https://registry.indiana.example/trust-list",
        "keys": ["A" * 43],
    }
    cases = [
        (
            {**good, "threshold": 0},
            "peers.yaml: peers[1] (https://registry.indiana.example): threshold:",
        ),
        (
            {**good, "threshold": 2},
            "peers.yaml: peers[1] (https://registry.indiana.example): threshold: 2 exceeds",
        ),
        (
            {**good, "url": "http://registry.indiana.example/x"},
            "peers.yaml: peers[1] (https://registry.indiana.example): url: must be https",
        ),
        (
            {**good, "on_stale": "ignore"},
            "peers.yaml: peers[1] (https://registry.indiana.example): on_stale:",
        ),
        ({**good, "keys": []}, "peers.yaml: peers[1] (https://registry.indiana.example): keys:"),
    ]
    first = {**good, "id": "https://registry.michigan.example", "jurisdiction": "US-MI"}
    for bad, message in cases:
        with pytest.raises(ConfigError) as info:
            parse_peers({"peers": [first, bad]}, "peers.yaml")
        assert info.value.detail.startswith(message), info.value.detail
    with pytest.raises(ConfigError, match=r"peers\[1\] .*id: already used by peers\[0\]"):
        parse_peers({"peers": [good, good]}, "peers.yaml")


async def test_re_pinning_while_the_same_list_is_served_rejudges_it(world: World) -> None:
    await world.sync()
    spare = keys.generate()
    world.configure(keys=[*world.sim.pins, spare.kid])  # new pin set, same list served
    result = await world.sync()
    # The held list is judged again from its bytes (no equivocation alarm); the fetch after
    # it is conditional again.
    assert result.outcome == "not_modified", result.detail
    events = await world.node.store.read.peer_events(world.sim.peer_id)
    assert [e["kind"] for e in events] == ["rejudged"]
    assert (await world.status())["state"] == "fresh"
    assert world.sim.requests == 2


async def test_a_new_scope_applies_to_the_list_already_held(world: World) -> None:
    world.sim.issuers.append(sim_issuer(80, "US-OH"))
    world.configure(scope={"jurisdictions": ["US-IN", "US-OH"]})
    world.sim.publish()
    await world.sync()
    assert "did:web:issuer80.us-oh.example" in await world.node.store.read.peer_entries(
        world.sim.peer_id
    )
    world.configure()  # back to the default scope: the peer's own jurisdiction
    await world.federation.reconcile()
    stored = await world.node.store.read.peer_entries(world.sim.peer_id)
    assert "did:web:issuer80.us-oh.example" not in stored
    assert (await world.status())["entries"]["dropped_scope"] == 1


async def test_a_304_to_an_unconditional_request_is_a_failure(world: World) -> None:
    world.sim.status = 304
    result = await world.sync()
    assert (result.outcome, result.code) == ("failed", "unexpected_not_modified")
    assert await world.held_seq() is None


async def test_a_utf16_body_is_not_json_here(world: World) -> None:
    world.sim.body_override = world.sim.current.decode().encode("utf-16")
    result = await world.sync()
    assert (result.outcome, result.code) == ("rejected", "not_json")


async def test_reloads_that_change_something_are_audited(world: World) -> None:
    assert await world.federation.reload("signal:SIGHUP") == {
        "added": [],
        "removed": [],
        "changed": [],
    }
    (world.tmp / "peers.yaml").write_text("peers: []\n")
    diff = await world.federation.reload("signal:SIGHUP")
    assert diff["removed"] == [world.sim.peer_id]
    audit = await world.node.store.read.audit()
    reloads = [r for r in audit if r.action == "peers.reload"]
    assert len(reloads) == 1
    assert reloads[0].actor == "signal:SIGHUP"
    assert reloads[0].after == diff


async def test_a_sync_of_all_peers_reports_each_peer_as_it_ends(world: World) -> None:
    reports: list[tuple[str, int, int]] = []
    results = await world.federation.sync_all(lambda *report: reports.append(report))  # type: ignore[arg-type]
    assert [r.outcome for r in results] == ["accepted"]
    assert reports == [("syncing", 0, 1), ("syncing", 1, 1)]


async def test_a_list_judged_against_a_held_list_that_another_process_replaced_is_not_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes sync one peer on one database (replicas, or a node and the command line):
    the one whose judgment was overtaken writes nothing it judged against the old held list,
    and judges again (rollback protection holds across processes)."""
    await world.sync()
    new_version(world)  # the peer serves seq 2
    other = await Node.open(world.node.config, world.clock, judge_peers=False)
    try:
        real_commit = world.federation._commit
        overtaken = []

        async def commit_after_the_other(*args: Any, **kwargs: Any) -> None:
            if not overtaken:
                # Meanwhile the other process fetches seq 3 and writes it.
                new_version(world)
                overtaken.append(await other.federation.sync(world.sim.peer_id))
            await real_commit(*args, **kwargs)

        monkeypatch.setattr(world.federation, "_commit", commit_after_the_other)
        result = await world.sync()
    finally:
        await other.close()
    assert [(r.outcome, r.seq) for r in overtaken] == [("accepted", 3)]
    # seq 2, judged against seq 1, is never written over seq 3; judged again, seq 3 stands.
    assert (result.outcome, result.seq) == ("not_modified", 3)
    assert await world.held_seq() == 3
