"""Scheduled work: the publisher's check, and one job per peer.

Each peer job schedules its own next run when it finishes: the peer's refresh interval after a
success, an exponential backoff (capped) after failures, both with jitter. "Sync now" runs the
same code outside the schedule.

Among the replicas of one database (services/replicas.py) only the holder of the lease
publishes, syncs peers, prunes and checks a restore; the others keep their schedule and skip
its work. Every second each replica tries to take the lease (the holder: checks it still holds
it) and catches its lookup index up with the database; between those, an announced commit
wakes the follower at once (:meth:`Jobs.follow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError
from registry_node.core.peers import refetch_needed
from registry_node.core.timeutil import Clock
from registry_node.services.federation import Federation, backoff_delay, with_jitter
from registry_node.services.publisher import Publisher
from registry_node.services.recovery import Recovery
from registry_node.services.replicas import Replica
from registry_node.services.resolver import Resolver
from registry_node.services.retention import Retention

log = logging.getLogger("registry_node.scheduler")

PUBLISH_CHECK = timedelta(seconds=1)
#: how often old version bodies are pruned (docs/adr/0015)
PRUNE_EVERY = timedelta(hours=1)
#: how often a restored node asks its peers again to confirm the restore
RECOVERY_EVERY = timedelta(seconds=15)
FIRST_SYNC_SPREAD = timedelta(seconds=5)
#: how long a stop lets the jobs that are running finish before it cancels them
STOP_GRACE = timedelta(seconds=10)


class Services(Protocol):
    """What the jobs run (the node, services/node.py, provides it)."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def federation(self) -> Federation: ...

    @property
    def resolver(self) -> Resolver: ...

    @property
    def retention(self) -> Retention: ...

    @property
    def recovery(self) -> Recovery: ...

    @property
    def replica(self) -> Replica: ...


def job_id(peer_id: str) -> str:
    return f"peer:{peer_id}"


