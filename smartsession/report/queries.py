"""Reads over the hub's store (see `smartsession.hub.schema` for the schema) into plain rows.

Works on any `sqlite3.Connection`; the ``segments`` (schema version 2) and ``class_events``
(version 5) tables are optional.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartsession.errors import SmartSessionError
from smartsession.files import private_database
from smartsession.hub.schema import read_segments


class ReportError(SmartSessionError):
    """A report cannot be made: no database, no such session, unwritable output."""

    exit_code = 1


@dataclass(frozen=True)
class SessionInfo:
    """One stored session; ``last_activity`` is the latest time anything was stored."""

    id: str
    class_id: str
    hub_id: str
    started_at: float
    ended_at: float | None
    students: int
    last_activity: float

    @property
    def end(self) -> float:
        """When the session ended, or its last activity when it never ended cleanly."""
        return self.ended_at if self.ended_at is not None else max(self.started_at, self.last_activity)

    @property
    def duration(self) -> float:
        """Seconds from start to `end`."""
        return max(0.0, self.end - self.started_at)


@dataclass(frozen=True)
class StudentRow:
    student_id: str
    name: str
    host: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class SampleRow:
    student_id: str
    ts: float
    state: str
    attention: float
    confusion: float
    faces: int
    alert: str | None
    #: The sample's seat checks as stored (`Sample.seat` JSON), None without.
    seat: str | None = None

    @classmethod
    def of(cls, row: Sequence[Any]) -> SampleRow:
        """From a row of (student_id, ts, state, attention, confusion, faces, alert, seat)."""
        sid, ts, state, attention, confusion, faces, alert, seat = row
        return cls(
            str(sid),
            float(ts),
            str(state),
            float(attention),
            float(confusion),
            int(faces),
            None if alert is None else str(alert),
            None if seat is None else str(seat),
        )


@dataclass(frozen=True)
class EventRow:
    student_id: str
    ts: float
    kind: str
    state: str
    reason: str | None
    detail: str


@dataclass(frozen=True)
class ConnectionRow:
    student_id: str
    connected_at: float
    disconnected_at: float | None


@dataclass(frozen=True)
class SegmentRow:
    started_at: float
    label: str


@dataclass(frozen=True)
class ClassEventRow:
    """A class event (`smartsession.hub.class_events`): a confusion spike, or the hub offline."""

    kind: str
    number: int
    started_at: float
    ended_at: float | None
    onset: float
    present: int
    peak: int
    segment: int | None
    students: tuple[str, ...]


#: The columns of ``class_events`` as `class_event_row` reads them (both tiers).
CLASS_EVENT_COLUMNS = "kind, number, started_at, ended_at, onset, present, peak, segment, students"


def class_event_row(row: tuple[object, ...]) -> ClassEventRow:
    """One row of `CLASS_EVENT_COLUMNS`."""
    kind, number, started, ended, onset, present, peak, segment, students = row
    return ClassEventRow(
        kind=str(kind),
        number=int(number),  # type: ignore[call-overload]
        started_at=float(started),  # type: ignore[arg-type]
        ended_at=None if ended is None else float(ended),  # type: ignore[arg-type]
        onset=float(onset),  # type: ignore[arg-type]
        present=int(present),  # type: ignore[call-overload]
        peak=int(peak),  # type: ignore[call-overload]
        segment=None if segment is None else int(segment),  # type: ignore[call-overload]
        students=tuple(str(students).split()),
    )


@dataclass(frozen=True)
class SessionData:
    """Every stored row of one session."""

    session: SessionInfo
    students: tuple[StudentRow, ...]
    samples: tuple[SampleRow, ...]
    events: tuple[EventRow, ...]
    connections: tuple[ConnectionRow, ...]
    segments: tuple[SegmentRow, ...]
    class_events: tuple[ClassEventRow, ...] = ()


def open_database(path: Path) -> sqlite3.Connection:
    """Open an existing store for reading and deleting (no schema changes); `ReportError` if absent."""
    if not path.is_file():
        raise ReportError(f"no database at {path}; pass --db PATH or -c CONFIG")
    try:
        private_database(path)  # an older hub's file readable by others is made owner-only
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not has_table(conn, "sessions"):
            conn.close()
            raise ReportError(f"{path} is not a SmartSession database (no sessions table)")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has a table of this name."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (a database from before a migration may lack it)."""
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


