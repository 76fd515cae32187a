"""Writing a `smartsession.school.ledger.Snapshot` to the school server, in one transaction.

Every table goes in as one statement whatever the number of rows: the columns are sent as
binary arrays and unnested on the server (``INSERT ... SELECT FROM unnest(...)``), so the
statement text is constant (psycopg prepares it once) and a catch-up of thousands of rows
costs one round trip per table. Items (samples, events) are ``ON CONFLICT DO NOTHING`` on
their key (hub, session, student, seq): shipping the same rows twice, after a crash between
the server's commit and the hub's mark, changes nothing. The small tables are upserts: the
hub's SQLite file is the truth, the server mirrors it. Erasures run first, so a row read
before a purge and shipped after it is deleted by the next shipment's erasure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, LiteralString

import psycopg

from smartsession.school.ledger import Erasure, Row, Snapshot

Connection = psycopg.Connection[tuple[Any, ...]]

#: Per table: the statement (hub id first, then one array per column) and the array types.
_STATEMENTS: dict[str, tuple[LiteralString, tuple[LiteralString, ...]]] = {
    "sessions": (
        "INSERT INTO smartsession.sessions (hub_id, id, class_id, started_at, ended_at, course)"
        " SELECT %s, * FROM unnest({}) ON CONFLICT (hub_id, id) DO UPDATE SET class_id = excluded.class_id,"
        " started_at = excluded.started_at, ended_at = excluded.ended_at, course = excluded.course",
        ("text", "text", "float8", "float8", "text"),
    ),
    "students": (
        "INSERT INTO smartsession.students (hub_id, session_id, student_id, name, host, first_seen, last_seen)"
        " SELECT %s, * FROM unnest({}) ON CONFLICT (hub_id, session_id, student_id) DO UPDATE SET"
        " name = excluded.name, host = excluded.host, first_seen = excluded.first_seen,"
        " last_seen = excluded.last_seen",
        ("text", "text", "text", "text", "float8", "float8"),
    ),
    "connections": (
        "INSERT INTO smartsession.connections (hub_id, session_id, student_id, connected_at, disconnected_at)"
        " SELECT %s, * FROM unnest({}) ON CONFLICT (hub_id, session_id, student_id, connected_at)"
        " DO UPDATE SET disconnected_at = excluded.disconnected_at",
        ("text", "text", "float8", "float8"),
    ),
    "segments": (
        "INSERT INTO smartsession.segments (hub_id, session_id, id, started_at, label)"
        " SELECT %s, * FROM unnest({}) ON CONFLICT (hub_id, session_id, id) DO UPDATE SET"
        " started_at = excluded.started_at, label = excluded.label",
        ("text", "int8", "float8", "text"),
    ),
    "class_events": (
        "INSERT INTO smartsession.class_events (hub_id, session_id, kind, number, started_at, ended_at, onset,"
        " present, peak, segment, students) SELECT %s, * FROM unnest({})"
        " ON CONFLICT (hub_id, session_id, kind, number) DO UPDATE SET started_at = excluded.started_at,"
        " ended_at = excluded.ended_at, onset = excluded.onset, present = excluded.present,"
        " peak = excluded.peak, segment = excluded.segment, students = excluded.students",
        ("text", "text", "int8", "float8", "float8", "float8", "int4", "int4", "int8", "text"),
    ),
    "samples": (
        "INSERT INTO smartsession.samples (hub_id, session_id, student_id, seq, ts, state, attention,"
        " confusion, faces, alert, reasons, cues, seat) SELECT %s, * FROM unnest({}) ON CONFLICT DO NOTHING",
        (
            "text",
            "text",
            "int8",
            "float8",
            "text",
            "float8",
            "float8",
            "int4",
            "text",
            "text",
            "text",
            "text",
        ),
    ),
    "events": (
        "INSERT INTO smartsession.events (hub_id, session_id, student_id, seq, ts, kind, state, reason,"
        " detail) SELECT %s, * FROM unnest({}) ON CONFLICT DO NOTHING",
        ("text", "text", "int8", "float8", "text", "text", "text", "text"),
    ),
}
#: Key columns of the upserted tables (one row per key in a statement, or the server refuses).
_KEYS: dict[str, slice] = {
    "sessions": slice(0, 1),
    "students": slice(0, 2),
    "connections": slice(0, 3),
    "segments": slice(0, 2),
    "class_events": slice(0, 3),
}
#: Tables an erasure of a session deletes from (and the column naming the session).
SESSION_TABLES: tuple[tuple[str, str], ...] = (
    ("samples", "session_id"),
    ("events", "session_id"),
    ("connections", "session_id"),
    ("students", "session_id"),
    ("segments", "session_id"),
    ("class_events", "session_id"),
    ("sessions", "id"),
)
#: Tables an erasure of a student deletes from.
STUDENT_TABLES = ("samples", "events", "connections", "students")


def _statement(table: str) -> LiteralString:
    text, types = _STATEMENTS[table]
    arrays = ", ".join(f"%b::{t}[]" for t in types)
    return text.replace("{}", arrays)  # built from literals only


def _unique(table: str, rows: list[Row]) -> list[Row]:
    """The last row for each key (SQLite may hold two connections opened in the same instant)."""
    key = _KEYS.get(table)
    if key is None:
        return rows
    return list({row[key]: row for row in rows}.values())


def insert_rows(conn: Connection, hub_id: str, table: str, rows: Sequence[Row]) -> None:
    """Write ``rows`` (columns in `smartsession.school.ledger` order) of ``table`` for ``hub_id``."""
    if not rows:
        return
    columns = [list(column) for column in zip(*_unique(table, list(rows)), strict=True)]
    conn.execute(_statement(table), (hub_id, *columns))


def apply_erasures(conn: Connection, hub_id: str, erasures: Iterable[Erasure]) -> dict[str, int]:
    """Delete what ``erasures`` name among ``hub_id``'s rows; rows deleted per table."""
    counts: dict[str, int] = {}
    for erasure in erasures:
        if erasure.kind == "session":
            for table, column in SESSION_TABLES:
                cur = conn.execute(
                    f"DELETE FROM smartsession.{table} WHERE hub_id = %s AND {column} = %s",
                    (hub_id, erasure.target),
                )
                counts[table] = counts.get(table, 0) + cur.rowcount
        else:
            for table in STUDENT_TABLES:
                cur = conn.execute(
                    f"DELETE FROM smartsession.{table} WHERE hub_id = %s AND student_id = %s",
                    (hub_id, erasure.target),
                )
                counts[table] = counts.get(table, 0) + cur.rowcount
    return counts


def ship(conn: Connection, hub_id: str, snapshot: Snapshot, courses: dict[str, str]) -> dict[str, int]:
    """Apply ``snapshot`` for ``hub_id`` in one transaction; returns rows erased per table.

    ``courses`` maps a class id to its course (sessions of other classes get none).
    """
    tables = {table: rows for table, rows in snapshot.rows.items() if rows}
    if "sessions" in tables:
        tables["sessions"] = [(*row, courses.get(str(row[1]), "")) for row in tables["sessions"]]
    if len(tables) == 1 and not snapshot.erasures:
        # One statement is atomic by itself: no BEGIN and COMMIT round trips (the usual case:
        # the samples of the last second).
        ((table, rows),) = tables.items()
        insert_rows(conn, hub_id, table, rows)
        return {}
    with conn.transaction():
        erased = apply_erasures(conn, hub_id, snapshot.erasures)
        for table, rows in tables.items():
            insert_rows(conn, hub_id, table, rows)
    return erased
