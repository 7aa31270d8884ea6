"""Two real ``serve`` replicas of Ohio's node on one PostgreSQL database, behind a load
balancer, beside Indiana's node (SQLite) that syncs Ohio through it (docs/adr/0024).

Started at the same instant they publish one first list; a change made through the standby is
answered by both; the holder of the lease is killed with SIGKILL in the middle of a publication,
and later in the middle of a peer sync, and the other replica takes over within the stated
bound, with nothing lost. A watcher reads Ohio's list through the load balancer all along: no
``seq`` is ever seen with two different bodies, and Indiana never raises an alarm."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from registry_node.services import postgres
from tests.e2e_harness import (
    INDIANA,
    OHIO,
    NodeProcess,
    SharedClock,
    eventually,
    parse_list,
)
from tests.pg import PASSWORD, Cluster
from tests.test_federation_e2e import BULK_ISSUERS, IMPORT_BATCH, bulky_issuers

#: how soon a standby takes the lease over once its holder's process is gone (the stated
#: bound is 2 s: a check each second; the rest is slack for a loaded test machine)
TAKEOVER_BOUND = 10.0
SYNCED = ("accepted", "unchanged", "not_modified")


class OhioReplica(NodeProcess):
    """One replica of Ohio's node: a data folder of its own, the key folder they share."""

    def __init__(self, name: str, root: Path, clock: SharedClock, http: aiohttp.ClientSession):
        super().__init__(OHIO, root, clock, http)
        self.name = name
        self.folder = root / f"oh-{name}"
        self.node_yaml = self.folder / "node.yaml"
        self.peers_file = self.folder / "peers.yaml"
        self.log_file = self.folder / "node.log"
        self.keys_dir = root / "oh-keys"

    def __repr__(self) -> str:
        return f"<Ohio replica {self.name} {self.url}>"

    def write_config(self) -> None:
        super().write_config()
        with self.node_yaml.open("a") as f:
            f.write(f"keys_dir: {self.keys_dir}\nreplica_name: {self.name}\n")

    async def replica(self) -> dict[str, Any]:
        _, ready = await self.readyz()
        return dict(ready["checks"]["replica"])


class Balancer:
    """A load balancer: each request to the first replica that answers (as a proxy with
    health checks does once a backend stops accepting connections)."""

    def __init__(self, backends: list[OhioReplica], http: aiohttp.ClientSession) -> None:
        self.backends = backends
        self.http = http

    async def forward(self, request: web.Request) -> web.Response:
        for backend in self.backends:
            if not backend.running:
                continue
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with self.http.request(
                    request.method,
                    backend.url + request.path_qs,
                    headers={
                        k: v
                        for k, v in request.headers.items()
                        if k.lower() not in {"host", "accept-encoding"}
                    },
                    data=await request.read(),
                ) as resp:
                    body = await resp.read()
                    headers = {
                        k: v
                        for k, v in resp.headers.items()
                        if k.lower()
                        not in {
                            "content-length",
                            "content-encoding",
                            "transfer-encoding",
                            "connection",
                        }
                    }
                    return web.Response(status=resp.status, body=body, headers=headers)
        return web.Response(status=502, text="no replica answers")


