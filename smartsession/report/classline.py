"""The class as a whole in a report: segments, the class over time (with the attention index),
class alerts (confusion spikes) and the times the hub was down.

Part of `smartsession.report.model`. The attention index replays the stored samples and the
ends of connections through `smartsession.core.classwide`, as the hub's roster does live.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from smartsession.core.classwide import AttentionIndex, ClassTally
from smartsession.core.states import State
from smartsession.report import rounding
from smartsession.report.items import ClassAlertItem, ClassPoint, OfflineItem, SegmentReport
from smartsession.report.queries import ClassEventRow, SampleRow, SessionData


def bucket_seconds(duration: float) -> float:
    """Bucket of the class timeline: about 60 points a session, at most one a minute."""
    for nice in (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0):
        if duration / nice <= 90.0:
            return nice
    return 60.0


def _share(samples: Sequence[SampleRow], test: Callable[[SampleRow], bool]) -> float | None:
    return rounding.score(sum(1 for s in samples if test(s)) / len(samples)) if samples else None


def _confused(sample: SampleRow) -> bool:
    return sample.state == State.CONFUSED.value


def segment_reports(
    data: SessionData, start: float, end: float, attention_low: float
) -> tuple[SegmentReport, ...]:
    """The teacher's segments over the session (or one "whole session" segment)."""
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
        confused = sum(1 for s in inside if _confused(s))
        low = sum(1 for s in inside if s.attention < attention_low)
        out.append(
            SegmentReport(
                index=i + 1,
                label=label,
                start=a,
                end=b,
                minutes=rounding.minutes_of(b - a),
                students=len({s.student_id for s in inside}),
                samples=len(inside),
                confused=confused,
                not_attending=low,
                confused_share=rounding.score(confused / len(inside)) if inside else None,
                not_attending_share=rounding.score(low / len(inside)) if inside else None,
                mean_attention=rounding.mean([s.attention for s in inside]),
                mean_confusion=rounding.mean([s.confusion for s in inside]),
            )
        )
    return tuple(out)


def _segment_at(segments: Sequence[SegmentReport], ts: float) -> int:
    for segment in reversed(segments):
        if segment.start <= ts:
            return segment.index
    return segments[0].index if segments else 1


def class_alerts(
    events: Sequence[ClassEventRow], segments: Sequence[SegmentReport], names: Mapping[str, str], end: float
) -> tuple[ClassAlertItem, ...]:
    """The stored confusion spikes, each in the report's segment it was raised in."""
    return tuple(
        ClassAlertItem(
            number=e.number,
            start=e.started_at,
            end=min(end, e.ended_at) if e.ended_at is not None else end,
            onset=e.onset,
            segment=_segment_at(segments, e.started_at),
            confused=len(e.students),
            present=e.present,
            peak=e.peak,
            students=e.students,
            names=tuple(names.get(sid, sid) for sid in e.students),
        )
        for e in events
        if e.kind == "spike"
    )


def hub_offline(
    events: Sequence[ClassEventRow], names: Mapping[str, str], end: float
) -> tuple[OfflineItem, ...]:
    """The times the hub was down (before a resume)."""
    gaps = []
    for e in events:
        if e.kind != "hub_offline":
            continue
        stop = min(end, e.ended_at if e.ended_at is not None else e.started_at)
        gaps.append(
            OfflineItem(
                start=e.started_at,
                end=stop,
                seconds=rounding.seconds(max(0.0, stop - e.started_at)),
                students=e.students,
                names=tuple(names.get(sid, sid) for sid in e.students),
            )
        )
    return tuple(gaps)


def attention_index(data: SessionData, moments: Sequence[float], smoothing: float) -> list[float | None]:
    """The class attention index at each of ``moments`` (ascending), replaying the samples and
    the ends of connections in time order (see `smartsession.core.classwide`)."""
    changes: list[tuple[float, int, str, SampleRow | None]] = [
        (s.ts, 0, s.student_id, s) for s in data.samples
    ]
    changes += [(c.disconnected_at, 1, c.student_id, None) for c in data.connections if c.disconnected_at]
    changes.sort(key=lambda change: (change[0], change[1]))
    tally, index = ClassTally(), AttentionIndex(smoothing)
    out: list[float | None] = []
    i = 0
    for moment in moments:
        while i < len(changes) and changes[i][0] <= moment:
            ts, _, student_id, sample = changes[i]
            if sample is None:
                tally.drop(student_id)
            else:
                tally.set(student_id, State(sample.state), sample.attention)
            index.update(ts, tally.mean_attention)
            i += 1
        out.append(rounding.score(index.value(moment)))
    return out


def class_timeline(
    data: SessionData, start: float, end: float, smoothing: float
) -> tuple[float, tuple[ClassPoint, ...]]:
    """The bucket (seconds) and the class over time, one point per bucket."""
    bucket = bucket_seconds(end - start)
    n = max(1, math.ceil((end - start) / bucket))
    groups: list[list[SampleRow]] = [[] for _ in range(n)]
    for s in data.samples:
        i = int((s.ts - start) // bucket)
        if 0 <= i < n:
            groups[i].append(s)
        elif i == n and s.ts <= end + bucket:
            groups[-1].append(s)
    index = attention_index(data, [min(end, start + (i + 1) * bucket) for i in range(n)], smoothing)
    points = tuple(
        ClassPoint(
            start=start + i * bucket,
            students=len({s.student_id for s in g}),
            samples=len(g),
            mean_attention=rounding.mean([s.attention for s in g]),
            mean_confusion=rounding.mean([s.confusion for s in g]),
            confused_share=_share(g, _confused),
            attention_index=index[i],
        )
        for i, g in enumerate(groups)
    )
    return bucket, points
