"""The hub's picture of the class: pure state fed by messages, producing events for the TUI.

`Roster` is owned by the hub's event loop. Each call takes ``now`` (epoch seconds) and
returns the `RosterEvent`s it caused; the hub hands those to whoever listens (the TUI).
Events carry immutable `StudentSnapshot`s, so a listener may keep them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

from smartsession.core.protocol import Cues, Event, EventKind, Sample
from smartsession.core.states import AlertReason, NoticeKind, State

#: Samples of history kept per student for sparklines (at 1 s intervals: 10 minutes).
HISTORY = 600
#: State changes kept per student for the detail screen's timeline.
TIMELINE = 1000
#: Connections (join .. leave) kept per student.
CONNECTIONS = 100
#: Least seconds between two live updates of the current segment's Confused share.
SEGMENT_UPDATE_INTERVAL = 1.0


@dataclass(frozen=True)
class AlertRecord:
    """One alert raised for a student: by its agent (an `AlertReason`), or by the hub about its
    connection (a `NoticeKind`: a takeover, a refused flood)."""

    student_id: str
    name: str
    ts: float
    reason: AlertReason | NoticeKind
    detail: str


@dataclass(frozen=True)
class CueHistory:
    """Per-sample histories of the observable cues, oldest first (at most `HISTORY`)."""

    #: Head turned off centre, degrees: the larger of ``|yaw|`` and ``|pitch|``.
    head_pose: tuple[float, ...] = ()
    gaze_away: tuple[float, ...] = ()
    faces: tuple[int, ...] = ()
    #: Negative facial expression probability (FER), 0..1.
    expression: tuple[float, ...] = ()
    brow_down: tuple[float, ...] = ()


@dataclass(frozen=True)
class StudentSnapshot:
    """Everything a tile shows about one student, frozen at one moment."""

    student_id: str
    name: str
    host: str
    state: State
    alert: AlertReason | None
    reasons: tuple[str, ...]
    attention: float
    confusion: float
    faces: int
    connected: bool
    joined_at: float
    last_seen: float
    samples: int
    attention_history: tuple[float, ...]
    confusion_history: tuple[float, ...]
    alerts: int
    #: The cues of the latest sample.
    cues: Cues = field(default_factory=Cues)
    cue_history: CueHistory = field(default_factory=CueHistory)
    #: When the shown state (Offline included) began.
    state_since: float = 0.0
    #: Every change of the shown state this session: (since, state), oldest first.
    timeline: tuple[tuple[float, State], ...] = ()
    #: Seconds spent in each state before `state_since` (the current span is not included).
    time_in_state: tuple[tuple[State, float], ...] = ()
    #: Connections this session: (connected_at, disconnected_at or None while connected).
    connections: tuple[tuple[float, float | None], ...] = ()
    #: Where the agent's signals come from (`VisionMode` value: isolated, unisolated, ...).
    vision: str = "unknown"
    #: Frames the agent analysed per second in its latest sample (None: it did not say).
    fps: float | None = None
    #: The hub's latest word about this student's connection ("" when none): a takeover or a
    #: refusal (see `NoticeKind`).
    notice: str = ""

    @property
    def main_reason(self) -> str:
        """The first reason, or "" when there is none."""
        return self.reasons[0] if self.reasons else ""

    def durations(self, now: float) -> dict[State, float]:
        """Seconds in each state this session up to ``now`` (every state present)."""
        spent = dict.fromkeys(State, 0.0)
        for state, seconds in self.time_in_state:
            spent[state] += seconds
        if self.timeline:
            spent[self.state] += max(0.0, now - self.state_since)
        return spent


@dataclass(frozen=True)
class StudentChanged:
    """A student's tile must be redrawn."""

    student: StudentSnapshot


@dataclass(frozen=True)
class AlertRaised:
    """A new alert the teacher should notice."""

    alert: AlertRecord


@dataclass(frozen=True)
class SegmentChanged:
    """A segment began or ended, or the current one's Confused share moved."""

    segment: SegmentStats


RosterEvent = StudentChanged | AlertRaised | SegmentChanged