@contextlib.asynccontextmanager
async def balancer(backends: list[OhioReplica], http: aiohttp.ClientSession) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", Balancer(backends, http).forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Watcher:
    """Reads Ohio's newest list through the load balancer again and again, remembering the
    digest of every body seen for each seq."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http
        self.seen: dict[int, set[str]] = {}

    async def run(self) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, ValueError, KeyError):
                async with self.http.get(
                    f"{self.url}/trust-list", headers={"Accept-Encoding": "identity"}
                ) as resp:
                    if resp.status == 200:
                        listed = parse_list(await resp.read(), resp.headers)
                        self.seen.setdefault(listed.seq, set()).add(listed.digest)
            await asyncio.sleep(0.05)  # a polling pace, not a wait for time to pass


async def _db(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, password=PASSWORD)


async def _history(url: str) -> list[tuple[int, str | None, str]]:
    """(seq, prev, digest) of every version in the database, in order."""
    raw = await _db(url)
    try:
        rows = await raw.fetch("SELECT seq, prev, digest FROM versions ORDER BY seq")
    finally:
        await raw.close()
    return [(int(r[0]), r[1], str(r[2])) for r in rows]


_BLOCKED = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'relation' AND l.relation = $1::regclass AND NOT l.granted "
    "AND a.application_name = $2"
)


async def _kill_inside_its_write(url: str, replica: OhioReplica, table: str, what: str) -> None:
    """SIGKILL ``replica`` in the middle of a write transaction: the test holds ``table`` in
    SHARE mode, so the replica's write of it waits (its transaction open, the writers' lock
    held: for a publication, after the list was signed); once it is seen waiting, it is
    killed, and the test lets the table go."""
    raw = await _db(url)
    try:
        async with raw.transaction():
            await raw.execute(f"LOCK TABLE {table} IN SHARE MODE")
            try:
                async with asyncio.timeout(60):
                    name = postgres.application_name(replica.name)
                    while not await raw.fetchval(_BLOCKED, table, name):
                        pass  # each look is a round trip to the server
            except TimeoutError:
                raise AssertionError(
                    f"{replica} was never seen {what}\n{replica.log_tail()}"
                ) from None
            await replica.kill()
    finally:
        await raw.close()


def _in_indiana(issuers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The synthetic issuers as Indiana's."""
    text = json.dumps(issuers).replace("ohio", "indiana").replace("Ohio", "Indiana")
    return list(json.loads(text.replace("US-OH", "US-IN")))


async def _holder(replicas: list[OhioReplica]) -> tuple[OhioReplica, OhioReplica]:
    """(the holder of the lease, the standby), once both running replicas agree."""

    async def agreed() -> str | None:
        views = [await r.replica() for r in replicas if r.running]
        holders = {v["holder"] for v in views}
        leading = [v["name"] for v in views if v["lease"] == "held"]
        if len(holders) == 1 and leading == [*holders]:
            return leading[0]
        return None

    name = await eventually(agreed, "the replicas to agree on the lease holder", 30.0)
    [holder] = [r for r in replicas if r.name == name]
    [standby] = [r for r in replicas if r is not holder]
    return holder, standby


async def _took_over(replica: OhioReplica, since: float) -> float:
    async def leading() -> bool | None:
        return True if (await replica.replica())["lease"] == "held" else None

    await eventually(leading, f"{replica} to take the lease over", TAKEOVER_BOUND)
    return time.perf_counter() - since


def _status_of(payload: dict[str, Any], issuer_id: str) -> str | None:
    for entry in payload["issuers"]:
        if entry["id"] == issuer_id:
            return str(entry["status_history"][-1]["status"])
    return None


