"""Load a session from the store, build its report and write it: the one entry point.

Blocking (SQLite, files): call it from a worker thread when on an event loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

from smartsession.core.states import AlertReason
from smartsession.core.text import escape
from smartsession.report.model import SessionReport, build_report
from smartsession.report.queries import find_session, open_database, read_session
from smartsession.report.writers import FORMATS, write


def load_report(
    db: Path,
    ref: str = "latest",
    *,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
) -> SessionReport:
    """The report of session ``ref`` (``latest``, an id or a unique prefix) in the store at ``db``."""
    conn = open_database(db)
    with contextlib.closing(conn):
        session = find_session(conn, ref)
        data = read_session(conn, session)
    return build_report(data, roster=roster, late_after_minutes=late_after_minutes)


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
) -> tuple[Path, SessionReport]:
    """Write the report of ``ref`` as ``fmt`` to ``out`` (or `default_file_name` in ``folder``)."""
    report = load_report(db, ref, roster=roster, late_after_minutes=late_after_minutes)
    path = out if out is not None else (folder or Path.cwd()) / default_file_name(report, fmt)
    return write(report, fmt, path), report


def summary_text(report: SessionReport) -> str:
    """A plain-text summary of the session (the email body); control characters escaped."""
    lines = [
        f"Class {report.class_id}, session {report.session_id}",
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(report.started_at))}, "
        f"{report.duration_minutes:.0f} min",
        "",
    ]
    present = [s for s in report.students if s.status != "absent"]
    lines.append(f"Present: {len(present)}")
    late = [s for s in report.students if s.status == "late"]
    if late:
        lines.append("Late: " + ", ".join(f"{s.name} ({s.late_minutes or 0:.0f} min)" for s in late))
    absent = [s for s in report.students if s.status == "absent"]
    if absent:
        lines.append("Absent: " + ", ".join(s.name for s in absent))
    reasons: dict[str, int] = {}
    for a in report.alerts:
        reasons[a.reason] = reasons.get(a.reason, 0) + 1
    if reasons:
        parts = []
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            with contextlib.suppress(ValueError):
                reason = AlertReason(reason).label
            parts.append(f"{reason} x{count}")
        lines.append("Alerts: " + ", ".join(parts))
    for g in report.segments:
        if g.confused_share is not None:
            lines.append(
                f"Segment {g.index} '{g.label}': {100 * g.confused_share:.0f}% of the class confused, "
                f"{100 * (g.not_attending_share or 0):.0f}% not attending"
            )
    lines += ["", report.meaning, "", "The full report is attached (HTML; open it in a browser)."]
    return "\n".join(escape(line) for line in lines) + "\n"  # a stored name cannot break a line
