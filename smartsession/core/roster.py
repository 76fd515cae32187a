"""The hub's picture of the class: pure state fed by messages, producing events for the TUI.

`Roster` is owned by the hub's event loop. Each call takes ``now`` (epoch seconds) and
returns the `RosterEvent`s it caused; the hub hands those to whoever listens (the TUI) and
stores the class alerts. Events carry immutable snapshots (`smartsession.core.snapshots`),
so a listener may keep them.

The class's ``[roster]`` names the students expected: they are shown under those names, and
until they join as absent. The class-wide measures (attention index, confusion spikes) are
those of `smartsession.core.classwide`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from smartsession.core.classwide import (
    AttentionIndex,
    ClassSettings,
    ClassTally,
    Spike,
    SpikeWatch,
    is_late,
    late_minutes,
)
from smartsession.core.protocol import Cues, Event, EventKind, Sample, SeatStatus
from smartsession.core.snapshots import (
    AlertRaised,
    AlertRecord,
    ClassAlertChanged,
    ClassPulse,
    ClassRestored,
    CueHistory,
    HubGap,
    RosterEvent,
    SeatSummary,
    SegmentChanged,
    SegmentStats,
    StudentChanged,
    StudentSnapshot,
)
from smartsession.core.states import AlertReason, NoticeKind, State

#: Samples of history kept per student for sparklines (at 1 s intervals: 10 minutes).
HISTORY = 600
#: State changes kept per student for the detail screen's timeline.
TIMELINE = 1000
#: Connections (join .. leave) kept per student.
CONNECTIONS = 100
#: Least seconds between two live updates of the current segment's Confused share.
SEGMENT_UPDATE_INTERVAL = 1.0
#: Points of the class attention index kept (at most one a second), for the header's sparkline.
INDEX_HISTORY = 240


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
    expected: bool = False
    #: Never joined this session (an expected student's tile before it joins).
    absent: bool = False
    late_by: float | None = None
    hub_gaps: tuple[HubGap, ...] = ()
    fps: float | None = None
    seat: SeatSummary | None = None

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
        connected = self.connected
        return StudentSnapshot(
            student_id=self.student_id,
            name=self.name,
            host=self.host,
            vision=self.vision,
            state=self.state if connected else State.OFFLINE,
            alert=self.alert if connected else None,
            reasons=self.reasons if connected else (("absent",) if self.absent else ("offline",)),
            attention=self.attention,
            confusion=self.confusion,
            faces=self.faces,
            connected=connected,
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
            expected=self.expected,
            absent=self.absent,
            late_by=self.late_by,
            hub_gaps=self.hub_gaps,
            seat=self.seat,
            fps=self.fps,
        )


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


@dataclass(frozen=True)
class RestoredStudent:
    """A student of a resumed session, as the store holds it (see `Roster.restore`)."""

    student_id: str
    name: str
    host: str
    first_seen: float
    connections: tuple[tuple[float, float | None], ...]
    #: The changes of the state of its samples: (ts, state), oldest first.
    states: tuple[tuple[float, State], ...]
    #: Its samples' seat checks: (ts, checks), oldest first.
    seats: tuple[tuple[float, SeatStatus], ...] = ()


class Roster:
    """Class state on the hub: who is here, in which state, and why.

    ``expected`` is the class's roster (id -> name); ``settings`` say how the class-wide
    measures are made. Call `begin` with the session's start (for lateness), `tick` about
    once a second (a spike clears even when nobody sends anything).
    """

    def __init__(
        self,
        class_id: str,
        *,
        expected: Mapping[str, str] | None = None,
        settings: ClassSettings | None = None,
    ) -> None:
        self.class_id = class_id
        self.settings = settings or ClassSettings()
        self.started_at: float | None = None
        self._expected = {sid: name or sid for sid, name in (expected or {}).items()}
        self._students: dict[str, _Student] = {
            sid: _Student(sid, name, "", joined_at=0.0, connected=False, expected=True, absent=True)
            for sid, name in self._expected.items()
        }
        self._order: list[str] = []
        self._alerts: list[AlertRecord] = []
        self._segments: list[_Segment] = []
        self._segment_shown_at = 0.0
        self._tally = ClassTally()
        self._index = AttentionIndex(self.settings.attention_smoothing)
        self._index_history: deque[float] = deque(maxlen=INDEX_HISTORY)
        self._index_at = float("-inf")
        self._spikes: list[Spike] = []
        self._watch = SpikeWatch(self.settings.spike_share, self.settings.spike_seconds)
        self._gaps: list[HubGap] = []

    def begin(self, started_at: float) -> None:
        """The session began at ``started_at`` (earlier than now after a resume)."""
        self.started_at = started_at

    def name_of(self, student_id: str, fallback: str = "") -> str:
        """The name a student is shown by: the roster's, else ``fallback`` (its agent's), else the id."""
        return self._expected.get(student_id) or fallback or student_id

    # Connections ------------------------------------------------------------------------

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
        self._arrive(student, now)
        student.name, student.host, student.vision = self.name_of(student_id, name), host, vision
        student.connected = True
        student.last_seen = now
        student.connections = (*student.connections[-(CONNECTIONS - 1) :], (now, None))
        student.show(now)
        return [StudentChanged(student.snapshot())]

    def _arrive(self, student: _Student, now: float) -> None:
        """First seen this session (a join, or a refusal at its first join)."""
        if student.student_id in self._order:
            return
        self._order.append(student.student_id)
        if student.absent:
            student.absent, student.joined_at = False, now
        started = self.started_at
        if started is not None and is_late(student.joined_at, started, self.settings.late_after_minutes):
            student.late_by = late_minutes(student.joined_at, started)

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
        self._tally.drop(student_id)
        events: list[RosterEvent] = [StudentChanged(student.snapshot())]
        events += self._class_changed(now)
        return events

    # Items ------------------------------------------------------------------------------

    def apply(
        self, student_id: str, item: Sample | Event, now: float, *, report: bool = True
    ) -> list[RosterEvent]:
        """Fold one sample or event from a joined student into the class state.

        With ``report=False`` (nobody listens, e.g. a headless hub) the state is updated the
        same way but no `StudentSnapshot` is built: only class alerts are returned.
        """
        student = self._students.get(student_id)
        if student is None or student.absent:
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
            if isinstance(item.seat, SeatStatus):
                seat = student.seat
                student.seat = (
                    SeatSummary.first(item.seat, item.ts) if seat is None else seat.add(item.seat, item.ts)
                )
            student.samples += 1
            student.attention_history.append(item.attention)
            student.confusion_history.append(item.confusion)
            student.record_cues(item.cues, item.faces)
            student.show(now)
            if student.connected:
                self._tally.set(student_id, item.state, item.attention)
            class_events = self._class_changed(now)
            if self._segments:
                segment = self._segments[-1]
                segment.samples += 1
                segment.confused += item.state is State.CONFUSED
            if not report:
                return class_events
            events: list[RosterEvent] = [StudentChanged(student.snapshot()), *class_events]
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
            student = _Student(student_id, self.name_of(student_id), "", joined_at=now, connected=False)
            self._students[student_id] = student
        if student_id not in self._order:
            self._arrive(student, now)
            student.show(now)
        student.notice = f"{kind.label}: {detail}"
        record = AlertRecord(student_id, student.name, now, kind, detail)
        self._alerts.append(record)
        return [AlertRaised(record), StudentChanged(student.snapshot())]

    # The class as a whole ---------------------------------------------------------------

    def tick(self, now: float) -> list[RosterEvent]:
        """Let time pass (about once a second): a spike rises or clears even when nothing arrives."""
        self._keep_index(now)
        spike = self._watch.update(now, self._tally, self._segment_number())
        return self._record_spike(spike)

    def _class_changed(self, now: float) -> list[RosterEvent]:
        self._index.update(now, self._tally.mean_attention)
        self._keep_index(now)
        return self._record_spike(self._watch.update(now, self._tally, self._segment_number()))

    def _keep_index(self, now: float) -> None:
        if now - self._index_at >= 1.0:
            value = self._index.value(now)
            if value is not None:
                self._index_history.append(value)
                self._index_at = now

    def _record_spike(self, spike: Spike | None) -> list[RosterEvent]:
        if spike is None:
            return []
        if self._spikes and self._spikes[-1].index == spike.index:
            self._spikes[-1] = spike
        else:
            self._spikes.append(spike)
        return [ClassAlertChanged(spike)]

    def _segment_number(self) -> int | None:
        return self._segments[-1].index if self._segments else None

    def pulse(self, now: float) -> ClassPulse:
        """The class as a whole at ``now``: the attention index, who counts, the spike under way."""
        return ClassPulse(
            attention=self._index.value(now),
            history=tuple(self._index_history),
            present=self._tally.present,
            confused=len(self._tally.confused),
            spike=self._watch.active,
        )

    def class_alerts(self) -> list[Spike]:
        """Every class alert (confusion spike) this session, oldest first."""
        return list(self._spikes)

    def hub_gaps(self) -> list[HubGap]:
        """Times the hub was down during this session, oldest first (from `restore`)."""
        return list(self._gaps)

    # Queries ----------------------------------------------------------------------------

    def students(self) -> list[StudentSnapshot]:
        """Every student seen this session, in join order, then the expected ones not joined yet."""
        joined = [self._students[sid].snapshot() for sid in self._order]
        return joined + [s.snapshot() for s in self._students.values() if s.absent]

    def alerts(self) -> list[AlertRecord]:
        """Every alert this session, oldest first."""
        return list(self._alerts)

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

    # A resumed session ------------------------------------------------------------------

    def restore(
        self,
        students: Sequence[RestoredStudent],
        alerts: Sequence[AlertRecord],
        spikes: Sequence[Spike],
        gaps: Sequence[HubGap],
    ) -> list[RosterEvent]:
        """Take back what the store holds of a resumed session before anyone reconnects.

        Each student gets its tile (Offline), its connections, its timeline of states and its
        seat checks;
        ``gaps`` are the times the hub was down. Call it after `begin`, once, at start.
        """
        self._gaps = list(gaps)
        for restored in students:
            student = self._students.get(restored.student_id)
            if student is None:
                student = _Student(restored.student_id, "", restored.host, joined_at=restored.first_seen)
                self._students[restored.student_id] = student
            student.name = self.name_of(restored.student_id, restored.name)
            student.joined_at, student.connected = restored.first_seen, False
            self._arrive(student, restored.first_seen)
            _replay(student, restored)
            for ts, seat in restored.seats:
                student.seat = (
                    SeatSummary.first(seat, ts) if student.seat is None else student.seat.add(seat, ts)
                )
            student.hub_gaps = tuple(g for g in gaps if restored.student_id in g.students)
        self._alerts = [dataclasses.replace(a, name=self.name_of(a.student_id, a.name)) for a in alerts]
        for alert in self._alerts:
            if alert.student_id in self._students:
                self._students[alert.student_id].alerts += 1
        self._spikes = list(spikes)
        self._watch = SpikeWatch(
            self.settings.spike_share, self.settings.spike_seconds, first_index=len(spikes) + 1
        )
        return [ClassRestored()]


def _replay(student: _Student, restored: RestoredStudent) -> None:
    """Rebuild a restored student's timeline from its connections and states."""
    moments: list[tuple[float, int, State | None]] = []
    for start, end in restored.connections:
        moments.append((start, 0, None))
        if end is not None:
            moments.append((end, 2, None))
    moments += [(ts, 1, state) for ts, state in restored.states]
    student.timeline, student.time_in_state, student.shown = (), {}, None
    for moment, kind, state in sorted(moments, key=lambda m: (m[0], m[1])):
        if kind == 1 and state is not None:
            student.state = state
        else:
            student.connected = kind == 0
        student.show(moment)
        student.last_seen = max(student.last_seen, moment)
    student.connected = False
    student.connections = restored.connections[-CONNECTIONS:]
    student.show(max(student.last_seen, student.state_since))