@dataclass
class _Student:
    student_id: str
    name: str
    host: str
    joined_at: float
    vision: str = "unknown"
    state: State = State.CALIBRATING
    alert: AlertReason | None = None
    reasons: tuple[str, ...] = ()
    attention: float = 0.0
    confusion: float = 0.0
    faces: int = 0
    connected: bool = True
    last_seen: float = 0.0
    samples: int = 0
    alerts: int = 0
    attention_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    confusion_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    cues: Cues = field(default_factory=Cues)
    head_pose_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    gaze_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    faces_history: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))
    expression_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    brow_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    shown: State | None = None
    state_since: float = 0.0
    timeline: tuple[tuple[float, State], ...] = ()
    time_in_state: dict[State, float] = field(default_factory=dict)
    connections: tuple[tuple[float, float | None], ...] = ()
    notice: str = ""
    fps: float | None = None

    def show(self, now: float) -> None:
        """Record a change of the shown state (Offline when not connected) at ``now``."""
        shown = self.state if self.connected else State.OFFLINE
        if shown is self.shown:
            return
        if self.shown is not None:
            self.time_in_state[self.shown] = self.time_in_state.get(self.shown, 0.0) + max(
                0.0, now - self.state_since
            )
        self.shown, self.state_since = shown, now
        self.timeline = (*self.timeline[-(TIMELINE - 1) :], (now, shown))

    def record_cues(self, cues: Cues, faces: int) -> None:
        self.cues = cues
        self.head_pose_history.append(max(abs(cues.yaw), abs(cues.pitch)))
        self.gaze_history.append(cues.gaze_away)
        self.faces_history.append(faces)
        self.expression_history.append(cues.negative_expression)
        self.brow_history.append(cues.brow_down)

    def snapshot(self) -> StudentSnapshot:
        return StudentSnapshot(
            student_id=self.student_id,
            name=self.name,
            host=self.host,
            vision=self.vision,
            state=self.state if self.connected else State.OFFLINE,
            alert=self.alert if self.connected else None,
            reasons=self.reasons if self.connected else ("offline",),
            attention=self.attention,
            confusion=self.confusion,
            faces=self.faces,
            connected=self.connected,
            joined_at=self.joined_at,
            last_seen=self.last_seen,
            samples=self.samples,
            attention_history=tuple(self.attention_history),
            confusion_history=tuple(self.confusion_history),
            alerts=self.alerts,
            cues=self.cues,
            cue_history=CueHistory(
                head_pose=tuple(self.head_pose_history),
                gaze_away=tuple(self.gaze_history),
                faces=tuple(self.faces_history),
                expression=tuple(self.expression_history),
                brow_down=tuple(self.brow_history),
            ),
            state_since=self.state_since,
            timeline=self.timeline,
            time_in_state=tuple(self.time_in_state.items()),
            connections=self.connections,
            notice=self.notice,
            fps=self.fps,
        )


@dataclass(frozen=True)
class SegmentStats:
    """A teacher-marked lecture segment and how much of it the class spent Confused."""

    index: int
    label: str
    started_at: float
    #: When the next segment began; None for the current one.
    ended_at: float | None
    #: Samples received during the segment (every connected student), and how many were Confused.
    samples: int
    confused: int

    @property
    def confused_share(self) -> float:
        """Share of the class's sampled time spent Confused in this segment (0 without samples)."""
        return self.confused / self.samples if self.samples else 0.0


@dataclass
class _Segment:
    index: int
    label: str
    started_at: float
    ended_at: float | None = None
    samples: int = 0
    confused: int = 0

    def stats(self) -> SegmentStats:
        return SegmentStats(
            self.index, self.label, self.started_at, self.ended_at, self.samples, self.confused
        )


