"""Settings of the node's own process, applied once at start-up, before any thread exists."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's mallopt parameter number for the arena count (malloc.h)
_M_ARENA_MAX = -8
#: arenas for the node's threads (the event loop, the database threads, the resolver)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas, unless the operator set ``MALLOC_ARENA_MAX`` themselves.

    glibc gives each thread that allocates its own arena (up to eight per core) and rarely
    returns an arena's freed pages: a list decoded on a database thread and freed on the event
    loop leaves its memory behind in both. Two arenas took the node's peak at 50 peers from 675
    to 458 MiB in bench/sync.py (README, "Federation"). Returns whether the cap was set; on a C
    library other than glibc it does nothing."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