class Jobs:
    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        node: Services,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.scheduler = scheduler
        self.node = node
        self.rand = rand
        #: jobs running now: :meth:`stop` waits for them, so none outlives the database
        self._running: set[asyncio.Future[Any]] = set()
        self._stopped = False
        self._follower: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """Stop scheduling, and let the jobs that are running finish: those still running
        after :data:`STOP_GRACE` are cancelled. None outlives the node's database.

        The scheduler is paused first and shut down last: its shutdown cancels the jobs it
        started, which would cut short a job the node waits for."""
        self._stopped = True
        if self.scheduler.running:
            self.scheduler.pause()  # starts no job any more; those started go on
        await asyncio.sleep(0)  # a job started just now enters its body and sees the stop
        if self._follower is not None:
            self.node.replica.changed.set()  # wakes the follower, which sees it must stop
            await self._follower
        if self._running:
            await asyncio.wait(list(self._running), timeout=STOP_GRACE.total_seconds())
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    @contextlib.contextmanager
    def _job(self) -> Iterator[bool]:
        """Around a job's body: yields False once stopping (the job then does nothing). A job
        cancelled by the stop (past its grace) ends quietly: its transactions roll back."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            yield not self._stopped
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            log.warning("a job still running at the stop was cancelled")
        finally:
            if task is not None:
                self._running.discard(task)

    def start(self) -> None:
        self.scheduler.add_job(
            self._publish,
            "interval",
            seconds=PUBLISH_CHECK.total_seconds(),
            id="publisher",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self.prune,
            "interval",
            seconds=PRUNE_EVERY.total_seconds(),
            id="retention",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC) + FIRST_SYNC_SPREAD,  # soon after a start
        )
        self.scheduler.add_job(
            self.recover,
            "interval",
            seconds=RECOVERY_EVERY.total_seconds(),
            id="recovery",
            max_instances=1,
            coalesce=True,
        )
        self.apply_peers()
        self.scheduler.start()
        if self.node.replica.shared:
            self._follower = asyncio.get_running_loop().create_task(self.follow())

    async def _publish(self) -> None:
        with self._job() as go:
            if go:
                await self._lease()
                await self._publish_now()

    async def _lease(self) -> None:
        """Take the lease when it is free (the holder: check it still holds it); a replica
        that has just taken it over starts the holder's work afresh."""
        try:
            if await self.node.replica.refresh():
                await self.took_over()
        except Exception:
            log.exception("the replicas' lease could not be checked")

    async def took_over(self) -> None:
        """This replica now holds the lease: judge the held lists under peers.yaml as it is
        here, confirm a restore if one is pending, and sync every peer soon (the previous
        holder's schedule went with it)."""
        try:
            await self.node.federation.reconcile("takeover")
        except Exception:
            log.exception("judging the held lists again failed")
        await self.recover()
        for peer_id in self.node.federation.peers:
            self._schedule(peer_id, FIRST_SYNC_SPREAD * self.rand())

    async def follow(self) -> None:
        """Follow the commits other replicas announce: catch the lookup index up at once (and
        the holder publishes when the commit made a publication due)."""
        changed = self.node.replica.changed
        while not self._stopped:
            await changed.wait()
            changed.clear()
            with self._job() as go:
                if go and not self._stopped:
                    await self._publish_now()
                    try:
                        await self.node.federation.load_metrics()
                    except Exception:
                        log.exception("the peers' gauges could not be read")

    async def follow_peers(self) -> None:
        """Among replicas: put in force the peers.yaml another replica reloaded, when this
        replica's file is the same (services/federation.py ``peers_to_follow``)."""
        if not self.node.replica.shared:
            return
        federation = self.node.federation
        try:
            actor = await federation.peers_to_follow()
            if actor is not None:
                await self.reload_peers(actor, announce=False)
                federation.peers_differ = None
        except ConfigError as exc:  # the file changed again since, with a mistake in it
            federation.peers_differ = f"peers.yaml cannot be put in force: {exc.detail}"
        except Exception:
            log.exception("following the other replicas' peers.yaml failed")

    async def _publish_now(self) -> None:
        await self.follow_peers()
        if self.node.replica.leading:
            try:
                await self.node.publisher.tick()
            except Exception:
                log.exception("publication failed")
        try:
            await self.node.resolver.catch_up()
        except Exception:
            log.exception("the lookup index could not catch up with the database")

    async def prune(self) -> None:
        if not self.node.replica.leading:
            return
        try:
            await self.node.retention.prune()
        except Exception:
            log.exception("pruning old version bodies failed")

    async def recover(self) -> None:
        """While a restore is unconfirmed, ask the peers again (nothing to do otherwise)."""
        if not self.node.replica.leading:
            return
        try:
            await self.node.recovery.attempt()
        except Exception:
            log.exception("confirming the restore failed")

    async def reload_peers(self, actor: str, *, announce: bool = True) -> dict[str, list[str]]:
        """Re-read peers.yaml and make the jobs match. A bad file changes nothing. A peer
        whose URL or pins changed is synced at once, whatever its backoff. Among replicas,
        the others follow (``announce``; :meth:`follow_peers`)."""
        federation = self.node.federation
        before = {peer_id: peer for peer_id, peer in federation.peers.items()}
        replica = self.node.replica
        diff = await federation.reload(
            actor, announce=replica.name if announce and replica.shared else None
        )
        self.apply_peers()
        for peer_id in diff["changed"]:
            if refetch_needed(before.get(peer_id), federation.peer(peer_id)):
                self.sync_soon(peer_id)
        return diff

    def sync_soon(self, peer_id: str) -> None:
        """Run the peer's job now (the scheduler's own time: the node's clock may be offset
        in tests); it plans its next run from the outcome as ever."""
        self.scheduler.add_job(
            self.run_peer,
            "date",
            args=[peer_id],
            id=job_id(peer_id),
            replace_existing=True,
            misfire_grace_time=None,
        )

    def apply_peers(self) -> None:
        """Make the jobs match the configured peers: new peers start soon, removed ones stop."""
        wanted = {job_id(p): p for p in self.node.federation.peers}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("peer:") and job.id not in wanted:
                job.remove()
        for jid, peer_id in wanted.items():
            if self.scheduler.get_job(jid) is None:
                self._schedule(peer_id, FIRST_SYNC_SPREAD * self.rand())

    def _schedule(self, peer_id: str, delay: timedelta) -> None:
        self.scheduler.add_job(
            self.run_peer,
            "date",
            run_date=self.node.clock() + delay,
            args=[peer_id],
            id=job_id(peer_id),
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def run_peer(self, peer_id: str) -> None:
        with self._job() as go:
            if go:
                await self._run_peer(peer_id)

    async def _run_peer(self, peer_id: str) -> None:
        federation = self.node.federation
        if peer_id not in federation.peers:
            return
        if not self.node.replica.leading:
            # The holder of the lease syncs; this replica looks again when its turn would be.
            if not self._stopped:
                refresh = federation.peer(peer_id).refresh
                self._schedule(peer_id, with_jitter(refresh, self.rand))
            return
        try:
            await federation.sync(peer_id)
        except Exception:
            log.exception("peer sync crashed", extra={"peer": peer_id})
        peer = federation.peers.get(peer_id)
        if peer is None:  # removed while it ran
            return
        failures = await federation.failures(peer_id)
        ceiling = self.node.config.federation.backoff_max
        delay = with_jitter(backoff_delay(failures, peer.refresh, ceiling), self.rand)
        if not self._stopped:
            self._schedule(peer_id, delay)
