"""The report of one session, computed from its stored rows (pure: no I/O, no clock).

Call `build_report` with the rows from `queries.read_session`; writers turn the result into
files (`smartsession.report.tables` flattens it for CSV and xlsx).

Definitions (also stated in every report):

- *interval*: seconds one sample stands for, the median spacing of a student's samples.
- *minutes in a state*: samples in that state x interval.
- *minutes with a face*: samples with at least one face on screen x interval.
- *minutes connected*: the union of the student's connections, clipped to the session.
- *late*: first seen more than ``late_after_minutes`` after the session started.
- *not attending*: a sample with attention below `ATTENTION_LOW`.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartsession.core.states import State
from smartsession.report.queries import (
    ConnectionRow,
    EventRow,
    SampleRow,
    SessionData,
)

#: Report format version, in the JSON document.
SCHEMA = "smartsession.report/1"
#: A sample with attention below this counts as "not attending".
ATTENTION_LOW = 0.5
#: States reported as minutes, in this order.
STATES: tuple[str, ...] = tuple(s.value for s in State if s is not State.OFFLINE)
#: A gap longer than this many intervals between samples breaks a timeline run.
GAP_INTERVALS = 3.0

MEANING = (
    "These numbers are cues computed on each student's own machine from the camera "
    "(head pose, gaze, facial expression, faces on screen); no image was stored or sent. "
    "They are not verdicts about a student's understanding, effort or character: a "
    "'Confused' or 'Alert' state is a prompt for a human to look and, if needed, ask. "
    "Lighting, glasses, a second screen, a disability or a slow camera can all move them. "
    "Do not grade, discipline or rank students with them."
)


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
    """A stretch of a student's timeline in one state (``alert``: its reason)."""

    start: float
    end: float
    state: str
    alert: str | None


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


@dataclass(frozen=True)
class SegmentReport:
    """One lecture segment; shares are over every sample of the class within it."""

    index: int
    label: str
    start: float
    end: float
    students: int
    samples: int
    confused_share: float | None
    not_attending_share: float | None
    mean_attention: float | None
    mean_confusion: float | None


@dataclass(frozen=True)
class ClassPoint:
    """The class over one time bucket (``start`` .. ``start + bucket``)."""

    start: float
    students: int
    samples: int
    mean_attention: float | None
    mean_confusion: float | None
    confused_share: float | None


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
    students: tuple[StudentReport, ...]
    alerts: tuple[AlertItem, ...]
    segments: tuple[SegmentReport, ...]
    timeline: tuple[ClassPoint, ...]
    meaning: str = MEANING
    schema: str = SCHEMA
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def present(self) -> list[StudentReport]:
        """Students who joined (on time or late)."""
        return [s for s in self.students if s.status != "absent"]


