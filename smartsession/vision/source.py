"""`CameraSource`: the agent's `SignalSource` backed by a real camera and the vision models.

It paces reads at ``frame_rate`` (or reads when asked), analyses each frame with a `FrameAnalyzer`, and turns any
camera trouble into ``FrameSignals(camera=UNAVAILABLE, faces=0)`` with the reason in
`CameraSource.reason` (also logged once per change). It never raises on camera trouble.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.vision.capture import Capture, CaptureProblem, FrameSource, VideoSource
from smartsession.vision.images import BGRImage


class Analyzer(Protocol):
    """What `CameraSource` needs from a `FrameAnalyzer` (a fake in tests)."""

    def analyze(self, bgr: BGRImage, t: float) -> FrameSignals: ...

    def close(self) -> None: ...


class CameraSource:
    """Frames from ``source`` analysed at ``frame_rate`` per second.

    ``source`` is a `FrameSource` or a camera index / device path / video file / URL.
    ``analyzer`` defaults to a new `FrameAnalyzer` (loads the models, about 0.3 s).
    `read` blocks until the next frame is due (``frame_rate=None``: reads at once, for a
    caller that paces itself, as the agent does); call `close` when done.
    """

    def __init__(
        self,
        source: FrameSource | int | str,
        frame_rate: float | None,
        *,
        analyzer: Analyzer | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        capture_options: dict[str, float] | None = None,
    ) -> None:
        if frame_rate is not None and frame_rate <= 0.0:
            raise ValueError(f"frame rate must be positive, got {frame_rate}")
        frames = VideoSource(source) if isinstance(source, int | str) else source
        self._capture = Capture(frames, **(capture_options or {}))  # type: ignore[arg-type]
        if analyzer is None:
            from smartsession.vision.pipeline import FrameAnalyzer

            analyzer = FrameAnalyzer()
        self._analyzer = analyzer
        self._clock = clock
        self._sleep = sleep
        self._period = 1.0 / frame_rate if frame_rate is not None else 0.0
        self._due = clock()
        self._closed = False

    @property
    def problem(self) -> CaptureProblem | None:
        """The current camera problem, None while frames arrive."""
        return self._capture.problem

    @property
    def reason(self) -> str:
        """The current camera problem as a sentence for the log ("" while frames arrive)."""
        return self._capture.reason

    def read(self) -> FrameSignals:
        """Sleep until the next frame is due, then return its signals."""
        if self._closed:
            raise RuntimeError("read() on a closed CameraSource")
        now = self._clock()
        if now < self._due:
            self._sleep(self._due - now)
            now = self._clock()
        self._due = max(self._due + self._period, now)
        frame = self._capture.grab(now)
        if frame is None:
            return FrameSignals(t=now, camera=CameraStatus.UNAVAILABLE, faces=0)
        # Stamped when it arrived: a camera's read may wait for its next frame.
        return self._analyzer.analyze(frame, self._clock())

    def close(self) -> None:
        """Release the camera and the models. Idempotent."""
        if not self._closed:
            self._closed = True
            try:
                self._capture.close()
            finally:
                self._analyzer.close()
