"""Peer jobs: refresh after success, capped exponential backoff after failures, jitter, and
jobs that follow peers.yaml. The scheduler is started paused: nothing runs on its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from registry_node.core import keys
from registry_node.core.yamlsafe import dump_yaml
from registry_node.services import scheduler as scheduler_module
from registry_node.services.federation import backoff_delay, with_jitter
from registry_node.services.replicas import Replica
from registry_node.services.scheduler import Jobs, job_id
from tests.helpers import FakeClock, issuer
from tests.services.test_federation import World, make_world, peer_doc
from tests.sim import PeerSimulator


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (0, timedelta(minutes=15)),
        (1, timedelta(seconds=30)),
        (2, timedelta(seconds=60)),
        (5, timedelta(seconds=480)),
        (8, timedelta(hours=1)),
        (400, timedelta(hours=1)),
    ],
)
def test_backoff_doubles_up_to_the_ceiling(failures: int, expected: timedelta) -> None:
    assert backoff_delay(failures, timedelta(minutes=15), timedelta(hours=1)) == expected


def test_jitter_stays_within_ten_percent() -> None:
    base = timedelta(minutes=10)
    assert with_jitter(base, lambda: 0.0) == timedelta(minutes=9)
    assert with_jitter(base, lambda: 1.0) == timedelta(minutes=11)


@pytest.fixture
async def jobs(
    tmp_path: Path, clock: FakeClock, aiohttp_server: Any
) -> AsyncIterator[tuple[Jobs, World]]:
    world = await make_world(tmp_path, clock, aiohttp_server, PeerSimulator(clock))
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    yield Jobs(scheduler, world.node, rand=lambda: 0.5), world
    if scheduler.running:
        scheduler.shutdown(wait=False)
    await world.node.close()


async def test_peer_jobs_reschedule_by_outcome(jobs: tuple[Jobs, World]) -> None:
    runner, world = jobs
    peer_id = world.sim.peer_id
    runner.apply_peers()
    first = runner.scheduler.get_job(job_id(peer_id))
    assert first is not None
    assert first.next_run_time == world.clock() + timedelta(seconds=2.5)  # spread start

    await runner.run_peer(peer_id)  # success: next run one refresh later
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == world.clock() + timedelta(
        minutes=15
    )

    world.sim.status = 500
    await runner.run_peer(peer_id)
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == world.clock() + timedelta(
        seconds=30
    )
    await runner.run_peer(peer_id)
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == world.clock() + timedelta(
        seconds=60
    )

    world.sim.status = 200
    await runner.run_peer(peer_id)  # recovered: back to the refresh interval
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == world.clock() + timedelta(
        minutes=15
    )


async def test_jobs_follow_the_configured_peers(jobs: tuple[Jobs, World]) -> None:
    runner, world = jobs
    runner.apply_peers()
    assert [j.id for j in runner.scheduler.get_jobs()] == [job_id(world.sim.peer_id)]
    world.federation.set_peers([])
    runner.apply_peers()
    assert runner.scheduler.get_jobs() == []
    await runner.run_peer(world.sim.peer_id)  # a job for a removed peer does nothing
    assert runner.scheduler.get_jobs() == []


async def test_a_reload_that_re_pins_a_peer_syncs_it_at_once(jobs: tuple[Jobs, World]) -> None:
    """The operator fixes a wrong pin and reloads: the peer is fetched now, not after its
    backoff, and its status stops showing the error met under the old pin."""
    runner, world = jobs
    peer_id = world.sim.peer_id
    right = world.sim.signers
    world.sim.signers = [keys.generate()]  # peers.yaml pins a key the peer does not sign with
    world.sim.publish(seq=1)
    (world.tmp / "peers.yaml").write_text(dump_yaml({"peers": [peer_doc(world.sim, world.url)]}))
    await runner.reload_peers("test")
    world.sim.signers = right
    world.sim.publish(seq=2)
    runner.apply_peers()
    for _ in range(3):
        await runner.run_peer(peer_id)
    status = await world.status()
    assert (status["consecutive_failures"], status["last_error"]["code"]) == (3, "unknown_key")
    backoff = world.clock() + timedelta(seconds=120)
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == backoff

    # A reload that changes something else keeps the failures and the backoff.
    doc = peer_doc(world.sim, world.url, keys=status["trusted_keys"], refresh="20m")
    (world.tmp / "peers.yaml").write_text(dump_yaml({"peers": [doc]}))
    assert (await runner.reload_peers("test"))["changed"] == [peer_id]
    assert (await world.status())["consecutive_failures"] == 3
    assert runner.scheduler.get_job(job_id(peer_id)).next_run_time == backoff

    # The right pin: due now (by the scheduler's time), and the old error is gone.
    doc = peer_doc(world.sim, world.url, refresh="20m")
    (world.tmp / "peers.yaml").write_text(dump_yaml({"peers": [doc]}))
    assert (await runner.reload_peers("test"))["changed"] == [peer_id]
    status = await world.status()
    assert (status["consecutive_failures"], status["last_error"]) == (0, None)
    due = runner.scheduler.get_job(job_id(peer_id)).next_run_time
    assert abs(due - datetime.now(UTC)) < timedelta(seconds=5), due
    await runner.run_peer(peer_id)
    status = await world.status()
    assert (status["state"], status["seq"], status["last_error"]) == ("fresh", 2, None)


async def test_stopping_waits_for_running_jobs_and_starts_none(
    jobs: tuple[Jobs, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutting down never leaves a job running against a closed database."""
    runner, world = jobs
    peer_id = world.sim.peer_id
    release, started = asyncio.Event(), asyncio.Event()
    calls = []

    async def slow_sync(peer: str) -> None:
        calls.append(peer)
        started.set()
        await release.wait()

    monkeypatch.setattr(world.federation, "sync", slow_sync)
    running = asyncio.create_task(runner.run_peer(peer_id))
    await started.wait()
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # the sync is still running
    release.set()
    await asyncio.wait_for(stopping, 5)
    await running
    assert runner.scheduler.get_job(job_id(peer_id)) is None  # not rescheduled
    await runner.run_peer(peer_id)  # a job that fires after the stop does nothing
    assert calls == [peer_id]


