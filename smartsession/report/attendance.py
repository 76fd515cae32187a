"""Per student: attendance (joined, left, late, minutes connected) and what the samples say.

Part of `smartsession.report.model`; every number is rounded here once (`rounding`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import msgspec

from smartsession.core.classwide import is_late, late_minutes
from smartsession.core.protocol import SeatStatus
from smartsession.core.snapshots import SeatSummary
from smartsession.core.states import State
from smartsession.core.wording import Words
from smartsession.report import rounding
from smartsession.report.items import (
    HUB_OFFLINE,
    STATES,
    AlertItem,
    OfflineItem,
    Run,
    SeatItem,
    StudentReport,
)
from smartsession.report.queries import ConnectionRow, EventRow, SampleRow, SessionData

#: A gap longer than this many intervals between samples breaks a timeline run.
GAP_INTERVALS = 3.0


def student_reports(
    data: SessionData,
    roster: Mapping[str, str],
    names: Mapping[str, str],
    interval: float,
    late_after_minutes: float,
    gaps: Sequence[OfflineItem],
    words: Words,
) -> tuple[tuple[StudentReport, ...], tuple[AlertItem, ...]]:
    """Every student seen (in join order), then the roster's students never seen; and the alerts
    (their details, which come from students' machines, in ``words``)."""
    session = data.session
    start, end = session.started_at, session.end
    by_student: dict[str, list[SampleRow]] = defaultdict(list)
    for sample in data.samples:
        by_student[sample.student_id].append(sample)
    alerts = _alerts(data.events, names, words)
    conns: dict[str, list[ConnectionRow]] = defaultdict(list)
    for c in data.connections:
        conns[c.student_id].append(c)
    first_seen = {s.student_id: s.first_seen for s in data.students}
    last_seen = {s.student_id: s.last_seen for s in data.students}
    ids = [s.student_id for s in data.students]
    ids += [sid for sid in by_student if sid not in set(ids)]
    out: list[StudentReport] = []
    for sid in ids:
        samples = by_student.get(sid, [])
        joined_candidates = [first_seen[sid]] if sid in first_seen else []
        joined_candidates += [c.connected_at for c in conns.get(sid, [])]
        joined_candidates += [samples[0].ts] if samples else []
        joined = min(joined_candidates) if joined_candidates else None
        left_candidates = [last_seen[sid]] if sid in last_seen else []
        left_candidates += [c.disconnected_at or end for c in conns.get(sid, [])]
        left = min(end, max(left_candidates)) if left_candidates else None
        late = joined is not None and is_late(joined, start, late_after_minutes)
        by_state = Counter(s.state for s in samples)
        confusion = [s.confusion for s in samples]
        offline = [g for g in gaps if sid in g.students]
        out.append(
            StudentReport(
                student_id=sid,
                name=names.get(sid, sid),
                status="late" if late else "present",
                expected=sid in roster,
                joined=joined,
                left=left,
                late_minutes=rounding.minutes(late_minutes(joined, start)) if joined is not None else None,
                minutes_connected=rounding.minutes_of(_connected_seconds(conns.get(sid, []), start, end)),
                minutes_face=rounding.minutes_of(sum(1 for s in samples if s.faces >= 1) * interval),
                minutes_by_state={st: rounding.minutes_of(by_state.get(st, 0) * interval) for st in STATES},
                alerts_by_reason=dict(
                    sorted(Counter(a.reason for a in alerts if a.student_id == sid).items())
                ),
                mean_attention=rounding.mean([s.attention for s in samples]),
                mean_confusion=rounding.mean(confusion),
                peak_confusion=rounding.score(max(confusion)) if confusion else None,
                samples=len(samples),
                timeline=_runs(samples, interval, offline),
                seat=_seat(samples),
            )
        )
    seen = set(ids)
    out += [_absent(sid, name) for sid, name in roster.items() if sid not in seen]
    return tuple(out), tuple(alerts)


def _absent(student_id: str, name: str) -> StudentReport:
    return StudentReport(
        student_id=student_id,
        name=name or student_id,
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


_seat_decoder = msgspec.json.Decoder(SeatStatus)


def _seat(samples: Sequence[SampleRow]) -> SeatItem | None:
    """The seat checks in a student's samples (None when none carried one), counted as the
    class view counts them (`SeatSummary`: "not enrolled" checks compare nothing)."""
    summary: SeatSummary | None = None
    for sample in samples:
        if sample.seat is None:
            continue
        seat = _seat_decoder.decode(sample.seat)
        summary = SeatSummary.first(seat, sample.ts) if summary is None else summary.add(seat, sample.ts)
    if summary is None:
        return None
    return SeatItem(
        enrolled=summary.enrolled,
        checks=summary.checks,
        matches=summary.matches,
        mismatches=summary.mismatches,
        mismatch_times=tuple(ts for ts, _ in summary.mismatch_times),
        latest=summary.result.value,
    )


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


def _alerts(events: Sequence[EventRow], names: Mapping[str, str], words: Words) -> list[AlertItem]:
    out: list[AlertItem] = []
    open_: dict[str, int] = {}
    for e in events:
        if e.kind == "alert":
            open_[e.student_id] = len(out)
            detail = words.reason(e.detail) or ""
            out.append(
                AlertItem(
                    e.student_id, names.get(e.student_id, e.student_id), e.ts, e.reason or "", detail, None
                )
            )
        elif e.kind == "alert_cleared" and e.student_id in open_:
            i = open_.pop(e.student_id)
            a = out[i]
            out[i] = AlertItem(a.student_id, a.name, a.ts, a.reason, a.detail, e.ts)
    return out


def _runs(samples: Sequence[SampleRow], interval: float, offline: Sequence[OfflineItem]) -> tuple[Run, ...]:
    """The student's states as runs of samples, and a `HUB_OFFLINE` run for each time the hub
    was down while the student was connected."""
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
    runs += [Run(g.start, g.end, HUB_OFFLINE, None) for g in offline]
    return tuple(sorted(runs, key=lambda run: run.start))
