"""Fixtures of the TUI tests: a scripted class (`feeds.ScriptedFeed`), a fixed clock, UTC."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
from feeds import T0, FixedClock, ScriptedFeed, class_of_six


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Wall-clock times on screen are local; make them the same on every machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + 60)


@pytest.fixture
def feed() -> ScriptedFeed:
    feed = ScriptedFeed()
    class_of_six(feed)
    return feed


@pytest.fixture
def t0() -> float:
    return T0


@pytest.fixture
def make_feed() -> Callable[[], ScriptedFeed]:
    """An empty scripted feed, for tests that write their own script."""
    return ScriptedFeed
