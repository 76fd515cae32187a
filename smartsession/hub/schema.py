"""The hub's database file: schema, migrations, and plain SQL on a connection.

Everything here takes a `sqlite3.Connection` and runs on whichever thread owns it: the
store's writer thread (`smartsession.hub.store`), or a report or retention job with its own
connection.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from smartsession.errors import HubError
from smartsession.files import private_database

log = logging.getLogger(__name__)

#: Current schema version (``PRAGMA user_version``).
SCHEMA_VERSION = 6
#: A session of this class idle for less than this (seconds) is resumed on hub start.
RESUME_WINDOW = 600.0
_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        class_id TEXT NOT NULL,
        hub_id TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE INDEX sessions_class ON sessions (class_id, started_at);
    CREATE TABLE students (
        session_id TEXT NOT NULL,
        student_id TEXT NOT NULL,
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (session_id, student_id)
    );
    CREATE TABLE samples (
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        state TEXT NOT NULL,
        attention REAL NOT NULL,
        confusion REAL NOT NULL,
        faces INTEGER NOT NULL,
        alert TEXT,
        reasons TEXT NOT NULL,
        cues TEXT NOT NULL,
        PRIMARY KEY (student_id, seq)
    );
    CREATE INDEX samples_session ON samples (session_id, student_id);
    CREATE TABLE events (
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        detail TEXT NOT NULL,
        PRIMARY KEY (student_id, seq)
    );
    CREATE INDEX events_session ON events (session_id, student_id);
    CREATE TABLE connections (
        session_id TEXT NOT NULL,
        student_id TEXT NOT NULL,
        connected_at REAL NOT NULL,
        disconnected_at REAL
    );
    CREATE INDEX connections_session ON connections (session_id, student_id);
    """,
    # version 2: teacher-marked lecture segments
    """
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        started_at REAL NOT NULL,
        label TEXT NOT NULL
    );
    CREATE INDEX segments_session ON segments (session_id, started_at);
    """,
    # version 3: sequence numbers are per session (protocol 2), so rows are keyed by
    # (session, student, seq); the tables are rebuilt with that key.
    """
    CREATE TABLE samples_v3 (
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        state TEXT NOT NULL,
        attention REAL NOT NULL,
        confusion REAL NOT NULL,
        faces INTEGER NOT NULL,
        alert TEXT,
        reasons TEXT NOT NULL,
        cues TEXT NOT NULL,
        PRIMARY KEY (session_id, student_id, seq)
    );
    INSERT INTO samples_v3 (student_id, seq, session_id, ts, state, attention, confusion, faces, alert,
        reasons, cues)
        SELECT student_id, seq, session_id, ts, state, attention, confusion, faces, alert, reasons, cues
        FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_v3 RENAME TO samples;
    CREATE INDEX samples_student ON samples (student_id);
    CREATE TABLE events_v3 (
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        detail TEXT NOT NULL,
        PRIMARY KEY (session_id, student_id, seq)
    );
    INSERT INTO events_v3 (student_id, seq, session_id, ts, kind, state, reason, detail)
        SELECT student_id, seq, session_id, ts, kind, state, reason, detail FROM events;
    DROP TABLE events;
    ALTER TABLE events_v3 RENAME TO events;
    CREATE INDEX events_student ON events (student_id);
    """,
    # version 4: replication to the school's server (`smartsession.school`). Samples and
    # events get a replication id that only grows (AUTOINCREMENT: never reused, even after a
    # purge), so a high-water mark says exactly what was shipped; the marks, the sessions
    # shipped for good and the erasures still to apply on the server are kept here.
    """
    CREATE TABLE samples_v4 (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        state TEXT NOT NULL,
        attention REAL NOT NULL,
        confusion REAL NOT NULL,
        faces INTEGER NOT NULL,
        alert TEXT,
        reasons TEXT NOT NULL,
        cues TEXT NOT NULL,
        UNIQUE (session_id, student_id, seq)
    );
    INSERT INTO samples_v4 (student_id, seq, session_id, ts, state, attention, confusion, faces, alert,
        reasons, cues)
        SELECT student_id, seq, session_id, ts, state, attention, confusion, faces, alert, reasons, cues
        FROM samples ORDER BY rowid;
    DROP TABLE samples;
    ALTER TABLE samples_v4 RENAME TO samples;
    CREATE INDEX samples_student ON samples (student_id);
    CREATE TABLE events_v4 (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        student_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        detail TEXT NOT NULL,
        UNIQUE (session_id, student_id, seq)
    );
    INSERT INTO events_v4 (student_id, seq, session_id, ts, kind, state, reason, detail)
        SELECT student_id, seq, session_id, ts, kind, state, reason, detail FROM events ORDER BY rowid;
    DROP TABLE events;
    ALTER TABLE events_v4 RENAME TO events;
    CREATE INDEX events_student ON events (student_id);
    CREATE TABLE school_marks (
        table_name TEXT PRIMARY KEY,
        rid INTEGER NOT NULL
    );
    CREATE TABLE school_sessions (
        session_id TEXT PRIMARY KEY
    );
    CREATE TABLE school_erasures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'student')),
        target TEXT NOT NULL,
        requested_at REAL NOT NULL
    );
    """,
    # version 5: what happened to the class as a whole (`smartsession.hub.class_events`):
    # confusion spikes (raised by the hub's roster) and the times the hub was down before a
    # resume. ``number`` counts each kind from 1 in a session; ``students`` lists ids,
    # space-separated (ids hold no spaces): the Confused students when a spike was raised, or
    # those connected when the hub went down.
    """
    CREATE TABLE class_events (
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('spike', 'hub_offline')),
        number INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        onset REAL NOT NULL,
        present INTEGER NOT NULL,
        peak INTEGER NOT NULL,
        segment INTEGER,
        students TEXT NOT NULL,
        PRIMARY KEY (session_id, kind, number)
    );
    """,
    # version 6: a sample's seat checks (`Sample.seat`, JSON: result, distance, checks,
    # mismatches), NULL on samples of intervals without one and on older rows.
    """
    ALTER TABLE samples ADD COLUMN seat TEXT;
    """,
)


