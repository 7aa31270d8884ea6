"""The node's clock: the system's, or the system's plus an offset for end-to-end tests.

When the environment variable ``REGISTRY_NODE_CLOCK_OFFSET_FILE`` names a file, every clock
reading adds the number of seconds written in that file (read at every reading; a
missing or empty file is an offset of 0). That lets tests move whole node processes through
time (a list expiring, a rotation becoming due) without waiting. It is never needed in
production, and the node logs a warning at start when it is in use.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from registry_node.core.timeutil import Clock, system_clock

CLOCK_OFFSET_ENV = "REGISTRY_NODE_CLOCK_OFFSET_FILE"

log = logging.getLogger("registry_node.clock")


class OffsetClock:
    """Reads the file at every call (tests only: correctness over speed; a file rewritten
    within the file system's timestamp granularity is still seen)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> timedelta:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return timedelta()
        return timedelta(seconds=float(text or 0))

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset()


def clock_from_env() -> Clock:
    path = os.environ.get(CLOCK_OFFSET_ENV)
    if not path:
        return system_clock
    log.warning("clock offset file in use: for tests only", extra={"path": path})
    return OffsetClock(Path(path))
