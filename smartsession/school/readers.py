"""Reads over the school server into the same rows as a hub's store (`smartsession.report.queries`).

So `smartsession.report.model.build_report` makes the same report from either tier: the
statements mirror the SQLite ones, session by (hub id, session id), text ordered by code
point (``COLLATE "C"``, as SQLite orders text) so rows come back in the same order.
"""

from __future__ import annotations

from typing import Any

from smartsession.report.queries import (
    CLASS_EVENT_COLUMNS,
    TS_MARGIN,
    ConnectionRow,
    EventRow,
    ReportError,
    SampleRow,
    SegmentRow,
    SessionData,
    SessionInfo,
    StudentRow,
    class_event_row,
)
from smartsession.school.connection import Connection

_SESSION_SQL = """
SELECT s.id, s.class_id, s.hub_id, s.started_at, s.ended_at,
       (SELECT count(*) FROM smartsession.students st WHERE st.hub_id = s.hub_id AND st.session_id = s.id),
       GREATEST(
           COALESCE((SELECT max(last_seen) FROM smartsession.students st
                     WHERE st.hub_id = s.hub_id AND st.session_id = s.id), 0),
           COALESCE((SELECT max(COALESCE(disconnected_at, connected_at)) FROM smartsession.connections c
                     WHERE c.hub_id = s.hub_id AND c.session_id = s.id), 0))
FROM smartsession.sessions s
"""
_ORDER = ' ORDER BY s.started_at, s.id COLLATE "C", s.hub_id COLLATE "C"'


def _session(row: tuple[Any, ...]) -> SessionInfo:
    sid, class_id, hub_id, started, ended, students, activity = row
    return SessionInfo(
        id=str(sid),
        class_id=str(class_id),
        hub_id=str(hub_id),
        started_at=float(started),
        ended_at=None if ended is None else float(ended),
        students=int(students),
        last_activity=float(activity or 0.0),
    )


def list_sessions(conn: Connection) -> list[SessionInfo]:
    """Every session on the school server (of every hub this role may read), oldest first."""
    return [_session(r) for r in conn.execute(_SESSION_SQL + _ORDER)]


def course_sessions(conn: Connection, course: str, since: float | None = None) -> list[SessionInfo]:
    """Sessions of ``course``: its ``[class] course`` key, or class ids starting with it; oldest first."""
    prefix = course.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    rows = conn.execute(
        _SESSION_SQL
        + " WHERE (s.course = %s OR s.class_id LIKE %s ESCAPE '!') AND s.started_at >= %s"
        + _ORDER,
        (course, prefix, since if since is not None else float("-inf")),
    )
    return [_session(r) for r in rows]


def find_session(conn: Connection, ref: str = "latest") -> SessionInfo:
    """The session ``ref`` names (``latest``, an id, ``HUB/ID`` or a unique id prefix); `ReportError` otherwise."""
    if ref == "latest":
        row = conn.execute(
            _SESSION_SQL + ' ORDER BY s.started_at DESC, s.id COLLATE "C" DESC LIMIT 1'
        ).fetchone()
        if row is None:
            raise ReportError("no sessions are on the school server yet")
        return _session(row)
    hub, _, sid = ref.rpartition("/")
    pattern = sid.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    rows = conn.execute(
        _SESSION_SQL
        + " WHERE (s.id = %s OR s.id LIKE %s ESCAPE '!') AND (%s = '' OR s.hub_id = %s)"
        + _ORDER,
        (sid, pattern, hub, hub),
    ).fetchall()
    exact = [r for r in rows if r[0] == sid]
    matches = exact or rows
    if not matches:
        raise ReportError(
            f"no session {ref!r} on the school server; list them with 'smartsession sessions --school URL'"
        )
    if len(matches) > 1:
        raise ReportError(f"{ref!r} matches {len(matches)} sessions; give more of the id, or HUB/ID")
    return _session(matches[0])


def read_session(conn: Connection, session: SessionInfo) -> SessionData:
    """Every row of ``session``, as `smartsession.report.queries.read_session` reads a hub's store."""
    key = (session.hub_id, session.id)
    span = (session.started_at - TS_MARGIN, session.end + TS_MARGIN)
    students = tuple(
        StudentRow(str(a), str(b), str(c), float(d), float(e))
        for a, b, c, d, e in conn.execute(
            "SELECT student_id, name, host, first_seen, last_seen FROM smartsession.students"
            ' WHERE hub_id = %s AND session_id = %s ORDER BY first_seen, student_id COLLATE "C"',
            key,
        )
    )
    samples = tuple(
        SampleRow.of(row)
        for row in conn.execute(
            "SELECT student_id, ts, state, attention, confusion, faces, alert, seat FROM smartsession.samples"
            " WHERE hub_id = %s AND session_id = %s AND ts BETWEEN %s AND %s"
            ' ORDER BY ts, student_id COLLATE "C", seq',
            (*key, *span),
        )
    )
    events = tuple(
        EventRow(str(a), float(b), str(c), str(d), None if e is None else str(e), str(f))
        for a, b, c, d, e, f in conn.execute(
            "SELECT student_id, ts, kind, state, reason, detail FROM smartsession.events"
            " WHERE hub_id = %s AND session_id = %s AND ts BETWEEN %s AND %s"
            ' ORDER BY ts, student_id COLLATE "C", seq',
            (*key, *span),
        )
    )
    connections = tuple(
        ConnectionRow(str(a), float(b), None if c is None else float(c))
        for a, b, c in conn.execute(
            "SELECT student_id, connected_at, disconnected_at FROM smartsession.connections"
            " WHERE hub_id = %s AND session_id = %s ORDER BY connected_at",
            key,
        )
    )
    segments = tuple(
        SegmentRow(float(a), str(b))
        for a, b in conn.execute(
            "SELECT started_at, label FROM smartsession.segments WHERE hub_id = %s AND session_id = %s"
            " ORDER BY started_at, id",
            key,
        )
    )
    class_events = tuple(
        class_event_row(row)
        for row in conn.execute(
            f"SELECT {CLASS_EVENT_COLUMNS} FROM smartsession.class_events WHERE hub_id = %s AND session_id = %s"
            ' ORDER BY started_at, kind COLLATE "C", number',
            key,
        )
    )
    return SessionData(session, students, samples, events, connections, segments, class_events)
