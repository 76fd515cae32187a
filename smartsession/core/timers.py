"""Frame-time timers of the engagement engine: how long a condition has held, and alerts.

Pure: time is the frame's ``t``. A timer runs from the first frame on which its condition
held; one frame where it does not hold restarts it.
"""

from __future__ import annotations

from collections.abc import Mapping

from smartsession.core.states import AlertReason

#: Alert reasons, the one a tile shows first.
ALERT_PRIORITY: tuple[AlertReason, ...] = (
    AlertReason.CAMERA_UNAVAILABLE,
    AlertReason.NO_FACE,
    AlertReason.MULTIPLE_FACES,
    AlertReason.EYES_CLOSED,
    AlertReason.LOOKING_AWAY,
)
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
    """Every alert reason's timers: an alert starts once its condition held for its threshold
    and clears once the condition was false for ``clear_after`` seconds."""

    def __init__(self, thresholds: Mapping[AlertReason, float], clear_after: float) -> None:
        self._thresholds = dict(thresholds)
        self._clear_after = clear_after
        self._timers = {reason: AlertTimer() for reason in ALERT_PRIORITY}

    def __getitem__(self, reason: AlertReason) -> AlertTimer:
        return self._timers[reason]

    def update(
        self, conditions: Mapping[AlertReason, bool], t: float
    ) -> tuple[list[AlertReason], list[AlertReason]]:
        """Take this frame's conditions; return the reasons that started and that cleared."""
        started: list[AlertReason] = []
        cleared: list[AlertReason] = []
        for reason, condition in conditions.items():
            alert = self._timers[reason]
            held = alert.on.update(condition, t)
            absent = alert.off.update(not condition, t)
            if not alert.active and held is not None and held >= self._thresholds[reason] - EPS:
                alert.active = True
                alert.started = t
                started.append(reason)
            elif alert.active and absent is not None and absent >= self._clear_after - EPS:
                alert.active = False
                cleared.append(reason)
        return started, cleared
