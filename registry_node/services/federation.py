"""Federation: keep the last good copy of every peer's list, verified.

``sync(peer)`` fetches (conditionally), judges the bytes with the pure acceptance rules
(core/acceptance.py), and on success replaces the peer's accepted list, its entries and its
trusted keys in one transaction; any failure is recorded without touching the last good copy.
One peer's sync never waits on another's except for the shared, bounded fetch slots.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from multiprocessing import get_context
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import reasons
from registry_node.core.acceptance import (
    ALARM_CODES,
    UNSIGNED_CODES,
    AcceptedState,
    Decision,
)
from registry_node.core.errors import FetchFailed, Rejected
from registry_node.core.model import digest
from registry_node.core.packed import accept_packed
from registry_node.core.peers import PeerConfig, refetch_needed
from registry_node.core.timeutil import Clock, format_rfc3339, from_numeric_date, to_numeric_date
from registry_node.services.changes import (
    HeldList,
    PeerListAccepted,
    PeerListRefreshed,
    PeerListWithdrawn,
    PeersReconfigured,
)
from registry_node.services.fetcher import Fetcher
from registry_node.services.metrics import Metrics
from registry_node.services.peers import PeerRegistry
from registry_node.services.progress import SYNCING, Progress, ignore
from registry_node.services.status import HeldListStatus, PeerError, PeerStatus, Withdrawal
from registry_node.services.store import PeerEntries, PeerList, PeerSync, Store, Tx

log = logging.getLogger("registry_node.federation")

#: named points inside a sync where tests inject crashes
FAULT_POINTS = ("fetched", "accepted", "list_written", "entries_written")

BACKOFF_START = timedelta(seconds=30)


def backoff_delay(failures: int, refresh: timedelta, ceiling: timedelta) -> timedelta:
    """The wait before the next attempt: the refresh interval after a success; after failures,
    30 s doubling with each one, never more than ``ceiling``."""
    if failures <= 0:
        return refresh
    return min(BACKOFF_START * (1 << min(failures - 1, 30)), ceiling)


def with_jitter(delay: timedelta, rand: Callable[[], float] = random.random) -> timedelta:
    """Spread peers' attempts by up to ±10% so that they do not fetch in lockstep."""
    return delay * (0.9 + 0.2 * rand())


@dataclass(frozen=True)
class SyncResult:
    peer_id: str
    outcome: str  # accepted | unchanged | not_modified | rejected | failed
    seq: int | None = None
    code: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


#: A held list judged under other terms than the peer's current ones, not yet judged again
_PENDING: dict[str, Any] = {
    "code": "terms_changed",
    "detail": "the peer's terms changed; the held list is not used until judged again",
    "at": None,
}
#: Refusals recorded as peer events (besides the alarms)
EVENT_CODES = frozenset({"rollback", "chain_broken", "validity_too_long"}) | ALARM_CODES


def held_state(accepted: PeerList | None) -> AcceptedState | None:
    """What the next list is judged against: the held list, unless a new trust epoch began
    (then the next list is judged as at first contact)."""
    if accepted is None or not accepted.binds:
        return None
    return AcceptedState(
        accepted.seq,
        accepted.digest,
        accepted.iat,
        accepted.exp,
        accepted.trusted_keys,
        accepted.pins_id,
        accepted.terms_id,
        None if accepted.withdrawn is None else accepted.withdrawn["code"],
    )


#: meta key: the peers.yaml a replica last put in force (its digest, the replica, when)
PEERS_APPLIED = "peers_applied"


class HeldListChanged(Exception):
    """Another process (a replica, a command) changed the peer's held list in the database
    while this one judged a list against it: what was judged must not be written."""


#: how many times a sync starts again after :class:`HeldListChanged` before it gives up
HELD_LIST_RETRIES = 3


def _held_key(held: PeerList | None) -> tuple[Any, ...] | None:
    """What a judgment of the peer's next list depends on in its held row."""
    if held is None:
        return None
    return (held.seq, held.digest, held.terms_id, held.pins_id, held.binds, held.withdrawn)


