"""Where frames come from: the one interface the agent reads `FrameSignals` through.

The camera (vision issue) and the simulator both implement `SignalSource`; nothing else in
the agent knows which one it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from smartsession.core.protocol import VisionMode
from smartsession.core.signals import FrameSignals


class SignalSource(Protocol):
    """A blocking source of frames; the runner calls `read` from a worker thread.

    A source keeps its own cadence (``frame_rate``) until `schedule` moves the next frame:
    the runner does so after every frame, as its `smartsession.core.pacing.FramePacer` says.
    """

    @property
    def vision(self) -> VisionMode:
        """Where the frames come from; the agent reports it to the hub when it joins."""
        ...

    def read(self) -> FrameSignals:
        """Block until the next frame is due and return it."""
        ...

    def schedule(self, t: float) -> None:
        """Make the next frame due at ``t`` (the frames' clock, epoch seconds); a time already
        past means at once."""
        ...

    def close(self) -> None:
        """Release the source (camera, process, ...); `read` must not be called afterwards."""
        ...


class SimulatedSource:
    """A `SimulatedStudent` paced at ``frame_rate`` on a real (or injected) clock."""

    def __init__(
        self,
        profile: str,
        seed: int,
        frame_rate: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Imported here so that an agent reading a camera never loads the simulator.
        from smartsession.core.simulate import SimulatedStudent

        if frame_rate <= 0.0:
            raise ValueError(f"frame rate must be positive, got {frame_rate}")
        self._clock = clock
        self._sleep = sleep
        self._period = 1.0 / frame_rate
        start = clock()
        self._student = SimulatedStudent(profile, seed, start)
        self._due = start
        self._closed = False

    @property
    def vision(self) -> VisionMode:
        """Always `VisionMode.SIMULATED`: no camera, no pixels."""
        return VisionMode.SIMULATED

    def read(self) -> FrameSignals:
        """Sleep until the next frame is due, then return the simulated student's frame for now."""
        if self._closed:
            raise RuntimeError("read() on a closed SimulatedSource")
        now = self._clock()
        if now < self._due:
            self._sleep(self._due - now)
            now = self._clock()
        # Keep a steady cadence, but never try to catch up on frames missed long ago.
        self._due += self._period
        if self._due <= now:
            self._due = now + self._period
        return self._student.frame(now)

    def schedule(self, t: float) -> None:
        """The next frame is due at ``t`` (then every ``1 / frame_rate`` again)."""
        self._due = t

    def close(self) -> None:
        """Stop producing frames."""
        self._closed = True
