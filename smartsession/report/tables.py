"""A session report as flat tables (CSV files, xlsx sheets): name -> (header, rows).

Times become local ``YYYY-MM-DD HH:MM:SS`` text and numbers are rounded for people; the
JSON document keeps the raw values instead. Every text cell goes through `sheet_cell`: a
name such as ``=HYPERLINK(...)`` stays text in a spreadsheet, and numbers stay numbers.
"""

from __future__ import annotations

from typing import Any

from smartsession.report.format import clock, num, sheet_cell
from smartsession.report.model import STATES, SessionReport

#: One table: its header and its rows.
Table = tuple[list[str], list[list[Any]]]


def tables(report: SessionReport) -> dict[str, Table]:
    """``report`` as named tables, in the order the files and sheets are written (cells inert)."""
    return {
        name: (header, [[sheet_cell(value) for value in row] for row in rows])
        for name, (header, rows) in _tables(report).items()
    }


def _tables(report: SessionReport) -> dict[str, Table]:
    session: list[list[Any]] = [
        ["session_id", report.session_id],
        ["class_id", report.class_id],
        ["hub_id", report.hub_id],
        ["started", clock(report.started_at)],
        ["ended", clock(report.ended_at) if report.ended_at is not None else "(not ended cleanly)"],
        ["duration_minutes", num(report.duration_minutes)],
        ["sample_interval_seconds", num(report.interval)],
        ["late_after_minutes", num(report.late_after_minutes)],
        ["not_attending_means_attention_below", num(report.attention_low)],
        *[[k, v] for k, v in report.counts.items()],
        ["meaning", report.meaning],
    ]
    state_cols = [f"minutes_{s}" for s in STATES]
    reasons = sorted({r for s in report.students for r in s.alerts_by_reason})
    students_header = [
        "student_id",
        "name",
        "status",
        "expected",
        "joined",
        "left",
        "late_by_minutes",
        "minutes_connected",
        "minutes_face_on_screen",
        *state_cols,
        "alerts",
        *[f"alerts_{r}" for r in reasons],
        "mean_attention",
        "mean_confusion",
        "peak_confusion",
        "samples",
    ]
    students = [
        [
            s.student_id,
            s.name,
            s.status,
            "yes" if s.expected else "no",
            clock(s.joined),
            clock(s.left),
            num(s.late_minutes) if s.status == "late" else "",
            num(s.minutes_connected),
            num(s.minutes_face),
            *[num(s.minutes_by_state.get(st, 0.0)) for st in STATES],
            sum(s.alerts_by_reason.values()),
            *[s.alerts_by_reason.get(r, 0) for r in reasons],
            num(s.mean_attention),
            num(s.mean_confusion),
            num(s.peak_confusion),
            s.samples,
        ]
        for s in report.students
    ]
    alerts = [
        [a.student_id, a.name, clock(a.ts), a.reason, a.detail, clock(a.cleared_at)] for a in report.alerts
    ]
    segments = [
        [
            g.index,
            g.label,
            clock(g.start),
            clock(g.end),
            num((g.end - g.start) / 60.0),
            g.students,
            g.samples,
            num(g.confused_share),
            num(g.not_attending_share),
            num(g.mean_attention),
            num(g.mean_confusion),
        ]
        for g in report.segments
    ]
    timeline = [
        [
            clock(p.start),
            num((p.start - report.started_at) / 60.0),
            p.students,
            p.samples,
            num(p.mean_attention),
            num(p.mean_confusion),
            num(p.confused_share),
        ]
        for p in report.timeline
    ]
    return {
        "session": (["key", "value"], session),
        "students": (students_header, students),
        "alerts": (["student_id", "name", "time", "reason", "detail", "cleared"], alerts),
        "segments": (
            [
                "segment",
                "label",
                "start",
                "end",
                "minutes",
                "students",
                "samples",
                "confused_share",
                "not_attending_share",
                "mean_attention",
                "mean_confusion",
            ],
            segments,
        ),
        "class_timeline": (
            [
                "start",
                "minute_of_session",
                "students",
                "samples",
                "mean_attention",
                "mean_confusion",
                "confused_share",
            ],
            timeline,
        ),
    }
