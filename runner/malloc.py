"""How the C allocator holds memory, tuned for a server of many threads and big buffers.

glibc gives each thread its own arena (up to eight per core) and, once a big buffer has been
freed, raises its mmap threshold (up to 32 MiB) so that later buffers of that size come from
the arenas. A server that reads 1 MiB log tails, 64 KiB lines and JSON bodies on dozens of
threads then keeps freed buffers in every thread's arena: eight viewers of one big log grew
the worker by 170 MB and more, and it never came back. Two arenas shared by all threads reuse
what one request freed for the next; the same eight viewers then cost about 20 MB.

A fixed mmap threshold would return big buffers at once too, but mapping and unmapping each
1 MiB log batch slowed the log flood by a quarter; two arenas alone cost nothing measurable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Cap glibc's arenas for this process and its forks.

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
    done = bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not done:
        log.debug("mallopt refused; the allocator keeps its defaults")
    return done
