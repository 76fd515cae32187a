"""Reconnect policy: capped exponential backoff with full jitter, as a pure generator of delays.

The I/O layer consumes it: ``delays = backoff_delays(initial, maximum, rng)`` then
``await asyncio.sleep(next(delays))`` after each failed attempt; after a successful
connection it simply makes a new generator, which starts small again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial: float, maximum: float, rng: random.Random, *, factor: float = 2.0
) -> Iterator[float]:
    """Yield delays in seconds, forever: delay ``n`` is uniform in ``[0, min(maximum, initial * factor**n)]``.

    ``rng`` is the random source (pass a seeded `random.Random` for reproducible delays).
    Raises `ValueError` for a non-positive ``initial``, ``maximum < initial`` or ``factor < 1``.
    """
    if initial <= 0.0:
        raise ValueError(f"initial delay must be positive, got {initial}")
    if maximum < initial:
        raise ValueError(f"maximum delay ({maximum}) must not be below the initial delay ({initial})")
    if factor < 1.0:
        raise ValueError(f"factor must be at least 1, got {factor}")
    return _delays(initial, maximum, rng, factor)


def _delays(initial: float, maximum: float, rng: random.Random, factor: float) -> Iterator[float]:
    for ceiling in backoff_ceilings(initial, maximum, factor=factor):
        yield rng.uniform(0.0, ceiling)


def backoff_ceilings(initial: float, maximum: float, *, factor: float = 2.0) -> Iterator[float]:
    """The upper bound of each successive delay of `backoff_delays` (for logging and tests)."""
    ceiling = initial
    while True:
        yield ceiling
        ceiling = min(maximum, ceiling * factor)