def new_session_id(now: float) -> str:
    """A fresh session id: UTC time plus randomness (matches the protocol's Ident pattern)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(4)


# Pure SQL helpers (any connection, any thread that owns it) -------------------------------


#: Accepted values of ``storage.synchronous`` (SQLite ``PRAGMA synchronous``, in WAL mode).
SYNCHRONOUS = ("normal", "full")


def connect(path: Path, synchronous: str = "full") -> sqlite3.Connection:
    """Open (creating and migrating) the database at ``path``; autocommit mode, WAL.

    The file (and so its -wal and -shm) is owner-only: created 0600, or tightened if looser.

    ``synchronous`` is ``"full"`` (an fsync per commit) or ``"normal"`` (see the module docstring).
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    private_database(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("database %s is not in WAL mode (%s)", path, mode)
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to `SCHEMA_VERSION`; refuses a database from a newer version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise HubError(
            f"database schema version {version} is newer than this SmartSession ({SCHEMA_VERSION})"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[target - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("database migrated to schema version %d", target)


def read_last_seq(conn: sqlite3.Connection, student_id: str, session_id: str | None = None) -> int:
    """Highest seq stored for a student (samples and events) in a session, or in any with None; 0 when none."""
    if session_id is not None:
        return read_standing(conn, session_id, student_id)[0]
    row = conn.execute(
        "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM samples WHERE student_id = ?"
        " UNION ALL SELECT MAX(seq) FROM events WHERE student_id = ?)",
        (student_id, student_id),
    ).fetchone()
    return int(row[0] or 0)


def read_standing(conn: sqlite3.Connection, session_id: str, student_id: str) -> tuple[int, int]:
    """A student's highest seq and number of items (samples and events) stored in a session."""
    row = conn.execute(
        "SELECT MAX(m), SUM(n) FROM ("
        "SELECT MAX(seq) AS m, COUNT(*) AS n FROM samples WHERE session_id = ?1 AND student_id = ?2"
        " UNION ALL SELECT MAX(seq), COUNT(*) FROM events WHERE session_id = ?1 AND student_id = ?2)",
        (session_id, student_id),
    ).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def read_seqs(conn: sqlite3.Connection, student_id: str) -> list[int]:
    """Every stored seq of a student (samples and events), ascending."""
    rows = conn.execute(
        "SELECT seq FROM samples WHERE student_id = ? UNION ALL SELECT seq FROM events WHERE student_id = ?"
        " ORDER BY 1",
        (student_id, student_id),
    ).fetchall()
    return [int(r[0]) for r in rows]


def read_session_started(conn: sqlite3.Connection, session_id: str) -> float:
    """When a session began (epoch seconds); raises `HubError` for an unknown session."""
    row = conn.execute("SELECT started_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise HubError(f"no session {session_id!r} in the database")
    return float(row[0])


def read_segments(conn: sqlite3.Connection, session_id: str) -> list[tuple[float, str]]:
    """The lecture segments of a session as (started_at, label), in the order they began."""
    rows = conn.execute(
        "SELECT started_at, label FROM segments WHERE session_id = ? ORDER BY started_at, id", (session_id,)
    ).fetchall()
    return [(float(started_at), str(label)) for started_at, label in rows]


def read_student_summaries(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    """Per student of a session, in join order.

    Keys: student_id, name, samples, events, stored (samples + events: distinct seqs),
    seq_min, seq_max (over both; None when nothing), states_seen, alerts_seen (sorted).
    """
    students: dict[str, dict[str, Any]] = {}
    for student_id, name in conn.execute(
        "SELECT student_id, name FROM students WHERE session_id = ? ORDER BY first_seen, student_id",
        (session_id,),
    ):
        students[student_id] = _empty_summary(student_id, name)
    for student_id, count, lo, hi in conn.execute(
        "SELECT student_id, COUNT(*), MIN(seq), MAX(seq) FROM samples WHERE session_id = ?"
        " GROUP BY student_id",
        (session_id,),
    ):
        s = students.setdefault(student_id, _empty_summary(student_id, student_id))
        s["samples"] = int(count)
        _widen(s, int(lo), int(hi))
    for student_id, count, lo, hi in conn.execute(
        "SELECT student_id, COUNT(*), MIN(seq), MAX(seq) FROM events WHERE session_id = ?"
        " GROUP BY student_id",
        (session_id,),
    ):
        s = students.setdefault(student_id, _empty_summary(student_id, student_id))
        s["events"] = int(count)
        _widen(s, int(lo), int(hi))
    states: dict[str, set[str]] = {sid: set() for sid in students}
    alerts: dict[str, set[str]] = {sid: set() for sid in students}
    for student_id, state in conn.execute(
        "SELECT DISTINCT student_id, state FROM samples WHERE session_id = ?", (session_id,)
    ):
        states[student_id].add(state)
    for student_id, reason in conn.execute(
        "SELECT DISTINCT student_id, alert FROM samples WHERE session_id = ? AND alert IS NOT NULL"
        " UNION SELECT DISTINCT student_id, reason FROM events WHERE session_id = ? AND reason IS NOT NULL",
        (session_id, session_id),
    ):
        alerts[student_id].add(reason)
    for sid, s in students.items():
        s["stored"] = s["samples"] + s["events"]
        s["states_seen"] = sorted(states[sid])
        s["alerts_seen"] = sorted(alerts[sid])
    return list(students.values())


def _empty_summary(student_id: str, name: str) -> dict[str, Any]:
    return {
        "student_id": student_id,
        "name": name,
        "samples": 0,
        "events": 0,
        "stored": 0,
        "seq_min": None,
        "seq_max": None,
        "states_seen": [],
        "alerts_seen": [],
    }


def _widen(summary: dict[str, Any], lo: int, hi: int) -> None:
    summary["seq_min"] = lo if summary["seq_min"] is None else min(summary["seq_min"], lo)
    summary["seq_max"] = hi if summary["seq_max"] is None else max(summary["seq_max"], hi)


def open_or_resume_session(
    conn: sqlite3.Connection, class_id: str, hub_id: str, now: float
) -> tuple[str, bool]:
    """Resume this class's latest session if still open and active within `RESUME_WINDOW`, else start one.

    Returns ``(session_id, resumed)``.
    """
    row = conn.execute(
        "SELECT id, started_at, ended_at FROM sessions WHERE class_id = ? ORDER BY started_at DESC LIMIT 1",
        (class_id,),
    ).fetchone()
    if row is not None and row[2] is None:
        session_id, started_at = str(row[0]), float(row[1])
        activity = conn.execute(
            "SELECT MAX(a) FROM (SELECT MAX(last_seen) AS a FROM students WHERE session_id = ?"
            " UNION ALL SELECT MAX(COALESCE(disconnected_at, connected_at)) FROM connections"
            " WHERE session_id = ?)",
            (session_id, session_id),
        ).fetchone()[0]
        last = max(started_at, float(activity or 0.0))
        if now - last < RESUME_WINDOW:
            return session_id, True
    session_id = new_session_id(now)
    conn.execute(
        "INSERT INTO sessions (id, class_id, hub_id, started_at, ended_at) VALUES (?, ?, ?, ?, NULL)",
        (session_id, class_id, hub_id, now),
    )
    return session_id, False