async def _a_job_started_by_the_scheduler(
    runner: Jobs, release: asyncio.Event
) -> tuple[asyncio.Event, list[str]]:
    """A job the scheduler itself starts (its executor), held until ``release``."""
    started, ended = asyncio.Event(), []

    async def job() -> None:
        with runner._job() as go:
            assert go
            started.set()
            await release.wait()
            ended.append("finished")

    runner.scheduler.resume()
    runner.scheduler.add_job(job, "date", run_date=datetime.now(UTC), id="held")
    await asyncio.wait_for(started.wait(), 5)
    return started, ended


async def test_a_job_the_scheduler_started_finishes_before_the_stop_returns(
    jobs: tuple[Jobs, World], caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler's shutdown cancels the jobs it started: the stop lets them finish first,
    so a Ctrl-C in the middle of a publication neither cuts it short nor logs a traceback."""
    runner, _ = jobs
    release = asyncio.Event()
    _, ended = await _a_job_started_by_the_scheduler(runner, release)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not stopping.done()  # the job is still running, and not cancelled
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert ended == ["finished"]
    assert not runner.scheduler.running
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_job_still_running_past_the_grace_is_cancelled_quietly(
    jobs: tuple[Jobs, World], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, _ = jobs
    monkeypatch.setattr(scheduler_module, "STOP_GRACE", timedelta(0))
    release = asyncio.Event()  # never set: the job would run for ever
    _, ended = await _a_job_started_by_the_scheduler(runner, release)
    await asyncio.wait_for(runner.stop(), 5)
    assert ended == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("cancelled" in r.getMessage() for r in caplog.records)


class _Lease:
    """A coordinator whose lease the test hands out (services/replicas.py)."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.free = False
        self._leading = False

    @property
    def leading(self) -> bool:
        return self._leading

    async def try_lead(self) -> bool:
        self._leading = self._leading or self.free
        return self._leading

    async def holder(self) -> str | None:
        return "standby" if self._leading else "the other"

    async def close(self) -> None:
        return None


async def test_a_standby_replica_syncs_and_publishes_nothing_until_it_takes_the_lease(
    jobs: tuple[Jobs, World],
) -> None:
    runner, world = jobs
    peer_id = world.sim.peer_id
    lease = _Lease()
    world.node.replica = Replica("standby", lease, shared=True)
    before = await world.node.store.read.latest_seq()
    await world.node.issuers.create(issuer(9), "admin")
    world.clock.advance(seconds=30)  # well past the debounce: a publication is due

    await runner.run_peer(peer_id)
    await runner._publish()
    assert await world.held_seq() is None  # the holder syncs, not this one
    assert await world.node.store.read.latest_seq() == before  # nor does it publish
    job = runner.scheduler.get_job(job_id(peer_id))
    assert job.next_run_time == world.clock() + timedelta(minutes=15)  # looks again later

    lease.free = True  # the holder went
    await runner._publish()
    assert world.node.replica.takeovers == 1
    assert await world.node.store.read.latest_seq() == before + 1
    job = runner.scheduler.get_job(job_id(peer_id))
    assert job.next_run_time == world.clock() + timedelta(seconds=2.5)  # every peer soon
    await runner.run_peer(peer_id)
    assert await world.held_seq() == world.sim.seq
