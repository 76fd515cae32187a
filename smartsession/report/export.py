"""Load a session from the store, build its report and write it: the one entry point.

Blocking (SQLite, files): call it from a worker thread when on an event loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

from smartsession.core.classwide import ClassSettings
from smartsession.core.text import escape
from smartsession.core.wording import words_for
from smartsession.report.format import minutes, percent, seconds
from smartsession.report.items import SessionReport
from smartsession.report.model import build_report
from smartsession.report.queries import find_session, open_database, read_session
from smartsession.report.svg import reason_label
from smartsession.report.writers import FORMATS, write


def load_report(
    db: Path,
    ref: str = "latest",
    *,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> SessionReport:
    """The report of session ``ref`` (``latest``, an id or a unique prefix) in the store at ``db``."""
    conn = open_database(db)
    with contextlib.closing(conn):
        session = find_session(conn, ref)
        data = read_session(conn, session)
    return build_report(
        data, roster=roster, late_after_minutes=late_after_minutes, settings=settings, label_mode=label_mode
    )


def default_file_name(report: SessionReport, fmt: str) -> str:
    """``report-<class>-<YYYYmmdd-HHMM>.<ext>``, e.g. ``report-cs101-20240501-0900.html``."""
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(report.started_at))
    return f"report-{report.class_id}-{stamp}-{report.session_id[-8:]}{FORMATS[fmt]}"


def export_report(
    db: Path,
    ref: str,
    fmt: str,
    *,
    out: Path | None = None,
    folder: Path | None = None,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> tuple[Path, SessionReport]:
    """Write the report of ``ref`` as ``fmt`` to ``out`` (or `default_file_name` in ``folder``)."""
    report = load_report(
        db,
        ref,
        roster=roster,
        late_after_minutes=late_after_minutes,
        settings=settings,
        label_mode=label_mode,
    )
    path = out if out is not None else (folder or Path.cwd()) / default_file_name(report, fmt)
    return write(report, fmt, path), report


def summary_text(report: SessionReport) -> str:
    """A plain-text summary of the session (the email body); control characters escaped.

    The same numbers as every other format, printed with the same digits.
    """
    words = words_for(report.labels)
    counts = report.counts
    lines = [
        f"Class {report.class_id}, session {report.session_id}",
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(report.started_at))}, "
        f"{minutes(report.duration_minutes)}",
        "",
        f"Present: {counts.get('students_present', 0)} (late {counts.get('students_late', 0)}), "
        f"absent: {counts.get('students_absent', 0)}",
    ]
    if report.late:
        lines.append("Late: " + ", ".join(f"{s.name} ({minutes(s.late_minutes)})" for s in report.late))
    if report.absent:
        lines.append("Absent: " + ", ".join(s.name for s in report.absent))
    reasons: dict[str, int] = {}
    for a in report.alerts:
        reasons[a.reason] = reasons.get(a.reason, 0) + 1
    if reasons:
        parts = [f"{reason_label(r)} x{n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
        lines.append("Alerts: " + ", ".join(parts))
    for spike in report.class_alerts:
        lines.append(
            f"Class alert {time.strftime('%H:%M:%S', time.localtime(spike.start))}: {spike.confused} of "
            f"{spike.present} {words.confused} (segment {spike.segment})"
        )
    for gap in report.hub_offline:
        lines.append(
            f"Hub offline {time.strftime('%H:%M:%S', time.localtime(gap.start))}-"
            f"{time.strftime('%H:%M:%S', time.localtime(gap.end))} ({seconds(gap.seconds)})"
        )
    seat = report.seat_checked
    if seat:
        machines = f"{len(seat)} machine" + ("s" if len(seat) != 1 else "")
        lines.append(f"Seat checks ({machines}; a check for a human to review, not an identification):")
        for s in seat:
            if s.seat is None:
                continue
            if not s.seat.enrolled:
                lines.append(f"  {s.name}: not enrolled")
                continue
            at = ", ".join(time.strftime("%H:%M:%S", time.localtime(t)) for t in s.seat.mismatch_times)
            lines.append(
                f"  {s.name}: {s.seat.matches} of {s.seat.checks} checks passed"
                + (f", {s.seat.mismatches} mismatches at {at}" if s.seat.mismatches else "")
            )
    for g in report.segments:
        if g.confused_share is not None:
            lines.append(
                f"Segment {g.index} '{g.label}': {percent(g.confused_share)} of the class {words.state('confused')}, "
                f"{percent(g.not_attending_share)} not attending"
            )
    lines += ["", report.meaning, "", "The full report is attached (HTML; open it in a browser)."]
    return "\n".join(escape(line) for line in lines) + "\n"  # a stored name cannot break a line