def build_report(
    data: SessionData,
    *,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
) -> SessionReport:
    """Compute the report of ``data``; ``roster`` (id -> name) adds expected students."""
    roster = dict(roster or {})
    session = data.session
    start, end = session.started_at, session.end
    by_student: dict[str, list[SampleRow]] = defaultdict(list)
    for sample in data.samples:
        by_student[sample.student_id].append(sample)
    interval = sample_interval(by_student.values())
    names = {s.student_id: s.name for s in data.students}
    names.update({k: v for k, v in roster.items() if v})
    alerts = _alerts(data.events, names)
    conns: dict[str, list[ConnectionRow]] = defaultdict(list)
    for c in data.connections:
        conns[c.student_id].append(c)

    students: list[StudentReport] = []
    seen: set[str] = set()
    ids = [s.student_id for s in data.students]
    ids += [sid for sid in by_student if sid not in set(ids)]
    first_seen = {s.student_id: s.first_seen for s in data.students}
    last_seen = {s.student_id: s.last_seen for s in data.students}
    for sid in ids:
        seen.add(sid)
        samples = by_student.get(sid, [])
        joined_candidates = [first_seen[sid]] if sid in first_seen else []
        joined_candidates += [c.connected_at for c in conns.get(sid, [])]
        joined_candidates += [samples[0].ts] if samples else []
        joined = min(joined_candidates) if joined_candidates else None
        left_candidates = [last_seen[sid]] if sid in last_seen else []
        left_candidates += [c.disconnected_at or end for c in conns.get(sid, [])]
        left = min(end, max(left_candidates)) if left_candidates else None
        late_minutes = max(0.0, (joined - start) / 60.0) if joined is not None else None
        late = late_minutes is not None and late_minutes > late_after_minutes
        by_state = Counter(s.state for s in samples)
        attention = [s.attention for s in samples]
        confusion = [s.confusion for s in samples]
        students.append(
            StudentReport(
                student_id=sid,
                name=names.get(sid, sid),
                status="late" if late else "present",
                expected=sid in roster,
                joined=joined,
                left=left,
                late_minutes=late_minutes,
                minutes_connected=_connected_seconds(conns.get(sid, []), start, end) / 60.0,
                minutes_face=sum(1 for s in samples if s.faces >= 1) * interval / 60.0,
                minutes_by_state={st: by_state.get(st, 0) * interval / 60.0 for st in STATES},
                alerts_by_reason=dict(
                    sorted(Counter(a.reason for a in alerts if a.student_id == sid).items())
                ),
                mean_attention=_mean(attention),
                mean_confusion=_mean(confusion),
                peak_confusion=max(confusion) if confusion else None,
                samples=len(samples),
                timeline=_runs(samples, interval),
            )
        )
    for sid, name in roster.items():
        if sid in seen:
            continue
        students.append(
            StudentReport(
                student_id=sid,
                name=name or sid,
                status="absent",
                expected=True,
                joined=None,
                left=None,
                late_minutes=None,
                minutes_connected=0.0,
                minutes_face=0.0,
                minutes_by_state={st: 0.0 for st in STATES},
                alerts_by_reason={},
                mean_attention=None,
                mean_confusion=None,
                peak_confusion=None,
                samples=0,
            )
        )
    bucket = bucket_seconds(end - start)
    counts = {
        "students_present": sum(1 for s in students if s.status == "present"),
        "students_late": sum(1 for s in students if s.status == "late"),
        "students_absent": sum(1 for s in students if s.status == "absent"),
        "alerts": len(alerts),
        "samples": len(data.samples),
    }
    return SessionReport(
        session_id=session.id,
        class_id=session.class_id,
        hub_id=session.hub_id,
        started_at=start,
        ended_at=session.ended_at,
        end=end,
        duration_minutes=(end - start) / 60.0,
        interval=interval,
        bucket_seconds=bucket,
        late_after_minutes=late_after_minutes,
        attention_low=ATTENTION_LOW,
        students=tuple(students),
        alerts=tuple(alerts),
        segments=tuple(_segments(data, start, end)),
        timeline=tuple(_class_timeline(data.samples, start, end, bucket)),
        counts=counts,
    )


def sample_interval(per_student: Any) -> float:
    """Seconds one sample stands for: the median spacing of consecutive samples (1.0 if unknown)."""
    gaps: list[float] = []
    for samples in per_student:
        gaps += [b.ts - a.ts for a, b in itertools.pairwise(samples) if 0.0 < b.ts - a.ts < 60.0]
    return round(statistics.median(gaps), 3) if gaps else 1.0


def bucket_seconds(duration: float) -> float:
    """Bucket of the class timeline: about 60 points a session, at most one a minute."""
    for nice in (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0):
        if duration / nice <= 90.0:
            return nice
    return 60.0


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _connected_seconds(conns: Sequence[ConnectionRow], start: float, end: float) -> float:
    spans = sorted(
        (max(start, c.connected_at), min(end, c.disconnected_at if c.disconnected_at is not None else end))
        for c in conns
    )
    total, cur_a, cur_b = 0.0, -math.inf, -math.inf
    for a, b in spans:
        if b <= a:
            continue
        if a > cur_b:
            total += max(0.0, cur_b - cur_a) if cur_b > cur_a else 0.0
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b > cur_a:
        total += cur_b - cur_a
    return total


