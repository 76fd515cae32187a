"""The hub's picture of the class: pure state fed by messages, producing events for the TUI.

`Roster` is owned by the hub's event loop. Each call takes ``now`` (epoch seconds) and
returns the `RosterEvent`s it caused; the hub hands those to whoever listens (the TUI).
Events carry immutable `StudentSnapshot`s, so a listener may keep them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from smartsession.core.protocol import Event, EventKind, Sample
from smartsession.core.states import AlertReason, State

#: Samples of history kept per student for sparklines (at 1 s intervals: 10 minutes).
HISTORY = 600


@dataclass(frozen=True)
class AlertRecord:
    """One alert raised for a student."""

    student_id: str
    name: str
    ts: float
    reason: AlertReason
    detail: str


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

    @property
    def main_reason(self) -> str:
        """The first reason, or "" when there is none."""
        return self.reasons[0] if self.reasons else ""


@dataclass(frozen=True)
class StudentChanged:
    """A student's tile must be redrawn."""

    student: StudentSnapshot


@dataclass(frozen=True)
class AlertRaised:
    """A new alert the teacher should notice."""

    alert: AlertRecord


RosterEvent = StudentChanged | AlertRaised


@dataclass
class _Student:
    student_id: str
    name: str
    host: str
    joined_at: float
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

    def snapshot(self) -> StudentSnapshot:
        return StudentSnapshot(
            student_id=self.student_id,
            name=self.name,
            host=self.host,
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
        )


class Roster:
    """Class state on the hub: who is here, in which state, and why."""

    def __init__(self, class_id: str) -> None:
        self.class_id = class_id
        self._students: dict[str, _Student] = {}
        self._alerts: list[AlertRecord] = []

    def join(self, student_id: str, name: str, host: str, now: float) -> list[RosterEvent]:
        """A student's agent authenticated; call `leave` when its connection ends."""
        student = self._students.get(student_id)
        if student is None:
            student = _Student(student_id, name, host, joined_at=now)
            self._students[student_id] = student
        student.name, student.host = name, host
        student.connected = True
        student.last_seen = now
        return [StudentChanged(student.snapshot())]

    def leave(self, student_id: str, now: float) -> list[RosterEvent]:
        """A student's connection ended; the tile turns Offline but keeps its history."""
        student = self._students.get(student_id)
        if student is None or not student.connected:
            return []
        student.connected = False
        return [StudentChanged(student.snapshot())]

    def apply(self, student_id: str, item: Sample | Event, now: float) -> list[RosterEvent]:
        """Fold one sample or event from a joined student into the class state."""
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
            student.samples += 1
            student.attention_history.append(item.attention)
            student.confusion_history.append(item.confusion)
            return [StudentChanged(student.snapshot())]
        if item.kind is EventKind.ALERT and item.reason is not None:
            record = AlertRecord(student_id, student.name, item.ts, item.reason, item.detail)
            self._alerts.append(record)
            student.alerts += 1
            return [AlertRaised(record), StudentChanged(student.snapshot())]
        return []

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

    def subscribe(self, listener: Callable[[RosterEvent], None]) -> Callable[[], None]:
        """Call ``listener`` (on the event loop) for each event; returns an unsubscribe function."""
        ...
