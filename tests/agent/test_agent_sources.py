"""The simulated signal source: pacing on an injected clock."""

from __future__ import annotations

import pytest

from smartsession.agent.sources import SignalSource, SimulatedSource
from smartsession.core.signals import FrameSignals
from smartsession.core.simulate import PROFILES


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_paces_frames_at_the_frame_rate() -> None:
    clock = FakeClock(1_700_000_000.0)
    source: SignalSource = SimulatedSource("attentive", 3, 5.0, clock=clock, sleep=clock.sleep)
    frames = [source.read() for _ in range(6)]
    assert all(isinstance(frame, FrameSignals) for frame in frames)
    assert [round(f.t - frames[0].t, 6) for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert clock.slept == pytest.approx([0.2] * 5)
    source.close()
    with pytest.raises(RuntimeError):
        source.read()


def test_a_slow_reader_does_not_get_a_burst_of_old_frames() -> None:
    clock = FakeClock(1000.0)
    source = SimulatedSource("glancer", 1, 10.0, clock=clock, sleep=clock.sleep)
    source.read()
    clock.now += 5.0  # the consumer stalled
    late = source.read()
    assert late.t == 1005.0
    source.read()
    assert clock.slept == pytest.approx([0.1])


def test_same_seed_same_frames() -> None:
    def run() -> list[FrameSignals]:
        clock = FakeClock(50.0)
        source = SimulatedSource(PROFILES[-1], 42, 5.0, clock=clock, sleep=clock.sleep)
        return [source.read() for _ in range(20)]

    assert run() == run()


def test_bad_frame_rate() -> None:
    with pytest.raises(ValueError):
        SimulatedSource("attentive", 1, 0.0)
