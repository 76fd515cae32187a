"""When to analyse the next frame: a low steady rate while nothing changes, the full rate
around a change and before a timer fires (pure: time is the frames' ``t``).

Nothing the engine says needs the full rate while a student sits still: samples go out
once per interval and every alert holds for seconds. `FramePacer.after` takes each analysed
frame with what the engine made of it and returns the time of the next frame:

* the full rate (``full_rate``) for ``burst_seconds`` after a change: another face count
  or camera status, a timed condition of the engine (`EngagementEngine.conditions`) that
  starts or stops holding, the head turning by `POSE_CHANGE` degrees or more, the gaze
  moving by `GAZE_CHANGE`, a blendshape cue by `CUE_CHANGE` (each against the previous
  analysed frame), or faces the vision still has to confirm (`FrameSignals.pending_faces`);
* the full rate while a timer of the engine is due within ``burst_seconds``
  (`EngagementEngine.deadline`: an alert firing or clearing, Confused entered or left, the
  calibration ending), so the moments before it are watched as closely as at the full rate;
* a frame exactly at that deadline and at the end of the engine's interval when either
  comes before the next frame would: an alert fires at its hold time, not up to a frame
  later, and samples keep their cadence;
* otherwise the steady rate (``steady_rate``).

A condition that starts between two steady frames is seen at most one steady period
(1 / ``steady_rate``) later than at the full rate, and everything after that is timed as
at the full rate: every alert fires within its hold time plus one steady period.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartsession.core.signals import FrameSignals
from smartsession.core.timers import EPS, Watch

#: Degrees of yaw, pitch or roll between two analysed frames that count as a change.
POSE_CHANGE = 10.0
#: Gaze offset (per axis, -1..1) between two analysed frames that counts as a change.
GAZE_CHANGE = 0.2
#: Change of a blendshape cue (0..1) between two analysed frames that counts as a change.
CUE_CHANGE = 0.2
#: The cues compared (fields of `FrameSignals`).
CUES: tuple[str, ...] = (
    "brow_down",
    "brow_inner_up",
    "eye_squint",
    "lip_press",
    "smile",
    "eye_closed",
    "jaw_open",
    "eye_look_down",
)


@dataclass(frozen=True)
class Pacing:
    """The rates: ``full_rate`` and ``steady_rate`` in frames per second (``steady_rate`` at
    most ``full_rate``; equal, the pacer keeps the full rate), ``burst_seconds`` of full rate
    after a change and before a deadline."""

    full_rate: float = 5.0
    steady_rate: float = 2.0
    burst_seconds: float = 1.0

    @property
    def adaptive(self) -> bool:
        """Whether the rate changes at all (a steady rate below the full one)."""
        return self.steady_rate < self.full_rate

    def __post_init__(self) -> None:
        if not 0.0 < self.steady_rate <= self.full_rate:
            raise ValueError(
                f"steady_rate ({self.steady_rate}) must be positive and at most full_rate ({self.full_rate})"
            )
        if self.burst_seconds < 0.0:
            raise ValueError(f"burst_seconds must not be negative, got {self.burst_seconds}")


@dataclass(frozen=True)
class _Seen:
    """What the pacer compares the next frame with."""

    frame: FrameSignals
    conditions: frozenset[Watch]


class FramePacer:
    """Decides each next frame's time; see the module docstring.

    Call `after` with every analysed frame (in time order) and the engine's view of it, and
    analyse the next frame at the time it returns (or as soon as possible after it).
    """

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self._previous: _Seen | None = None
        self._burst_until = float("-inf")
        #: True when the last frame asked for the full rate.
        self.bursting = False

    def after(
        self,
        frame: FrameSignals,
        conditions: frozenset[Watch],
        deadline: float | None,
        interval_end: float | None = None,
    ) -> float:
        """The time of the next frame after ``frame``.

        ``conditions``, ``deadline`` and ``interval_end`` are the engine's after it took
        ``frame`` (`EngagementEngine.conditions`, `deadline()`, `interval_end`).
        """
        pacing = self.pacing
        t = frame.t
        seen = _Seen(frame, conditions)
        before, self._previous = self._previous, seen
        if (
            before is None
            or frame.pending_faces > 0
            or conditions != before.conditions
            or changed(before.frame, frame)
        ):
            self._burst_until = t + pacing.burst_seconds
        soon = deadline is not None and deadline - t <= pacing.burst_seconds + EPS
        self.bursting = t < self._burst_until - EPS or soon
        due = t + 1.0 / (pacing.full_rate if self.bursting else pacing.steady_rate)
        for moment in (deadline, interval_end):
            if moment is not None and t + EPS < moment < due:
                due = moment
        return due


def changed(before: FrameSignals, after: FrameSignals) -> bool:
    """True when ``after`` differs from ``before`` by a change worth the full rate (faces,
    camera, pose, gaze or a cue; see the module docstring)."""
    if after.camera is not before.camera or after.faces != before.faces:
        return True
    if after.faces == 0:
        return False  # no face: pose and cues are only defaults
    if any(
        abs(getattr(after, name) - getattr(before, name)) >= POSE_CHANGE for name in ("yaw", "pitch", "roll")
    ):
        return True
    if abs(after.gaze_x - before.gaze_x) >= GAZE_CHANGE or abs(after.gaze_y - before.gaze_y) >= GAZE_CHANGE:
        return True
    return any(abs(getattr(after, name) - getattr(before, name)) >= CUE_CHANGE for name in CUES)
