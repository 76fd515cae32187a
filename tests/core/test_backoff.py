"""Reconnect backoff: capped, growing, fully jittered, reproducible."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartsession.core.backoff import backoff_ceilings, backoff_delays


def take(n: int, initial: float, maximum: float, seed: int) -> list[float]:
    return list(itertools.islice(backoff_delays(initial, maximum, random.Random(seed)), n))


def test_ceilings_grow_then_cap() -> None:
    assert list(itertools.islice(backoff_ceilings(0.5, 15.0), 8)) == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        15.0,
        15.0,
        15.0,
    ]


@given(
    initial=st.floats(0.01, 10.0),
    extra=st.floats(0.0, 100.0),
    seed=st.integers(0, 2**32),
)
def test_delays_within_jitter_bounds(initial: float, extra: float, seed: int) -> None:
    maximum = initial + extra
    delays = take(30, initial, maximum, seed)
    ceilings = itertools.islice(backoff_ceilings(initial, maximum), 30)
    for delay, ceiling in zip(delays, ceilings, strict=False):
        assert 0.0 <= delay <= ceiling <= maximum


def test_reproducible_with_seed() -> None:
    assert take(20, 0.5, 15.0, 7) == take(20, 0.5, 15.0, 7)
    assert take(20, 0.5, 15.0, 7) != take(20, 0.5, 15.0, 8)


def test_delays_grow_on_average() -> None:
    early = [take(2, 0.5, 15.0, seed)[0] for seed in range(200)]
    late = [take(10, 0.5, 15.0, seed)[-1] for seed in range(200)]
    assert sum(early) / len(early) < 0.5
    assert 5.0 < sum(late) / len(late) < 10.0
    assert max(late) <= 15.0


def test_new_generator_starts_small_again() -> None:
    rng = random.Random(1)
    first = backoff_delays(1.0, 60.0, rng)
    for _ in range(10):
        next(first)
    again = backoff_delays(1.0, 60.0, rng)
    assert next(again) <= 1.0


@pytest.mark.parametrize(
    ("initial", "maximum", "factor"), [(0.0, 1.0, 2.0), (2.0, 1.0, 2.0), (1.0, 2.0, 0.5)]
)
def test_bad_arguments(initial: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError):
        backoff_delays(initial, maximum, random.Random(), factor=factor)