async def test_two_replicas_share_one_database_and_survive_the_loss_of_the_holder(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    url = pg_cluster.fresh_database()
    async with aiohttp.ClientSession() as http:
        clock = SharedClock(tmp_path / "clock-offset")
        a, b = (OhioReplica(name, tmp_path, clock, http) for name in ("a", "b"))
        for replica in (a, b):
            replica.database = (url, pg_cluster.password_file)
        indiana = NodeProcess(INDIANA, tmp_path, clock, http)
        replicas = [a, b]
        watcher_task: asyncio.Task[None] | None = None
        try:
            async with balancer(replicas, http) as ohio_url:
                for node in (a, b, indiana):
                    node.write_config()
                await asyncio.gather(a.initialise(), indiana.initialise())
                b.token, b.kid = a.token, a.kid  # one database: one token, one key
                indiana.peers_file.write_text(
                    indiana.peers_document([a], {OHIO.node_id: f"{ohio_url}/trust-list"})
                )
                for replica in replicas:
                    replica.peers_file.write_text(replica.peers_document([indiana]))

                # Started at the same instant: one holder, one first list.
                await asyncio.gather(a.start(), b.start(), indiana.start())
                holder, standby = await _holder(replicas)
                watcher = Watcher(ohio_url, http)
                watcher_task = asyncio.get_running_loop().create_task(watcher.run())

                async def published() -> bool | None:
                    return True if await _history(url) else None

                await eventually(published, "the first publication", 30.0)
                assert [seq for seq, _, _ in await _history(url)] == [1]

                # Indiana syncs Ohio through the load balancer; the holder syncs Indiana.
                for node, peer in ((indiana, OHIO.node_id), (holder, INDIANA.node_id)):
                    result = (await node.sync())[peer]
                    assert result["outcome"] in SYNCED, result

                # A change through the standby is answered by both replicas.
                began = time.perf_counter()
                await standby.set_status(OHIO.licensing_board, "suspended", "audit")

                async def answered_by_both() -> bool | None:
                    for replica in replicas:
                        answer = await replica.lookup(OHIO.licensing_board)
                        if answer["reason"] != "suspended":
                            return None
                    return True

                await eventually(answered_by_both, "both replicas to answer the change", 30.0)
                answered = time.perf_counter() - began
                print(f"\na change through the standby was answered by both in {answered:.2f}s")

                # The holder is killed in the middle of a publication of a large list.
                for start in range(0, BULK_ISSUERS, IMPORT_BATCH):
                    status, result = await standby.admin(
                        "POST",
                        "/import",
                        {"jurisdiction": OHIO.code, "issuers": bulky_issuers(start, IMPORT_BATCH)},
                    )
                    assert (status, result["created"]) == (200, IMPORT_BATCH), result
                before = await _history(url)
                await _kill_inside_its_write(url, holder, "versions", "publishing")
                took = await _took_over(standby, time.perf_counter())
                print(f"the standby took the lease over {took:.2f}s after the kill")

                # The last of the imported issuers: a slow machine may have published the
                # first batches already (the publication waits only for a pause in changes).
                last = f"did:web:bulk{BULK_ISSUERS - 1}.ohio.example"

                async def bulk_published() -> int | None:
                    latest = await standby.current_list()
                    found = _status_of(latest.payload, last)
                    return latest.seq if found == "active" else None

                seq = await eventually(bulk_published, "the large list to be published", 60.0)
                # One version carries the change: the killed publication was rolled back
                # (or had just committed, and then there was nothing left to publish).
                history = await _history(url)
                assert (seq, len(history)) == (history[-1][0], len(before) + 1)

                # The killed replica comes back as the standby; the new holder is killed in
                # the middle of a sync of Indiana's large list.
                await holder.start()
                holder, standby = standby, holder
                assert (await _holder(replicas))[0] is holder
                for start in range(0, BULK_ISSUERS, IMPORT_BATCH):
                    status, result = await indiana.admin(
                        "POST",
                        "/import",
                        {
                            "jurisdiction": INDIANA.code,
                            "issuers": _in_indiana(bulky_issuers(start, IMPORT_BATCH)),
                        },
                    )
                    assert status == 200, result
                indiana_seq = await indiana.publish()
                sync = asyncio.get_running_loop().create_task(holder.sync(indiana))
                try:
                    await _kill_inside_its_write(url, holder, "peer_lists", "syncing")
                finally:
                    with contextlib.suppress(Exception):
                        await sync
                await _took_over(standby, time.perf_counter())

                async def synced() -> bool | None:
                    peers = await standby.peers()
                    return True if peers[INDIANA.node_id]["seq"] == indiana_seq else None

                await eventually(synced, "the new holder to sync Indiana", 60.0)
                answer = await standby.lookup("did:web:bulk7.indiana.example")
                assert answer["outcome"] == "trusted", answer

                # Nothing lost, nothing signed twice.
                history = await _history(url)
                assert [seq for seq, _, _ in history] == list(range(1, len(history) + 1))
                for (_, _, earlier), (_, prev, _) in itertools.pairwise(history):
                    assert prev == earlier
                assert all(len(digests) == 1 for digests in watcher.seen.values()), watcher.seen
                ours = {seq: digest for seq, _, digest in history}
                for seq, digests in watcher.seen.items():
                    assert digests == {ours[seq]}
                assert (await indiana.sync())[OHIO.node_id]["outcome"] in SYNCED
                ohio_peer = (await indiana.peers())[OHIO.node_id]
                assert ohio_peer["state"] == "fresh", ohio_peer
        finally:
            if watcher_task is not None:
                watcher_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher_task
            await asyncio.gather(*(n.stop() for n in (a, b, indiana)))
    assert "equivocation" not in indiana.log_file.read_text()