_SESSION_SQL = """
SELECT s.id, s.class_id, s.hub_id, s.started_at, s.ended_at,
       (SELECT COUNT(*) FROM students st WHERE st.session_id = s.id),
       MAX(COALESCE((SELECT MAX(last_seen) FROM students st WHERE st.session_id = s.id), 0),
           COALESCE((SELECT MAX(COALESCE(disconnected_at, connected_at)) FROM connections c
                     WHERE c.session_id = s.id), 0))
FROM sessions s
"""
#: How far (seconds) an item's own timestamp may lie outside its session's span and still be
#: read. The span comes from the hub's clock only (start, end, last contact), never from
#: timestamps agents sent: a hub refuses items off its clock by more than hub.max_clock_skew
#: (at most a day), and rows outside this margin (from an older hub) are left out, so no
#: timestamp can stretch a report.
TS_MARGIN = 86400.0


def _session(row: tuple[object, ...]) -> SessionInfo:
    sid, class_id, hub_id, started, ended, students, activity = row
    return SessionInfo(
        id=str(sid),
        class_id=str(class_id),
        hub_id=str(hub_id),
        started_at=float(started),  # type: ignore[arg-type]
        ended_at=None if ended is None else float(ended),  # type: ignore[arg-type]
        students=int(students),  # type: ignore[call-overload]
        last_activity=float(activity or 0.0),  # type: ignore[arg-type]
    )


def list_sessions(conn: sqlite3.Connection) -> list[SessionInfo]:
    """Every stored session, oldest first."""
    return [_session(r) for r in conn.execute(_SESSION_SQL + " ORDER BY s.started_at, s.id")]


def find_session(conn: sqlite3.Connection, ref: str = "latest") -> SessionInfo:
    """The session ``ref`` names: ``latest``, an id, or a unique id prefix; `ReportError` otherwise."""
    if ref == "latest":
        row = conn.execute(_SESSION_SQL + " ORDER BY s.started_at DESC, s.id DESC LIMIT 1").fetchone()
        if row is None:
            raise ReportError("no sessions are stored yet")
        return _session(row)
    rows = conn.execute(
        _SESSION_SQL + " WHERE s.id = ? OR s.id LIKE ? ESCAPE '!' ORDER BY s.id",
        (ref, ref.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"),
    ).fetchall()
    exact = [r for r in rows if r[0] == ref]
    if exact:
        return _session(exact[0])
    if not rows:
        raise ReportError(f"no session {ref!r}; list them with 'smartsession sessions'")
    if len(rows) > 1:
        raise ReportError(f"{ref!r} matches {len(rows)} sessions; give more of the id")
    return _session(rows[0])


def read_session(conn: sqlite3.Connection, session: SessionInfo) -> SessionData:
    """Every row of ``session``, each table in time order (items within `TS_MARGIN` of its span)."""
    sid = session.id
    span = (session.started_at - TS_MARGIN, session.end + TS_MARGIN)
    students = tuple(
        StudentRow(str(a), str(b), str(c), float(d), float(e))
        for a, b, c, d, e in conn.execute(
            "SELECT student_id, name, host, first_seen, last_seen FROM students WHERE session_id = ?"
            " ORDER BY first_seen, student_id",
            (sid,),
        )
    )
    seat = "seat" if has_column(conn, "samples", "seat") else "NULL"  # schema 6 on
    samples = tuple(
        SampleRow.of(row)
        for row in conn.execute(
            f"SELECT student_id, ts, state, attention, confusion, faces, alert, {seat} FROM samples"
            " WHERE session_id = ? AND ts BETWEEN ? AND ? ORDER BY ts, student_id, seq",
            (sid, *span),
        )
    )
    events = tuple(
        EventRow(str(a), float(b), str(c), str(d), None if e is None else str(e), str(f))
        for a, b, c, d, e, f in conn.execute(
            "SELECT student_id, ts, kind, state, reason, detail FROM events"
            " WHERE session_id = ? AND ts BETWEEN ? AND ? ORDER BY ts, student_id, seq",
            (sid, *span),
        )
    )
    connections = tuple(
        ConnectionRow(str(a), float(b), None if c is None else float(c))
        for a, b, c in conn.execute(
            "SELECT student_id, connected_at, disconnected_at FROM connections WHERE session_id = ?"
            " ORDER BY connected_at",
            (sid,),
        )
    )
    segments: tuple[SegmentRow, ...] = ()
    if has_table(conn, "segments"):
        segments = tuple(SegmentRow(started_at, label) for started_at, label in read_segments(conn, sid))
    class_events: tuple[ClassEventRow, ...] = ()
    if has_table(conn, "class_events"):
        class_events = tuple(
            class_event_row(row)
            for row in conn.execute(
                f"SELECT {CLASS_EVENT_COLUMNS} FROM class_events WHERE session_id = ?"
                " ORDER BY started_at, kind, number",
                (sid,),
            )
        )
    return SessionData(session, students, samples, events, connections, segments, class_events)
