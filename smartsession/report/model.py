"""The report of one session, computed from its stored rows (pure: no I/O, no clock).

Call `build_report` with the rows from `queries.read_session`; it returns a
`smartsession.report.items.SessionReport`, which writers turn into files
(`smartsession.report.tables` flattens it for CSV and xlsx). The model is the one
truth of every format: it counts, times and rounds once (`smartsession.report.rounding`), and each writer only
prints its numbers (HTML, CSV, JSON, xlsx and the e-mail agree field by field).

Definitions (also stated in every report):

- *interval*: seconds one sample stands for, the median spacing of a student's samples.
- *minutes in a state*: samples in that state x interval.
- *minutes with a face*: samples with at least one face on screen x interval.
- *minutes connected*: the union of the student's connections, clipped to the session.
- *present*: joined the session, on time or late; *late*: first seen more than
  ``late_after_minutes`` after the session started (`smartsession.core.classwide.is_late`);
  *absent*: on the roster and never seen.
- *not attending*: a sample with attention below `smartsession.report.items.ATTENTION_LOW`.
- *class attention index*: `smartsession.core.classwide.AttentionIndex` over the stored
  samples, as the class view's header shows it live.

Rounding (`smartsession.report.rounding`): minutes to 0.1, scores and shares to 0.01;
times stay epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from smartsession.core.classwide import ClassSettings
from smartsession.core.wording import words_for
from smartsession.report.attendance import student_reports
from smartsession.report.classline import class_alerts, class_timeline, hub_offline, segment_reports
from smartsession.report.items import ATTENTION_LOW, SessionReport
from smartsession.report.queries import SessionData
from smartsession.report.rounding import minutes_of, sample_interval


def build_report(
    data: SessionData,
    *,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> SessionReport:
    """Compute the report of ``data``; ``roster`` (id -> name) adds expected students.

    ``settings`` are the class-wide measures' (``late_after_minutes`` wins over theirs);
    ``label_mode`` words the report ("cues": `smartsession.core.wording`).
    """
    roster = dict(roster or {})
    settings = settings or ClassSettings()
    words = words_for(label_mode)
    session = data.session
    start, end = session.started_at, session.end
    interval = sample_interval(data.samples)
    names = {s.student_id: s.name for s in data.students}
    names.update({k: v for k, v in roster.items() if v})
    gaps = hub_offline(data.class_events, names, end)
    students, alerts = student_reports(data, roster, names, interval, late_after_minutes, gaps, words)
    segments = segment_reports(data, start, end, ATTENTION_LOW)
    spikes = class_alerts(data.class_events, segments, names, end)
    segments = tuple(
        replace(segment, class_alerts=sum(1 for spike in spikes if spike.segment == segment.index))
        for segment in segments
    )
    bucket, timeline = class_timeline(data, start, end, settings.attention_smoothing)
    counts = {
        "students_present": sum(1 for s in students if s.status != "absent"),
        "students_late": sum(1 for s in students if s.status == "late"),
        "students_absent": sum(1 for s in students if s.status == "absent"),
        "alerts": len(alerts),
        "class_alerts": len(spikes),
        "samples": len(data.samples),
    }
    return SessionReport(
        session_id=session.id,
        class_id=session.class_id,
        hub_id=session.hub_id,
        started_at=start,
        ended_at=session.ended_at,
        end=end,
        duration_minutes=minutes_of(end - start),
        interval=interval,
        bucket_seconds=bucket,
        late_after_minutes=late_after_minutes,
        attention_low=ATTENTION_LOW,
        attention_smoothing=settings.attention_smoothing,
        students=students,
        alerts=alerts,
        segments=segments,
        timeline=timeline,
        class_alerts=spikes,
        hub_offline=gaps,
        hub_offline_seconds=sum(gap.seconds for gap in gaps),
        labels=words.mode,
        meaning=words.meaning,
        counts=counts,
    )
