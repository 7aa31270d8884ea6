"""This process among the replicas of one database (docs/adr/0024).

Any number of ``serve`` processes may run on one PostgreSQL database, and every one answers
every public and admin request. One at a time, the holder of the database's lease, runs the
scheduled duties: the publication check, the peers' syncs, the pruning of old bodies and the
checks of an unconfirmed restore. The others stand by and take the lease over when its holder
goes. Every replica's lookup index follows the database: each commit is announced to all, and
each second's catch-up is the safety net.

What keeps two replicas from signing two lists with the same ``seq`` is not the lease: a
publication takes the writers' lock and reads the previous version inside its transaction
(services/publisher.py), so publications of any processes follow one another. The lease keeps
the work in one place; the writers' lock keeps it right.

On SQLite there is one ``serve`` per data folder (its lock) and so per database: it is the sole
replica and holds the lease for its whole life (:class:`SoleCoordinator`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any, Protocol

log = logging.getLogger("registry_node.replicas")

#: the longest replica name (PostgreSQL keeps 63 bytes of an application_name, and the name
#: is shown there after "registry-node ")
NAME_MAX = 49


def default_name() -> str:
    """``host:pid``: unique among the processes on one database, and says where each runs."""
    return f"{socket.gethostname()}:{os.getpid()}"[-NAME_MAX:]


class Coordinator(Protocol):
    """How a backend lets its replicas share the lease and hear of each other's commits."""

    #: set when a commit (of any process) may have changed the database, and after a lost
    #: connection to the announcements came back (some may have been missed)
    changed: asyncio.Event

    @property
    def leading(self) -> bool:
        """Does this process hold the lease (as far as it knew at its last :meth:`try_lead`)?"""
        ...

    async def try_lead(self) -> bool:
        """Take the lease when it is free, or check it is still held; False when this process
        does not hold it (another does, or the database cannot be reached: in doubt, it is
        given up)."""
        ...

    async def holder(self) -> str | None:
        """The name of the replica that holds the lease, if one does and it can be told."""
        ...

    async def close(self) -> None:
        """Give the lease up (when held) and stop hearing of commits."""
        ...


class SoleCoordinator:
    """The one replica there can be: a node on SQLite (its data folder's lock lets no other
    ``serve`` open the database), or a command-line tool (which runs no scheduled duty)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.changed = asyncio.Event()  # nothing announces commits: the catch-up follows them

    @property
    def leading(self) -> bool:
        return True

    async def try_lead(self) -> bool:
        return True

    async def holder(self) -> str | None:
        return self.name

    async def close(self) -> None:
        return None


class Replica:
    """This process's part among the replicas: whether it holds the lease, and who does."""

    def __init__(self, name: str, coordinator: Coordinator, *, shared: bool) -> None:
        self.name = name
        self.coordinator = coordinator
        #: can other replicas run on this database (PostgreSQL), or is this one alone (SQLite)?
        self.shared = shared
        #: how often this process took the lease over (for /metrics)
        self.takeovers = 0

    @classmethod
    def sole(cls, name: str | None = None) -> Replica:
        name = name or default_name()
        return cls(name, SoleCoordinator(name), shared=False)

    @property
    def leading(self) -> bool:
        return self.coordinator.leading

    @property
    def changed(self) -> asyncio.Event:
        return self.coordinator.changed

    async def refresh(self) -> bool:
        """Take the lease if it is free (or confirm it is still held). True only when this
        process has just taken it: its duties then start afresh."""
        was = self.coordinator.leading
        now = await self.coordinator.try_lead()
        if now and not was:
            self.takeovers += 1
            log.info("this replica holds the lease", extra={"replica": self.name})
        elif was and not now:
            log.warning(
                "this replica lost the lease: another one takes the scheduled work over",
                extra={"replica": self.name},
            )
        return now and not was

    async def status(self) -> dict[str, Any]:
        """For ``/readyz``: this replica, and the one that holds the lease."""
        holder = self.name if self.leading else await self.coordinator.holder()
        doc: dict[str, Any] = {
            "ok": holder is not None,
            "name": self.name,
            "lease": "held" if self.leading else "standby",
            "holder": holder,
        }
        if holder is None:
            doc["detail"] = (
                "no replica holds the lease: nothing publishes or syncs until one takes it"
            )
        return doc

    async def close(self) -> None:
        await self.coordinator.close()
