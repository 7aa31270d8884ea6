"""The node's clock: the system's, or the system's plus an offset for end-to-end tests.

When the environment variable ``REGISTRY_NODE_CLOCK_OFFSET_FILE`` names a file, every clock
reading adds the number of seconds written in that file (re-read when the file changes; a
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
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self._offset = timedelta()

    def __call__(self) -> datetime:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            text = self.path.read_text().strip() if stamp is not None else ""
            self._offset = timedelta(seconds=float(text or 0))
            self._stamp = stamp
        return datetime.now(UTC) + self._offset


def clock_from_env() -> Clock:
    path = os.environ.get(CLOCK_OFFSET_ENV)
    if not path:
        return system_clock
    log.warning("clock offset file in use: for tests only", extra={"path": path})
    return OffsetClock(Path(path))
