"""What the roster tells its listeners: frozen snapshots of students and segments, and its events.

`smartsession.core.roster.Roster` makes these; the TUI keeps them (they never change), and
`ClassFeed` is what the TUI reads from a hub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from smartsession.core.classwide import Spike
from smartsession.core.identity import SeatResult
from smartsession.core.protocol import Cues, SeatStatus
from smartsession.core.states import AlertReason, NoticeKind, State

if TYPE_CHECKING:
    from pathlib import Path


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
    """Per-sample histories of the observable cues, oldest first (at most `roster.HISTORY`)."""

    #: Head turned off centre, degrees: the larger of ``|yaw|`` and ``|pitch|``.
    head_pose: tuple[float, ...] = ()
    gaze_away: tuple[float, ...] = ()
    faces: tuple[int, ...] = ()
    #: Negative facial expression probability (FER), 0..1.
    expression: tuple[float, ...] = ()
    brow_down: tuple[float, ...] = ()


@dataclass(frozen=True)
class HubGap:
    """The hub was down (a crash, then a resume): from its last activity to its restart.

    ``students`` were connected when it went down.
    """

    start: float
    end: float
    students: tuple[str, ...] = ()


#: Mismatch times kept per student (the count goes on beyond them).
SEAT_MISMATCH_TIMES = 100
#: What every seat-check line ends with: it is a hint for a person, not an identification.
SEAT_REVIEW = "a check for a human to review, not an identification"


@dataclass(frozen=True)
class SeatSummary:
    """A student's seat checks this session, as the machine reported them: the latest result
    and distance, the checks that compared a face with the enrolled one (``checks``, of which
    ``mismatches`` did not match) and when each mismatch was seen (``mismatch_times``: sample
    time and distance, the last `SEAT_MISMATCH_TIMES`). "Not enrolled" checks compare nothing
    and are not counted. Start with `first`, then `add` each sample's `SeatStatus`."""

    result: SeatResult
    distance: float | None
    last_at: float
    checks: int = 0
    mismatches: int = 0
    mismatch_times: tuple[tuple[float, float | None], ...] = ()

    @classmethod
    def first(cls, seat: SeatStatus, ts: float) -> SeatSummary:
        """The summary after a student's first sample with a seat check."""
        return cls(result=seat.result, distance=seat.distance, last_at=ts).add(seat, ts)

    def add(self, seat: SeatStatus, ts: float) -> SeatSummary:
        """The summary with one more sample's seat checks (at sample time ``ts``)."""
        enrolled = seat.result is not SeatResult.NOT_ENROLLED
        checks, mismatches, times = self.checks, self.mismatches, self.mismatch_times
        if enrolled:
            checks += seat.checks
            mismatches += seat.mismatches
            if seat.mismatches:
                distance = seat.distance if seat.result is SeatResult.MISMATCH else None
                times = (*times, (ts, distance))[-SEAT_MISMATCH_TIMES:]
        return SeatSummary(seat.result, seat.distance, ts, checks, mismatches, times)

    @property
    def enrolled(self) -> bool:
        """Whether the machine has a template (as of the latest check)."""
        return self.result is not SeatResult.NOT_ENROLLED

    @property
    def matches(self) -> int:
        """Checks that matched the enrolled face."""
        return self.checks - self.mismatches

    @property
    def mark(self) -> str:
        """A tile's few characters: "seat ✓" (the latest check matched), "seat ✗" (it did
        not), "seat ?" (nobody enrolled on that machine)."""
        return {SeatResult.MATCH: "seat ✓", SeatResult.MISMATCH: "seat ✗"}.get(self.result, "seat ?")

    @property
    def counts(self) -> str:
        """ "12 checks, 0 mismatches"."""
        return f"{_plural(self.checks, 'check')}, {_plural(self.mismatches, 'mismatch')}"

    @property
    def line(self) -> str:
        """The detail screen's sentence about it."""
        if not self.enrolled:
            return f"seat check: nobody is enrolled on this machine, so no face is compared — {SEAT_REVIEW}"
        if self.result is SeatResult.MATCH:
            found = "matches the student enrolled here"
        else:
            distance = f"distance {self.distance:.2f}; " if self.distance is not None else ""
            found = f"the latest face differs from the one enrolled here ({distance}"
            return f"seat check: {found}{self.counts}) — {SEAT_REVIEW}"
        return f"seat check: {found} ({self.counts}) — {SEAT_REVIEW}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('ch') else 's'}"


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
    #: On the class's ``[roster]``.
    expected: bool = False
    #: On the roster and not joined this session yet.
    absent: bool = False
    #: Minutes after the session started that the student first joined, when that makes the
    #: student late (``report.late_after_minutes``); None when on time or absent.
    late_by: float | None = None
    #: Times the hub was down while this student was connected.
    hub_gaps: tuple[HubGap, ...] = ()
    #: The seat checks its machine reported this session; None while none came (the check is
    #: off there, or no face was seen yet).
    seat: SeatSummary | None = None

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


@dataclass(frozen=True)
class ClassPulse:
    """The class as a whole at one moment (see `smartsession.core.classwide`)."""

    #: The smoothed class attention index (None until a student was counted).
    attention: float | None = None
    #: Its recent values, oldest first, at most one a second (for a sparkline).
    history: tuple[float, ...] = ()
    #: Students counted now, and how many of them are Confused.
    present: int = 0
    confused: int = 0
    #: The confusion spike under way, if any.
    spike: Spike | None = None


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


@dataclass(frozen=True)
class ClassAlertChanged:
    """A class alert (a confusion spike) was raised (``ended_at`` None) or cleared."""

    spike: Spike


@dataclass(frozen=True)
class ClassRestored:
    """The roster was restored from the store (a resumed session): read everything again."""


RosterEvent = StudentChanged | AlertRaised | SegmentChanged | ClassAlertChanged | ClassRestored


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
    #: Another hub announces this class ("" when none): the sentence the class view shows in red.
    conflict: str = ""


class ClassFeed(Protocol):
    """What the TUI needs from a hub: the class state now, and a stream of changes.

    The hub implements it; tests can wrap a scripted `Roster` the same way.
    """

    @property
    def class_id(self) -> str:
        """The class this feed is about."""
        ...

    def students(self) -> list[StudentSnapshot]:
        """Every student seen this session, then the roster's students not joined yet."""
        ...

    def alerts(self) -> list[AlertRecord]:
        """Every student alert this session, oldest first."""
        ...

    def class_alerts(self) -> list[Spike]:
        """Every class alert (confusion spike) this session, oldest first."""
        ...

    def segments(self) -> list[SegmentStats]:
        """Every lecture segment this session, oldest first."""
        ...

    def hub_gaps(self) -> list[HubGap]:
        """Times the hub was down during this session (before a resume), oldest first."""
        ...

    def pulse(self) -> ClassPulse:
        """The class as a whole now: attention index, counts, the spike under way."""
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
