"""Progress of long work (an import of many issuers, a sync of many peers), reported to whoever
watches: a terminal's progress line (the command line, only at a terminal), the readiness
check of a starting node. A report is ``(phase, done, total)``; the work never waits for it."""

from __future__ import annotations

from collections.abc import Callable

#: ``(phase, done, total)``: ``done`` of ``total`` units of ``phase``
Progress = Callable[[str, int, int], None]

#: phases of an issuer import: reading a source file (in bytes), checking its entries and
#: writing them (in issuers)
READING = "reading"
VALIDATING = "validating"
IMPORTING = "importing"
#: a sync of several peers (in peers)
SYNCING = "syncing"

UNITS = {READING: "bytes", VALIDATING: "issuers", IMPORTING: "issuers", SYNCING: "peers"}


def ignore(phase: str, done: int, total: int) -> None:
    """The progress report of work nobody watches."""