class Roster:
    """Class state on the hub: who is here, in which state, and why."""

    def __init__(self, class_id: str) -> None:
        self.class_id = class_id
        self._students: dict[str, _Student] = {}
        self._alerts: list[AlertRecord] = []
        self._segments: list[_Segment] = []
        self._segment_shown_at = 0.0

    def join(
        self, student_id: str, name: str, host: str, now: float, vision: str = "unknown"
    ) -> list[RosterEvent]:
        """A student's agent authenticated; call `leave` when its connection ends.

        ``vision`` is what the agent reported about its camera process (see `VisionMode`).
        """
        student = self._students.get(student_id)
        if student is None:
            student = _Student(student_id, name, host, joined_at=now)
            self._students[student_id] = student
        student.name, student.host, student.vision = name, host, vision
        student.connected = True
        student.last_seen = now
        student.connections = (*student.connections[-(CONNECTIONS - 1) :], (now, None))
        student.show(now)
        return [StudentChanged(student.snapshot())]

    def leave(self, student_id: str, now: float) -> list[RosterEvent]:
        """A student's connection ended; the tile turns Offline but keeps its history."""
        student = self._students.get(student_id)
        if student is None or not student.connected:
            return []
        student.connected = False
        if student.connections:
            connected_at, _ = student.connections[-1]
            student.connections = (*student.connections[:-1], (connected_at, now))
        student.show(now)
        return [StudentChanged(student.snapshot())]

    def apply(
        self, student_id: str, item: Sample | Event, now: float, *, report: bool = True
    ) -> list[RosterEvent]:
        """Fold one sample or event from a joined student into the class state.

        With ``report=False`` (nobody listens, e.g. a headless hub) the state is updated the
        same way but no events, hence no `StudentSnapshot`, are built; returns ``[]``.
        """
        student = self._students.get(student_id)
        if student is None:
            return []
        student.last_seen = now
        if isinstance(item, Sample):
            student.state = item.state
            student.alert = item.alert
            student.reasons = item.reasons
            student.attention = item.attention
            student.confusion = item.confusion
            student.faces = item.faces
            student.fps = item.fps if isinstance(item.fps, float) else None
            student.samples += 1
            student.attention_history.append(item.attention)
            student.confusion_history.append(item.confusion)
            student.record_cues(item.cues, item.faces)
            student.show(now)
            if self._segments:
                segment = self._segments[-1]
                segment.samples += 1
                segment.confused += item.state is State.CONFUSED
            if not report:
                return []
            events: list[RosterEvent] = [StudentChanged(student.snapshot())]
            if self._segments:
                segment = self._segments[-1]
                if now - self._segment_shown_at >= SEGMENT_UPDATE_INTERVAL:
                    self._segment_shown_at = now
                    events.append(SegmentChanged(segment.stats()))
            return events
        if item.kind is EventKind.ALERT and item.reason is not None:
            record = AlertRecord(student_id, student.name, item.ts, item.reason, item.detail)
            self._alerts.append(record)
            student.alerts += 1
            if not report:
                return []
            return [AlertRaised(record), StudentChanged(student.snapshot())]
        return []

    def notice(self, student_id: str, kind: NoticeKind, detail: str, now: float) -> list[RosterEvent]:
        """The hub has something to say about a student's connection: record it as an alert.

        A student not seen yet (refused at its first join) gets a tile, Offline, so the
        teacher sees who it was.
        """
        student = self._students.get(student_id)
        if student is None:
            student = _Student(student_id, student_id, "", joined_at=now, connected=False)
            self._students[student_id] = student
            student.show(now)
        student.notice = f"{kind.label}: {detail}"
        record = AlertRecord(student_id, student.name, now, kind, detail)
        self._alerts.append(record)
        return [AlertRaised(record), StudentChanged(student.snapshot())]

    def students(self) -> list[StudentSnapshot]:
        """Every student seen this session, in join order."""
        return [student.snapshot() for student in self._students.values()]

    def alerts(self) -> list[AlertRecord]:
        """Every alert this session, oldest first."""
        return list(self._alerts)

    def counts(self) -> dict[State, int]:
        """How many students are in each state (Offline included)."""
        counts = dict.fromkeys(State, 0)
        for student in self._students.values():
            counts[student.state if student.connected else State.OFFLINE] += 1
        return counts

    def mark_segment(self, label: str, now: float) -> list[RosterEvent]:
        """End the current segment (if any) and start one called ``label`` at ``now``."""
        events: list[RosterEvent] = []
        if self._segments:
            previous = self._segments[-1]
            previous.ended_at = now
            events.append(SegmentChanged(previous.stats()))
        segment = _Segment(len(self._segments) + 1, label, now)
        self._segments.append(segment)
        self._segment_shown_at = now
        events.append(SegmentChanged(segment.stats()))
        return events

    def segments(self) -> list[SegmentStats]:
        """Every segment this session, oldest first (the last one is current)."""
        return [segment.stats() for segment in self._segments]

    def current_segment(self) -> SegmentStats | None:
        """The segment under way, or None before the first mark."""
        return self._segments[-1].stats() if self._segments else None

    def class_attention(self) -> float:
        """Mean attention of the connected students (0 when nobody is connected)."""
        values = [s.attention for s in self._students.values() if s.connected]
        return sum(values) / len(values) if values else 0.0


class ClassFeed(Protocol):
    """What the TUI needs from a hub: the class state now, and a stream of changes.

    The hub implements it; tests can wrap a scripted `Roster` the same way.
    """

    @property
    def class_id(self) -> str:
        """The class this feed is about."""
        ...

    def students(self) -> list[StudentSnapshot]:
        """Every student seen this session."""
        ...

    def alerts(self) -> list[AlertRecord]:
        """Every alert this session, oldest first."""
        ...

    def segments(self) -> list[SegmentStats]:
        """Every lecture segment this session, oldest first."""
        ...

    def subscribe(self, listener: Callable[[RosterEvent], None]) -> Callable[[], None]:
        """Call ``listener`` (on the event loop) for each event; returns an unsubscribe function."""
        ...

    def status(self) -> HubStatus:
        """How the hub itself is doing (storage, address), for the header."""
        ...

    async def mark_segment(self, label: str) -> None:
        """Start a new lecture segment now ("slide 12: recursion"); it is stored with the session."""
        ...

    async def export_report(self) -> Path:
        """Write this session's report (HTML) and return where it went."""
        ...


@dataclass(frozen=True)
class HubStatus:
    """The hub's own health as the TUI shows it."""

    url: str = ""
    tls: bool = False
    session_id: str = ""
    storage_ok: bool = True
    storage_error: str = ""
    connected: int = 0
    #: Replication to the school server: "" (not configured), "connecting", "synced",
    #: "catching up" or "away"; seconds since the server last held everything; the last failure.
    school: str = ""
    school_lag: float = 0.0
    school_error: str = ""
