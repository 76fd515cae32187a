"""A scripted `ClassFeed` over a real `Roster`, fed with protocol samples and events (TUI and cues tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from smartsession.core.classwide import ClassSettings, Spike
from smartsession.core.protocol import Cues, Event, EventKind, Sample, SeatStatus
from smartsession.core.roster import Roster
from smartsession.core.snapshots import (
    AlertRecord,
    ClassPulse,
    HubGap,
    HubStatus,
    RosterEvent,
    SegmentStats,
    StudentSnapshot,
)
from smartsession.core.states import AlertReason, State

#: Every scripted time is relative to this (2024-09-02 09:00:00 UTC).
T0 = 1_725_267_600.0


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedFeed:
    """A `ClassFeed` whose roster the test drives with `join`, `sample`, `alert`, `leave`."""

    def __init__(
        self,
        class_id: str = "cs101",
        clock: Callable[[], float] | None = None,
        *,
        expected: dict[str, str] | None = None,
        settings: ClassSettings | None = None,
    ) -> None:
        self.roster = Roster(class_id, expected=expected, settings=settings)
        self.roster.begin(T0)
        self._listeners: list[Callable[[RosterEvent], None]] = []
        self._seq: dict[str, int] = {}
        #: What `status()` returns; tests replace it.
        self.hub_status = HubStatus(url="ws://127.0.0.1:8765/", tls=True, session_id="s1", connected=5)
        #: Where `export_report` says it wrote; an exception here makes it fail instead.
        self.report: Path | Exception = Path("/tmp/smartsession-report.html")
        self.exports = 0
        #: Labels passed to `mark_segment`; an exception in `segment_error` makes it fail.
        self.marked: list[str] = []
        self.segment_error: Exception | None = None
        self.clock = clock or (lambda: T0 + 60)

    @property
    def class_id(self) -> str:
        return self.roster.class_id

    def students(self) -> list[StudentSnapshot]:
        return self.roster.students()

    def alerts(self) -> list[AlertRecord]:
        return self.roster.alerts()

    def class_alerts(self) -> list[Spike]:
        return self.roster.class_alerts()

    def segments(self) -> list[SegmentStats]:
        return self.roster.segments()

    def hub_gaps(self) -> list[HubGap]:
        return self.roster.hub_gaps()

    def pulse(self) -> ClassPulse:
        return self.roster.pulse(self.clock())

    def tick(self, now: float) -> None:
        """Let scripted time pass (as the hub's once-a-second tick does)."""
        self._publish(self.roster.tick(now))

    def subscribe(self, listener: Callable[[RosterEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def status(self) -> HubStatus:
        return self.hub_status

    async def mark_segment(self, label: str) -> None:
        if self.segment_error is not None:
            raise self.segment_error
        self.marked.append(label)
        self._publish(self.roster.mark_segment(label, self.clock()))

    def mark(self, label: str, now: float) -> None:
        """Mark a segment at a scripted time (as the hub would)."""
        self._publish(self.roster.mark_segment(label, now))

    async def export_report(self) -> Path:
        self.exports += 1
        if isinstance(self.report, Exception):
            raise self.report
        return self.report

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def _publish(self, events: list[RosterEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                listener(event)

    def _next_seq(self, student_id: str) -> int:
        self._seq[student_id] = self._seq.get(student_id, 0) + 1
        return self._seq[student_id]

    def join(self, student_id: str, name: str, now: float) -> None:
        self._publish(self.roster.join(student_id, name, f"{student_id}-pc", now))

    def leave(self, student_id: str, now: float) -> None:
        self._publish(self.roster.leave(student_id, now))

    def sample(
        self,
        student_id: str,
        now: float,
        state: State,
        *,
        attention: float = 0.8,
        confusion: float = 0.1,
        reasons: tuple[str, ...] = (),
        alert: AlertReason | None = None,
        faces: int = 1,
        cues: Cues | None = None,
        seat: SeatStatus | None = None,
        fps: float | None = None,
    ) -> None:
        """A sample of ``student_id`` at ``now``; ``fps``: the agent's effective rate (unsent when None)."""
        item = Sample(
            seq=self._next_seq(student_id),
            ts=now,
            state=state,
            attention=attention,
            confusion=confusion,
            faces=faces,
            alert=alert,
            reasons=reasons,
            cues=cues if cues is not None else Cues(),
            fps=fps if fps is not None else msgspec.UNSET,
        )
        if seat is not None:
            item = msgspec.structs.replace(item, seat=seat)
        self._publish(self.roster.apply(student_id, item, now))

    def alert(self, student_id: str, now: float, reason: AlertReason, detail: str = "") -> None:
        item = Event(
            seq=self._next_seq(student_id),
            ts=now,
            kind=EventKind.ALERT,
            state=State.ALERT,
            reason=reason,
            detail=detail,
        )
        self._publish(self.roster.apply(student_id, item, now))


def _wave(i: int, phase: int, low: float, high: float) -> float:
    """A deterministic sawtooth between ``low`` and ``high``."""
    step = (i + phase) % 10
    return round(low + (high - low) * step / 9, 3)


def class_of_six(feed: ScriptedFeed) -> None:
    """A deterministic class: focused, confused, alert, offline, calibrating, paused."""
    feed.join("ada", "Ada Lovelace", T0)
    feed.join("alan", "Alan Turing", T0)
    feed.join("grace", "Grace Hopper", T0)
    feed.join("edsger", "Edsger Dijkstra", T0)
    feed.join("barbara", "Barbara Liskov", T0 + 50)
    feed.join("ken", "Ken Thompson", T0)
    for i in range(40):
        now = T0 + i
        feed.sample(
            "ada",
            now,
            State.FOCUSED,
            attention=_wave(i, 0, 0.7, 0.95),
            cues=Cues(yaw=_wave(i, 0, -10, 20), gaze_away=_wave(i, 2, 0, 0.3), negative_expression=0.1),
        )
        feed.sample(
            "alan",
            now,
            State.CONFUSED if i >= 30 else State.FOCUSED,
            attention=_wave(i, 3, 0.5, 0.8),
            confusion=_wave(i, 3, 0.3, 0.7),
            reasons=("brow lowered 0.41 for 6 s", "head tilt 12 deg") if i >= 30 else (),
        )
        feed.sample(
            "grace",
            now,
            State.ALERT if i >= 35 else State.FOCUSED,
            attention=0.1 if i >= 35 else _wave(i, 5, 0.6, 0.9),
            alert=AlertReason.LOOKING_AWAY if i >= 35 else None,
            reasons=("looking away for 5 s",) if i >= 35 else (),
        )
        feed.sample("edsger", now, State.FOCUSED, attention=_wave(i, 7, 0.6, 0.9))
        feed.sample("ken", now, State.PAUSED if i >= 20 else State.FOCUSED, attention=_wave(i, 1, 0.5, 0.9))
    feed.alert("grace", T0 + 35, AlertReason.LOOKING_AWAY, "looking away for 5 s")
    feed.leave("edsger", T0 + 39)
