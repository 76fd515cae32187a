"""A session report as flat tables (CSV files, xlsx sheets): name -> (header, rows).

Times become local ``YYYY-MM-DD HH:MM:SS`` text; numbers are the report's own, already
rounded by the model (the JSON document has the same numbers, and times as epoch seconds).
Column names and state values are in the report's label mode (`Words.key`). Every text
cell goes through `sheet_cell`: a name such as ``=HYPERLINK(...)`` stays text in a
spreadsheet, and numbers stay numbers.
"""

from __future__ import annotations

from typing import Any

from smartsession.core.wording import words_for
from smartsession.report.format import clock, sheet_cell
from smartsession.report.items import SEAT_NOTE, STATES, SessionReport

#: One table: its header and its rows.
Table = tuple[list[str], list[list[Any]]]


def tables(report: SessionReport) -> dict[str, Table]:
    """``report`` as named tables, in the order the files and sheets are written (cells inert)."""
    words = words_for(report.labels)
    return {
        name: ([words.key(h) for h in header], [[sheet_cell(value) for value in row] for row in rows])
        for name, (header, rows) in _tables(report).items()
    }


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _tables(report: SessionReport) -> dict[str, Table]:
    session: list[list[Any]] = [
        ["session_id", report.session_id],
        ["class_id", report.class_id],
        ["hub_id", report.hub_id],
        ["started", clock(report.started_at)],
        ["ended", clock(report.ended_at) if report.ended_at is not None else "(not ended cleanly)"],
        ["duration_minutes", report.duration_minutes],
        ["sample_interval_seconds", report.interval],
        ["late_after_minutes", report.late_after_minutes],
        ["not_attending_means_attention_below", report.attention_low],
        ["attention_index_smoothing_seconds", report.attention_smoothing],
        ["labels", report.labels],
        *[[k, v] for k, v in report.counts.items()],
        ["hub_offline_seconds", report.hub_offline_seconds],
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
            _blank(s.late_minutes) if s.status == "late" else "",
            s.minutes_connected,
            s.minutes_face,
            *[s.minutes_by_state.get(st, 0.0) for st in STATES],
            sum(s.alerts_by_reason.values()),
            *[s.alerts_by_reason.get(r, 0) for r in reasons],
            _blank(s.mean_attention),
            _blank(s.mean_confusion),
            _blank(s.peak_confusion),
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
            g.minutes,
            g.students,
            g.samples,
            _blank(g.confused_share),
            _blank(g.not_attending_share),
            _blank(g.mean_attention),
            _blank(g.mean_confusion),
            g.class_alerts,
        ]
        for g in report.segments
    ]
    class_events = [
        [
            "class_alert",
            a.number,
            clock(a.start),
            clock(a.end),
            a.segment,
            a.confused,
            a.present,
            a.peak,
            "",
            " ".join(a.students),
        ]
        for a in report.class_alerts
    ] + [
        [
            "hub_offline",
            i,
            clock(g.start),
            clock(g.end),
            "",
            len(g.students),
            "",
            "",
            g.seconds,
            " ".join(g.students),
        ]
        for i, g in enumerate(report.hub_offline, start=1)
    ]
    timeline = [
        [
            clock(p.start),
            round((p.start - report.started_at) / 60.0, 2),
            p.students,
            p.samples,
            _blank(p.attention_index),
            _blank(p.mean_attention),
            _blank(p.mean_confusion),
            _blank(p.confused_share),
        ]
        for p in report.timeline
    ]
    seat_rows = [
        [
            s.student_id,
            s.name,
            "yes" if s.seat.enrolled else "no",
            s.seat.checks,
            s.seat.matches,
            s.seat.mismatches,
            " ".join(clock(t) for t in s.seat.mismatch_times),
            SEAT_NOTE,
        ]
        for s in report.seat_checked
        if s.seat is not None
    ]
    seat = (
        {
            "seat_checks": (
                [
                    "student_id",
                    "name",
                    "enrolled",
                    "checks",
                    "checks_passed",
                    "mismatches",
                    "mismatch_times",
                    "note",
                ],
                seat_rows,
            )
        }
        if seat_rows
        else {}
    )
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
                "class_alerts",
            ],
            segments,
        ),
        "class_events": (
            [
                "kind",
                "number",
                "start",
                "end",
                "segment",
                "students",
                "present",
                "peak",
                "seconds",
                "student_ids",
            ],
            class_events,
        ),
        "class_timeline": (
            [
                "start",
                "minute_of_session",
                "students",
                "samples",
                "attention_index",
                "mean_attention",
                "mean_confusion",
                "confused_share",
            ],
            timeline,
        ),
        **seat,  # only where some machine ran the seat check
    }
