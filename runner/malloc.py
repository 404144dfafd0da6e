"""How the C allocator hands memory back, tuned for a server of many threads and big buffers.

glibc gives each thread its own arena (up to eight per core) and, once a big buffer has been
freed, raises its mmap threshold (up to 32 MiB) so that later buffers of that size come from
the arenas. A server that reads 1 MiB log tails, 64 KiB lines and JSON bodies on dozens of
threads then keeps every freed buffer in some arena: eight viewers of one big log grew the
worker by 170 MB and more, and it never came back. A fixed threshold sends each big buffer
to its own mapping, returned to the system when freed, and few arenas keep small objects
together; the same eight viewers then cost under 20 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Fix glibc's mmap threshold and cap its arenas for this process and its forks.

    Call it early, before threads start. Returns False (and changes nothing) where the C
    library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_ARENA_MAX, ARENA_MAX)
    )
    if not done:
        log.debug("mallopt refused; the allocator keeps its defaults")
    return done
