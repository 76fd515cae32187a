"""The course view as text (the terminal), JSON (one document) or HTML (one self-contained page)."""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

from smartsession.core.wording import words_for
from smartsession.report.format import clock
from smartsession.report.writers import relabel
from smartsession.school.course import CourseReport

#: The formats `write_course` knows, with their file suffix.
COURSE_FORMATS: dict[str, str] = {"html": ".html", "json": ".json"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _tables(report: CourseReport) -> tuple[list[list[str]], list[list[str]]]:
    words = words_for(report.label_mode)
    sessions = [
        [
            "section",
            "session",
            "start",
            "minutes",
            "present",
            "late",
            "absent",
            "attention",
            words.state("confused"),
            "alerts",
            "class alerts",
        ]
    ]
    for s in report.sessions:
        sessions.append(
            [
                s.class_id,
                s.session_id,
                clock(s.started_at),
                f"{s.duration_minutes:.0f}",
                str(s.present),
                str(s.late),
                str(s.absent),
                _pct(s.mean_attention),
                _pct(s.confused_share),
                str(s.alerts),
                str(s.class_alerts),
            ]
        )
    labels = [["segment", *report.sections]]
    for row in report.labels:
        cells = []
        for section in report.sections:
            cell = row.cells.get(section)
            if cell is None:
                cells.append("")
            else:
                many = f" ({cell.sessions} sessions)" if cell.sessions > 1 else ""
                spikes = f", {cell.class_alerts} class alerts" if cell.class_alerts else ""
                cells.append(f"{_pct(cell.confused_share)} {words.state('confused')}{many}{spikes}")
        labels.append([row.label, *cells])
    return sessions, labels


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def course_text(report: CourseReport) -> str:
    """The course view for a terminal: the sessions, then each segment label across the sections."""
    words = words_for(report.label_mode)
    sections = ", ".join(report.sections) or "none"
    head = f"Course {report.course}: {len(report.sessions)} sessions in {len(report.sections)} sections ({sections})"
    if not report.sessions:
        return head + "\n"
    sessions, labels = _tables(report)
    parts = [head, "", _aligned(sessions)]
    if len(labels) > 1:
        confused = words.state("confused")
        parts += ["", f"Share of the section's samples '{confused}', per lecture segment:", _aligned(labels)]
    return "\n".join(parts) + "\n"


def course_json(report: CourseReport) -> str:
    """The whole course view as one JSON document (times in epoch seconds, shares 0..1)."""
    document = relabel(dataclasses.asdict(report), words_for(report.label_mode))
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)


def course_html(report: CourseReport) -> str:
    """One self-contained page (no scripts, no network): the two tables and what the numbers mean."""
    sessions, labels = _tables(report)
    confused = html.escape(words_for(report.label_mode).state("confused"))

    def table(rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    title = html.escape(f"Course {report.course}")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #999;padding:.3em .6em;"
        "text-align:left}th{background:#eee}</style></head><body>"
        f"<h1>{title}</h1><p>{len(report.sessions)} sessions in sections "
        f"{html.escape(', '.join(report.sections))}.</p><h2>Sessions</h2>{table(sessions)}"
        f"<h2>Lecture segments across sections</h2><p>Share of each section's samples '{confused}' within "
        f"segments of that label.</p>{table(labels)}<p><em>{html.escape(report.meaning)}</em></p>"
        "</body></html>\n"
    )


def write_course(report: CourseReport, fmt: str, path: Path) -> Path:
    """Write ``report`` as ``fmt`` (a key of `COURSE_FORMATS`) to ``path`` atomically; returns ``path``."""
    text = course_html(report) if fmt == "html" else course_json(report) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
