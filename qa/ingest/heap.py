"""Keeping a big write's memory in bounds: few malloc arenas, big blocks mapped apart, and freed memory
handed back after it.

A big article passes through several threads (embedding, writing, the snapshot's refresh), and glibc
gives each thread an arena of its own, up to eight per core: what one thread frees, another cannot reuse.
With two arenas a 4.9 MB article of English added 132 MB to the peak instead of 172. And what they freed
stays held: about 60 MB more than the live data, for good. `malloc_trim` gives it back; it walks the heap,
so it runs only after big writes.
"""

from __future__ import annotations

import ctypes
import functools

BIG_WRITE = 2000  # sentences embedded
ARENAS = 2
# Blocks from this size up are mapped apart and unmapped when freed. glibc raises its threshold (up to
# 32 MB) each time such a block is freed, after which a big text's arrays of a few MB came from the heap
# and stayed there, fragmented: a 4.9 MB upload's peak was some 9 MB higher (issue 21).
MMAP_THRESHOLD = 1 << 20
_M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3  # mallopt's parameters, from glibc's malloc.h


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator keeps its own counsel
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def give_back(sentences_embedded: int) -> None:
    if sentences_embedded >= BIG_WRITE and (libc := _libc()) is not None:
        libc.malloc_trim(0)


def few_arenas() -> None:
    """At most ARENAS malloc arenas from now on, and a fixed mmap threshold; called at a process's start,
    before its threads."""
    if (libc := _libc()) is not None:
        libc.mallopt(_M_ARENA_MAX, ARENAS)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
