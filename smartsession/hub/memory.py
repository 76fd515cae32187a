"""Giving freed memory back to the operating system after a flood of connections.

glibc keeps the memory a burst of connections freed in its heap for reuse, so the hub's
resident size would stay at its peak for good; `release_memory` returns it (``malloc_trim``).
Elsewhere (another C library, another OS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from pathlib import Path


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def resident_mb() -> float | None:
    """This process's resident memory in MiB (None where ``/proc`` is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def release_memory() -> tuple[float, float] | None:
    """Return the heap's free memory to the OS; may take some milliseconds, so call it in a thread.

    Returns this process's resident MiB before and after, or None where the C library cannot
    (nothing is done then).
    """
    trim = _malloc_trim()
    before = resident_mb()
    if trim is None or before is None:
        return None
    trim(0)
    return before, resident_mb() or before
