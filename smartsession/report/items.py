"""What a session report holds: plain frozen data, made by `smartsession.report.model.build_report`.

Every writer (HTML, CSV, JSON, xlsx, the e-mail) prints these numbers as they are: they are
counted, timed and rounded once, in the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smartsession.core.states import State

#: Report format version, in the JSON document.
SCHEMA = "smartsession.report/2"
#: A sample with attention below this counts as "not attending".
ATTENTION_LOW = 0.5
#: States reported as minutes, in this order.
STATES: tuple[str, ...] = tuple(s.value for s in State if s is not State.OFFLINE)
#: The run state of a student's timeline while the hub was down.
HUB_OFFLINE = "hub_offline"


@dataclass(frozen=True)
class AlertItem:
    """One alert: when it started, why, and when it cleared (None: still on at the end)."""

    student_id: str
    name: str
    ts: float
    reason: str
    detail: str
    cleared_at: float | None


@dataclass(frozen=True)
class Run:
    """A stretch of a student's timeline in one state (``alert``: its reason; `HUB_OFFLINE`:
    the hub was down while the student was connected)."""

    start: float
    end: float
    state: str
    alert: str | None


@dataclass(frozen=True)
class SeatItem:
    """A student's seat checks in the session, as the lab machine reported them: whether a
    template is enrolled there (as of the latest check), the checks that compared a face
    with it, how many matched and when the others were seen (sample times). A check for a
    human to review, never an identification."""

    enrolled: bool
    checks: int
    matches: int
    mismatches: int
    mismatch_times: tuple[float, ...]
    #: The latest check's word (match, mismatch, not_enrolled).
    latest: str


#: What the reports say with the seat check, wherever they show it.
SEAT_NOTE = (
    "Seat check: on each lab machine the face in front of the camera is compared with the one "
    "enrolled on that machine (one to one; no template leaves the machine). A mismatch is a "
    "check for a human to review, not an identification."
)


@dataclass(frozen=True)
class StudentReport:
    """Attendance and what the student's samples say, for one student."""

    student_id: str
    name: str
    status: str  # "present", "late" or "absent"
    expected: bool
    joined: float | None
    left: float | None
    late_minutes: float | None  # minutes after the session start the student was first seen
    minutes_connected: float
    minutes_face: float
    minutes_by_state: dict[str, float]
    alerts_by_reason: dict[str, int]
    mean_attention: float | None
    mean_confusion: float | None
    peak_confusion: float | None
    samples: int
    timeline: tuple[Run, ...] = ()
    #: The seat checks its machine reported; None where the check was off (none reported).
    seat: SeatItem | None = None


@dataclass(frozen=True)
class ClassAlertItem:
    """A class alert (confusion spike): raised at ``start``, cleared at ``end`` (the session's
    end when it lasted to it)."""

    number: int
    start: float
    end: float
    onset: float
    #: The report's segment (`SegmentReport.index`) it was raised in.
    segment: int
    confused: int
    present: int
    peak: int
    #: The Confused students when it was raised: ids, and names in the same order.
    students: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class OfflineItem:
    """A time the hub was down (a crash, before the session was resumed)."""

    start: float
    end: float
    seconds: float
    #: The students connected when it went down: ids, and names in the same order.
    students: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class SegmentReport:
    """One lecture segment; shares are over every sample of the class within it."""

    index: int
    label: str
    start: float
    end: float
    minutes: float
    students: int
    samples: int
    #: Samples Confused, and with attention below `ATTENTION_LOW` (the shares' counts).
    confused: int
    not_attending: int
    confused_share: float | None
    not_attending_share: float | None
    mean_attention: float | None
    mean_confusion: float | None
    class_alerts: int = 0


@dataclass(frozen=True)
class ClassPoint:
    """The class over one time bucket (``start`` .. ``start + bucket``)."""

    start: float
    students: int
    samples: int
    mean_attention: float | None
    mean_confusion: float | None
    confused_share: float | None
    #: The class attention index at the bucket's end (or the session's end).
    attention_index: float | None = None


@dataclass(frozen=True)
class SessionReport:
    """Everything a report shows about one session."""

    session_id: str
    class_id: str
    hub_id: str
    started_at: float
    ended_at: float | None
    end: float
    duration_minutes: float
    interval: float
    bucket_seconds: float
    late_after_minutes: float
    attention_low: float
    attention_smoothing: float
    students: tuple[StudentReport, ...]
    alerts: tuple[AlertItem, ...]
    segments: tuple[SegmentReport, ...]
    timeline: tuple[ClassPoint, ...]
    class_alerts: tuple[ClassAlertItem, ...] = ()
    hub_offline: tuple[OfflineItem, ...] = ()
    #: Seconds the hub was down in all (the sum of the rounded `OfflineItem.seconds`).
    hub_offline_seconds: float = 0.0
    #: The label mode the report is worded in (``tui.label_mode``): "states" or "cues".
    labels: str = "states"
    meaning: str = ""
    schema: str = SCHEMA
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def present(self) -> list[StudentReport]:
        """Students who joined (on time or late)."""
        return [s for s in self.students if s.status != "absent"]

    @property
    def seat_checked(self) -> list[StudentReport]:
        """Students whose machines reported seat checks."""
        return [s for s in self.students if s.seat is not None]

    @property
    def late(self) -> list[StudentReport]:
        """Students who joined late."""
        return [s for s in self.students if s.status == "late"]

    @property
    def absent(self) -> list[StudentReport]:
        """Students on the roster who never joined."""
        return [s for s in self.students if s.status == "absent"]
