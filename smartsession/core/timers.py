"""Frame-time timers of the engagement engine: how long a condition has held, and alerts.

Pure: time is the frame's ``t``. A timer runs from the first frame on which its condition
held; one frame where it does not hold restarts it. Each timed condition is a `Watch`; each
watch raises one `AlertReason` (looking down raises "looking away" after its own, longer
time, so the wire protocol's reasons stay as they are). "Different person" is no timed
condition: the seat check's `MismatchHold` raises it (`smartsession.core.identity`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from smartsession.core.states import AlertReason

#: Alert reasons, the one a tile shows first.
ALERT_PRIORITY: tuple[AlertReason, ...] = (
    AlertReason.CAMERA_UNAVAILABLE,
    AlertReason.NO_FACE,
    AlertReason.MULTIPLE_FACES,
    AlertReason.DIFFERENT_PERSON,
    AlertReason.EYES_CLOSED,
    AlertReason.LOOKING_AWAY,
)


class Watch(enum.StrEnum):
    """A condition the engine times; `reason` is the alert it raises once held long enough."""

    CAMERA_UNAVAILABLE = "camera_unavailable"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    EYES_CLOSED = "eyes_closed"
    LOOKING_AWAY = "looking_away"
    LOOKING_DOWN = "looking_down"

    @property
    def reason(self) -> AlertReason:
        """The alert reason this watch raises."""
        return AlertReason.LOOKING_AWAY if self is Watch.LOOKING_DOWN else AlertReason(self.value)

    @property
    def label(self) -> str:
        """Short words for a reason or an event's detail."""
        return "looking down" if self is Watch.LOOKING_DOWN else self.reason.label


#: Every watch, in the order of `ALERT_PRIORITY` (a reason's watches side by side).
WATCHES: tuple[Watch, ...] = tuple(w for reason in ALERT_PRIORITY for w in Watch if w.reason is reason)

#: A tiny number: slack when a held time meets a threshold (frame times are sums of floats),
#: and the floor of a divisor.
EPS = 1e-9


class Hold:
    """How long a condition has held without a break, in frame time."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None

    def update(self, condition: bool, t: float) -> float | None:
        """Record this frame; return how long the condition has held, None when it does not."""
        if not condition:
            self.since = None
            return None
        if self.since is None:
            self.since = t
        return t - self.since

    def reset(self) -> None:
        """Forget the condition (it must hold from scratch)."""
        self.since = None


class AlertTimer:
    """One alert reason: its onset (``on``) and clearing (``off``) timers."""

    __slots__ = ("active", "off", "on", "started")

    def __init__(self) -> None:
        self.on = Hold()
        self.off = Hold()
        self.active = False
        self.started = 0.0


class AlertTimers:
    """Every watch's timers: a watch fires once its condition held for its threshold (a
    threshold of 0 never fires: the condition is only shown, never an alert) and stops once
    the condition was false for ``clear_after`` seconds."""

    def __init__(self, thresholds: Mapping[Watch, float], clear_after: float) -> None:
        self._thresholds = dict(thresholds)
        self._clear_after = clear_after
        self._timers = {watch: AlertTimer() for watch in WATCHES}

    def __getitem__(self, watch: Watch) -> AlertTimer:
        return self._timers[watch]

    def active(self, reason: AlertReason) -> bool:
        """True while any watch that raises ``reason`` has fired."""
        return any(self._timers[w].active for w in WATCHES if w.reason is reason)

    def deadline(self) -> float | None:
        """The earliest frame time at which a running timer would fire or clear an alert if its
        condition (or its absence) keeps holding; None while no timer runs."""
        times: list[float] = []
        for watch, alert in self._timers.items():
            threshold = self._thresholds[watch]
            if not alert.active and alert.on.since is not None and threshold > 0:
                times.append(alert.on.since + threshold)
            elif alert.active and alert.off.since is not None:
                times.append(alert.off.since + self._clear_after)
        return min(times, default=None)

    def update(self, conditions: Mapping[Watch, bool], t: float) -> tuple[list[Watch], list[Watch]]:
        """Take this frame's conditions; return the watches that fired and that stopped."""
        started: list[Watch] = []
        cleared: list[Watch] = []
        for watch, condition in conditions.items():
            alert = self._timers[watch]
            held = alert.on.update(condition, t)
            absent = alert.off.update(not condition, t)
            threshold = self._thresholds[watch]
            if not alert.active and held is not None and threshold > 0 and held >= threshold - EPS:
                alert.active = True
                alert.started = t
                started.append(watch)
            elif alert.active and absent is not None and absent >= self._clear_after - EPS:
                alert.active = False
                cleared.append(watch)
        return started, cleared