async def _check_held(tx: Tx, peer_id: str, before: PeerList | None) -> None:
    """Inside the writing transaction (the writers' lock is held): is the held list still the
    one the new list was judged against? Otherwise rollback protection would judge against a
    state that is gone: an older list could replace a newer one another process wrote."""
    if _held_key(await tx.peer_list(peer_id)) != _held_key(before):
        raise HeldListChanged(peer_id)


def in_use(peer: PeerConfig, accepted: PeerList | None) -> bool:
    """Is the held list a source of answers under the peer's current terms?"""
    return (
        accepted is not None and accepted.withdrawn is None and accepted.terms_id == peer.terms_id
    )


def peer_state(peer: PeerConfig, accepted: PeerList | None, sync: PeerSync, now: int) -> str:
    """fresh, stale, failing, withdrawn or never_synced (docs/protocol.md section 9.5)."""
    if accepted is None:
        return "never_synced"
    if not in_use(peer, accepted):
        return "withdrawn"
    if accepted.exp <= now:
        return "stale"
    if sync.failures:
        return "failing"
    return "fresh"


class Federation:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        fetcher: Fetcher,
        clock: Clock,
        metrics: Metrics,
        peers: PeerRegistry,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.metrics = metrics
        self.peers = peers
        self._locks: dict[str, asyncio.Lock] = {}
        #: why this replica's peers.yaml is not the one another replica put in force, or None
        #: (docs/adr/0024; a replica in that state is not ready)
        self.peers_differ: str | None = None
        # At most `concurrency` syncs hold a body at once (memory is bounded by that times the
        # list limit), and at most one list per judging worker is being judged.
        self._slots = asyncio.Semaphore(config.federation.concurrency)
        self._judge = asyncio.Semaphore(max(1, config.federation.judge_processes))
        self._fault = fault or (lambda point: None)
        #: where lists are judged: a process pool keeps that CPU work off the interpreter that
        #: serves HTTP (docs/adr/0006); None with judge_processes 0: the default thread pool.
        self.executor: Executor | None = None

    # -- configuration ------------------------------------------------------------------

    def set_peers(self, peers: list[PeerConfig], applied: str | None = None) -> PeersReconfigured:
        """Replace the configured peers (``applied``: the digest of the peers.yaml they were
        read from); a removed peer stops being trusted at once."""
        diff = self.peers.replace(peers, applied)
        for peer_id in diff.removed:
            self.metrics.forget(peer_id)
        for peer_id in diff.added:
            self.metrics.peer(peer_id)
        return diff

    async def announce_peers(self, replica: str) -> None:
        """Record that ``replica`` put the peers.yaml of digest ``peers.applied`` in force, so
        that the other replicas of the database follow (:meth:`follow_peers`)."""
        applied = self.peers.applied
        if applied is None:
            return
        recorded = await self.store.read.meta(PEERS_APPLIED)
        if recorded is not None and json.loads(recorded)["digest"] == applied:
            return
        doc = {"digest": applied, "replica": replica, "at": format_rfc3339(self.clock())}
        async with self.store.write() as tx:
            await tx.set_meta(PEERS_APPLIED, json.dumps(doc, sort_keys=True))

    async def peers_to_follow(self) -> str | None:
        """When another replica of the database put a peers.yaml in force that is not this
        replica's, and this replica's file is the same (a configuration mounted on every
        replica): the actor to reload it as. When the files differ, :attr:`peers_differ`
        says so and this replica keeps the peers it has."""
        recorded = await self.store.read.meta(PEERS_APPLIED)
        if recorded is None:
            return None
        doc = json.loads(recorded)
        if doc["digest"] == self.peers.applied:
            self.peers_differ = None
            return None
        if self.peers.file_digest() == doc["digest"]:
            return f"replica:{doc['replica']}"
        detail = (
            f"{self.peers.path} differs from the peers.yaml replica {doc['replica']} put in "
            f"force at {doc['at']}: give every replica the same file, then reload"
        )
        if self.peers_differ != detail:
            log.warning("peers.yaml differs from the other replicas'", extra={"detail": detail})
        self.peers_differ = detail
        return None

    async def reload(self, actor: str, announce: str | None = None) -> dict[str, list[str]]:
        """Re-read peers.yaml. A file with a mistake changes nothing and raises ConfigError.
        A reload that changes something is written to the audit log, and every held list
        whose peer's terms changed is judged again at once (:meth:`reconcile`). A peer whose
        URL or pins changed starts afresh: its count of failures and its last error are
        cleared (they were met under the old settings), so that its next sync is not held
        back by their backoff (the scheduler syncs it at once, ``refetch_needed``).
        ``announce``: this replica's name, to record that it put the file in force so that
        the other replicas on the database follow (None: a node alone, or a replica that
        follows another's reload)."""
        before = {peer_id: peer for peer_id, peer in self.peers.items()}
        diff = self.set_peers(*self.peers.read_file())
        log.info("peers reloaded", extra={"by": actor, **diff.as_json()})
        if diff:
            refetch = [p for p in diff.changed if refetch_needed(before[p], self.peer(p))]
            stamp = format_rfc3339(self.clock())
            async with self.store.write() as tx:
                await tx.add_audit(stamp, actor, "peers.reload", None, None, diff.as_json())
                tx.note(diff)
                for peer_id in refetch:
                    sync = await tx.peer_sync(peer_id)
                    if sync.failures or sync.last_error_code is not None:
                        await tx.put_peer_sync(
                            replace(sync, failures=0, last_error_code=None, last_error_detail=None)
                        )
                        self.metrics.peer(peer_id).failures = 0
        await self.reconcile(actor)
        await self.load_metrics()  # a peer added back resumes its held list's gauges
        if announce is not None:
            self.peers_differ = None
            await self.announce_peers(announce)
        return diff.as_json()

    async def reconcile(self, actor: str = "node") -> list[SyncResult]:
        """Judge again, from its stored bytes, every held list whose peer's terms changed
        since it was judged: it stays a source only if it passes them. Needs no network."""
        lists = await self.store.read.peer_lists()
        results = []
        for peer_id, peer in self.peers.items():
            held = lists.get(peer_id)
            if held is not None and held.terms_id != peer.terms_id:
                lock = self._locks.setdefault(peer_id, asyncio.Lock())
                async with lock:
                    result = await self._rejudge(peer, actor)
                if result is not None:
                    results.append(result)
        return results

    async def _rejudge(self, peer: PeerConfig, actor: str) -> SyncResult | None:
        """Judge the held list again under ``peer``'s terms (the caller saw they changed and
        holds the peer's lock; None when a sync judged it meanwhile). Its body (some MB) is
        read only here."""
        held = await self.store.read.peer_list(peer.id, with_body=True)
        if held is None or held.terms_id == peer.terms_id:
            return None
        now = self.clock()
        stamp = format_rfc3339(now)
        previous = held_state(held)
        try:
            decision = await self._judge_list(held.body, peer, previous, now, rejudge=True)
        except Rejected as exc:
            epoch = held.pins_id != peer.pins_id and exc.code in UNSIGNED_CODES
            withdrawn = {"code": exc.code, "detail": exc.detail, "at": stamp}
            async with self.store.write() as tx:
                await _check_held(tx, peer.id, held)
                await tx.withdraw_peer_list(peer.id, withdrawn, peer.terms_id, binds=not epoch)
                tx.note(PeerListWithdrawn(peer.id, exc.code))
                await tx.add_peer_event(
                    peer.id,
                    stamp,
                    "withdrawn",
                    {
                        "seq": held.seq,
                        "digest": held.digest,
                        "code": exc.code,
                        "detail": exc.detail,
                    },
                )
                if epoch:
                    detail = {
                        "seq": held.seq,
                        "digest": held.digest,
                        "pins": sorted(peer.pinned_thumbprints),
                    }
                    await tx.add_peer_event(peer.id, stamp, "epoch", detail)
                    await tx.add_audit(stamp, actor, "peer.epoch", peer.id, None, detail)
            gauge = self.metrics.peer(peer.id)
            gauge.withdrawn, gauge.entries = True, 0
            log.warning(
                "held peer list withdrawn: it fails the peer's new terms"
                + ("; a new trust epoch begins" if epoch else ""),
                extra={"peer": peer.id, "seq": held.seq, "code": exc.code, "detail": exc.detail},
            )
            return SyncResult(peer.id, "withdrawn", held.seq, exc.code, exc.detail)
        except FetchFailed as exc:  # the judging worker died: judged again at the next sync
            log.warning("could not judge the held list again", extra={"peer": peer.id})
            return SyncResult(peer.id, "failed", held.seq, exc.code, exc.detail)
        # The held list passed the new terms. Its trusted keys and pin set stay as they were:
        # after a re-pin the new pins, not the held list's keys, judge the next list.
        state = replace(decision.state, pins_id=held.pins_id, trusted_keys=held.trusted_keys)
        await self._commit(
            peer,
            held.body,
            held.etag,
            replace(decision, state=state),
            now,
            held,
            fetched_at=held.fetched_at,
            event=("rejudged", {"seq": held.seq}),
        )
        return SyncResult(peer.id, "accepted", held.seq)

    def peer(self, peer_id: str) -> PeerConfig:
        return self.peers.peer(peer_id)

    async def failures(self, peer_id: str) -> int:
        """Consecutive failed syncs of the peer."""
        return (await self.store.read.peer_sync(peer_id)).failures

    async def load_metrics(self) -> None:
        """Prime the gauges from the database (at start-up, and after a reload)."""
        lists = await self.store.read.peer_lists()
        syncs = await self.store.read.peer_syncs()
        for peer_id in self.peers:
            gauge = self.metrics.peer(peer_id)
            if peer_id in lists:
                accepted = lists[peer_id]
                gauge.iat, gauge.exp, gauge.seq = accepted.iat, accepted.exp, accepted.seq
                gauge.withdrawn = not in_use(self.peers.peer(peer_id), accepted)
                gauge.entries = 0 if gauge.withdrawn else accepted.entries
                gauge.dropped = accepted.dropped
            gauge.failures = syncs.get(peer_id, PeerSync(peer_id)).failures

    # -- syncing ------------------------------------------------------------------------

    async def sync_all(self, progress: Progress = ignore) -> list[SyncResult]:
        """Sync every configured peer at once; ``progress`` hears as each one ends."""
        peers = list(self.peers)
        finished = 0

        async def one(peer_id: str) -> SyncResult:
            nonlocal finished
            try:
                return await self.sync(peer_id)
            finally:
                finished += 1
                progress(SYNCING, finished, len(peers))

        progress(SYNCING, 0, len(peers))
        results = await asyncio.gather(*(one(p) for p in peers), return_exceptions=True)
        out = []
        for peer_id, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                # One peer's fault never fails the others' syncs.
                log.error("peer sync crashed", extra={"peer": peer_id}, exc_info=result)
                result = SyncResult(peer_id, "failed", None, "internal_error", repr(result))
            out.append(result)
        return out

    async def sync(self, peer_id: str) -> SyncResult:
        peer = self.peer(peer_id)
        lock = self._locks.setdefault(peer_id, asyncio.Lock())
        async with lock, self._slots:
            for _ in range(HELD_LIST_RETRIES):
                accepted = await self.store.read.peer_list(peer.id)
                try:
                    if accepted is not None and accepted.terms_id != peer.terms_id:
                        # terms changed without a reload: judge the held list first
                        await self._rejudge(peer, "sync")
                        accepted = await self.store.read.peer_list(peer.id)
                    return await self._sync(peer, accepted)
                except HeldListChanged:
                    log.info(
                        "the held list changed while a list was judged: judging again",
                        extra={"peer": peer.id},
                    )
            now = self.clock()
            detail = "the held list kept changing while lists were judged against it"
            return await self._record_failure(
                peer, now, "failed", code="held_list_changed", detail=detail
            )

    async def _sync(self, peer: PeerConfig, accepted: PeerList | None) -> SyncResult:
        now = self.clock()
        previous = held_state(accepted)
        # A conditional GET only while the held list is in use under the current terms;
        # otherwise the same bytes must be fetched and judged again.
        etag = accepted.etag if accepted is not None and in_use(peer, accepted) else None
        try:
            fetched = await self.fetcher.fetch(peer.url, etag)
            self.metrics.observe_fetch(peer.id, fetched.seconds)
            self._fault("fetched")
            if fetched.status == 304:
                if accepted is None or etag is None:
                    raise FetchFailed(
                        "the server answered 304 to an unconditional request",
                        code="unexpected_not_modified",
                    )
                if accepted.exp <= to_numeric_date(now):
                    raise Rejected("the peer still serves a list that has expired", code="expired")
                result = SyncResult(peer.id, "not_modified", accepted.seq)
                await self._record_unchanged(peer, fetched.etag, now, result, accepted)
                return result
            # A changed list is judged against the held entries (history only grows).
            baseline = previous is not None and digest(fetched.body) != previous.digest
            decision = await self._judge_list(fetched.body, peer, previous, now, baseline)
            self._fault("accepted")
            if decision.kind == "unchanged":
                result = SyncResult(peer.id, "unchanged", decision.state.seq)
                await self._record_unchanged(peer, fetched.etag, now, result, accepted)
                return result
            await self._commit(peer, fetched.body, fetched.etag, decision, now, accepted)
            return SyncResult(peer.id, "accepted", decision.state.seq)
        except Rejected as exc:
            return await self._record_failure(peer, now, "rejected", exc.code, exc.detail)
        except FetchFailed as exc:
            return await self._record_failure(peer, now, "failed", exc.code, exc.detail)

    def _pool(self) -> Executor | None:
        processes = self.config.federation.judge_processes
        if processes and self.executor is None:
            # forkserver: never fork a process that runs database and event-loop threads
            # Ctrl-C reaches the whole process group: the node shuts its workers down itself,
            # so they ignore SIGINT instead of dying of it with a traceback each.
            self.executor = ProcessPoolExecutor(
                processes,
                mp_context=get_context("forkserver"),
                initializer=signal.signal,
                initargs=(signal.SIGINT, signal.SIG_IGN),
            )
        return self.executor

    async def _judge_list(
        self,
        body: bytes,
        peer: PeerConfig,
        previous: AcceptedState | None,
        now: datetime,
        baseline: bool = False,
        *,
        rejudge: bool = False,
    ) -> Decision:
        """Judge ``body`` in the worker; with ``baseline``, against the held entries, read
        once a worker is free (a list waiting to be judged holds only its body)."""
        fed = self.config.federation
        # The kept entries come back packed: a tenth of the bytes to cross from the worker, and
        # the form the lookup index keeps them in (core/packed.py).
        judge = partial(
            accept_packed,
            max_bytes=fed.max_list_bytes,
            clock_skew=fed.clock_skew,
            rejudge=rejudge,
        )
        async with self._judge:
            if baseline:
                judge = partial(judge, previous_entries=await self.store.read.peer_entries(peer.id))
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self._pool(), judge, body, peer, previous, now
                )
            except (Rejected, FetchFailed):
                raise
            except BrokenProcessPool as exc:
                # The worker died (killed, out of memory): start a new one next time.
                broken, self.executor = self.executor, None
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                raise FetchFailed(
                    "the process judging lists stopped unexpectedly", code="judge_crashed"
                ) from exc
            except Exception as exc:
                # Whatever a hostile body provokes ends as a refusal with a code, never as a
                # crash of the sync (fail closed: nothing is accepted).
                log.exception("judging a list failed", extra={"peer": peer.id})
                raise Rejected(
                    f"the list could not be judged: {type(exc).__name__}: {exc}"[:500],
                    code="judge_failed",
                ) from exc

    async def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
        await self.fetcher.session.close()

    async def _commit(
        self,
        peer: PeerConfig,
        body: bytes,
        etag: str | None,
        decision: Decision,
        now: datetime,
        before: PeerList | None,
        *,
        fetched_at: str | None = None,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        stamp = format_rfc3339(now)
        state = decision.state
        entries = decision.entries
        record = PeerList(
            peer_id=peer.id,
            seq=state.seq,
            digest=state.digest,
            body=body,
            iat=state.iat,
            exp=state.exp,
            trusted_keys=state.trusted_keys,
            pins_id=state.pins_id,
            terms_id=state.terms_id,
            etag=etag,
            accepted_at=stamp,
            fetched_at=fetched_at or stamp,
            entries=len(entries),
            dropped=decision.dropped,
            narrowed=decision.narrowed,
            verified_kids=tuple(sorted(decision.verified_kids)),
        )
        rows = PeerEntries.of(entries, decision.aliases)  # the CPU work, before the writer
        async with self.store.write() as tx:
            await _check_held(tx, peer.id, before)
            await tx.put_peer_list(record)
            self._fault("list_written")
            written, deleted = await tx.sync_peer_entries(peer.id, rows)
            self._fault("entries_written")
            held = HeldList(
                state.seq, state.digest, state.iat, state.exp, record.fetched_at, state.terms_id
            )
            tx.note(PeerListAccepted(peer.id, held, entries, decision.aliases))
            if decision.gap:
                await tx.add_peer_event(
                    peer.id, stamp, "gap", {"skipped": decision.gap, "seq": state.seq}
                )
            if decision.dropped or decision.narrowed:
                await tx.add_peer_event(
                    peer.id,
                    stamp,
                    "scope",
                    {"seq": state.seq, "dropped": decision.dropped, "narrowed": decision.narrowed},
                )
            if event is not None:
                await tx.add_peer_event(peer.id, stamp, *event)
            else:
                await tx.put_peer_sync(PeerSync(peer.id, stamp, stamp, "accepted", None, None, 0))
        gauge = self.metrics.peer(peer.id)
        gauge.iat, gauge.exp, gauge.seq = state.iat, state.exp, state.seq
        gauge.entries, gauge.dropped, gauge.withdrawn = len(entries), decision.dropped, False
        if event is None:
            gauge.failures = 0
            self.metrics.count_sync(peer.id, "accepted")
        log.info(
            "accepted peer list",
            extra={
                "peer": peer.id,
                "seq": state.seq,
                "entries": len(entries),
                "dropped_scope": decision.dropped,
                "gap": decision.gap,
                "rows_written": written,
                "rows_deleted": deleted,
            },
        )

    async def _record_unchanged(
        self,
        peer: PeerConfig,
        etag: str | None,
        now: datetime,
        result: SyncResult,
        before: PeerList | None,
    ) -> None:
        stamp = format_rfc3339(now)
        async with self.store.write() as tx:
            # The ETag and fetch time belong to the list that was compared, not to one another
            # process wrote meanwhile.
            await _check_held(tx, peer.id, before)
            await tx.touch_peer_list(peer.id, stamp, etag)
            tx.note(PeerListRefreshed(peer.id, stamp))
            await tx.put_peer_sync(PeerSync(peer.id, stamp, stamp, result.outcome, None, None, 0))
        self.metrics.peer(peer.id).failures = 0
        self.metrics.count_sync(peer.id, result.outcome)

    async def _record_failure(
        self, peer: PeerConfig, now: datetime, outcome: str, code: str, detail: str
    ) -> SyncResult:
        stamp = format_rfc3339(now)
        async with self.store.write() as tx:
            before = await tx.peer_sync(peer.id)
            await tx.put_peer_sync(
                replace(
                    before,
                    last_attempt=stamp,
                    last_outcome=outcome,
                    last_error_code=code,
                    last_error_detail=detail,
                    failures=before.failures + 1,
                )
            )
            if code in EVENT_CODES:
                await tx.add_peer_event(peer.id, stamp, code, {"detail": detail})
            elif outcome == "rejected" and (before.failures == 0 or before.last_error_code != code):
                # Any other refused list, once per run of failures with the same reason.
                await tx.add_peer_event(
                    peer.id, stamp, "rejected", {"code": code, "detail": detail}
                )
        failures = before.failures + 1
        self.metrics.peer(peer.id).failures = failures
        self.metrics.count_sync(peer.id, outcome, code)
        alarm = code in ALARM_CODES
        if alarm:
            self.metrics.count_alarm(peer.id, code)
        log.log(
            logging.ERROR if alarm else logging.WARNING,
            f"ALARM: peer {code.replace('_', ' ')}" if alarm else "peer sync failed",
            extra={
                "peer": peer.id,
                "outcome": outcome,
                "code": code,
                "detail": detail,
                "hint": reasons.hint(code, leads_to=outcome),
                "failures": failures,
            },
        )
        return SyncResult(peer.id, outcome, None, code, detail)

    # -- reporting ----------------------------------------------------------------------

    async def held_body(self, peer_id: str) -> PeerList | None:
        """The list held of configured peer ``peer_id`` (with its body) while it binds, or
        None. A list that no longer binds (a new trust epoch) is not handed out."""
        if peer_id not in self.peers:
            return None
        held = await self.store.read.peer_list(peer_id, with_body=True)
        return held if held is not None and held.binds else None

    async def status(self) -> list[PeerStatus]:
        """Per configured peer: what was last accepted, when, and how the last attempt went."""
        now = to_numeric_date(self.clock())
        lists = await self.store.read.peer_lists()
        syncs = await self.store.read.peer_syncs()
        out = []
        for peer_id, peer in self.peers.items():
            accepted = lists.get(peer_id)
            sync = syncs.get(peer_id, PeerSync(peer_id))
            error = None
            if sync.last_error_code is not None and sync.failures:
                error = PeerError(
                    sync.last_error_code,
                    sync.last_error_detail or "",
                    reasons.hint(sync.last_error_code, leads_to=sync.last_outcome),
                )
            held = withdrawal = None
            trusted = sorted(peer.pinned_thumbprints)
            if accepted is not None:
                held = HeldListStatus(
                    accepted.seq,
                    accepted.digest,
                    format_rfc3339(from_numeric_date(accepted.iat)),
                    format_rfc3339(from_numeric_date(accepted.exp)),
                    accepted.accepted_at,
                    accepted.fetched_at,
                    accepted.entries,
                    accepted.dropped,
                    accepted.narrowed,
                )
                if accepted.pins_id == peer.pins_id and accepted.binds:
                    trusted = sorted(k["kid"] for k in accepted.trusted_keys)
                if not in_use(peer, accepted):
                    why = accepted.withdrawn or _PENDING
                    withdrawal = Withdrawal(
                        why["code"], why["detail"], why["at"], not accepted.binds
                    )
            out.append(
                PeerStatus(
                    id=peer_id,
                    jurisdiction=peer.jurisdiction,
                    url=peer.url,
                    state=peer_state(peer, accepted, sync, now),
                    on_stale=peer.on_stale,
                    threshold=peer.threshold,
                    last_attempt=sync.last_attempt,
                    last_success=sync.last_success,
                    last_outcome=sync.last_outcome,
                    consecutive_failures=sync.failures,
                    last_error=error,
                    withdrawn=withdrawal,
                    trusted_keys=tuple(trusted),
                    held=held,
                )
            )
        return out