def _alerts(events: Sequence[EventRow], names: Mapping[str, str]) -> list[AlertItem]:
    out: list[AlertItem] = []
    open_: dict[str, int] = {}
    for e in events:
        if e.kind == "alert":
            open_[e.student_id] = len(out)
            out.append(
                AlertItem(
                    e.student_id, names.get(e.student_id, e.student_id), e.ts, e.reason or "", e.detail, None
                )
            )
        elif e.kind == "alert_cleared" and e.student_id in open_:
            i = open_.pop(e.student_id)
            a = out[i]
            out[i] = AlertItem(a.student_id, a.name, a.ts, a.reason, a.detail, e.ts)
    return out


def _runs(samples: Sequence[SampleRow], interval: float) -> tuple[Run, ...]:
    runs: list[Run] = []
    for s in samples:
        alert = s.alert if s.state == State.ALERT.value else None
        if runs:
            last = runs[-1]
            contiguous = s.ts - last.end <= GAP_INTERVALS * interval
            if contiguous and last.state == s.state and last.alert == alert:
                runs[-1] = Run(last.start, s.ts + interval, last.state, last.alert)
                continue
            if contiguous:
                runs[-1] = Run(last.start, max(last.start, s.ts), last.state, last.alert)
        runs.append(Run(s.ts, s.ts + interval, s.state, alert))
    return tuple(runs)


def _share(samples: Sequence[SampleRow], test: Any) -> float | None:
    return sum(1 for s in samples if test(s)) / len(samples) if samples else None


def _segments(data: SessionData, start: float, end: float) -> list[SegmentReport]:
    marks = [(max(start, g.started_at), g.label) for g in data.segments if g.started_at < end]
    if not marks:
        marks = [(start, "whole session")]
    elif any(s.ts < marks[0][0] for s in data.samples):
        marks.insert(0, (start, "before the first segment"))
    else:
        marks[0] = (start, marks[0][1])  # marked as the class began: the first segment starts with it
    out: list[SegmentReport] = []
    for i, (a, label) in enumerate(marks):
        b = marks[i + 1][0] if i + 1 < len(marks) else end
        inside = [s for s in data.samples if a <= s.ts < b or (i + 1 == len(marks) and s.ts == b)]
        out.append(
            SegmentReport(
                index=i + 1,
                label=label,
                start=a,
                end=b,
                students=len({s.student_id for s in inside}),
                samples=len(inside),
                confused_share=_share(inside, lambda s: s.state == State.CONFUSED.value),
                not_attending_share=_share(inside, lambda s: s.attention < ATTENTION_LOW),
                mean_attention=_mean([s.attention for s in inside]),
                mean_confusion=_mean([s.confusion for s in inside]),
            )
        )
    return out


def _class_timeline(
    samples: Sequence[SampleRow], start: float, end: float, bucket: float
) -> list[ClassPoint]:
    n = max(1, math.ceil((end - start) / bucket))
    groups: list[list[SampleRow]] = [[] for _ in range(n)]
    for s in samples:
        i = int((s.ts - start) // bucket)
        if 0 <= i < n:
            groups[i].append(s)
        elif i == n and s.ts <= end + bucket:
            groups[-1].append(s)
    return [
        ClassPoint(
            start=start + i * bucket,
            students=len({s.student_id for s in g}),
            samples=len(g),
            mean_attention=_mean([s.attention for s in g]),
            mean_confusion=_mean([s.confusion for s in g]),
            confused_share=_share(g, lambda s: s.state == State.CONFUSED.value),
        )
        for i, g in enumerate(groups)
    ]
