"""The hub's side of replication, in its own SQLite file (schema version 4, `smartsession.hub.schema`).

- ``school_marks``: per table with a replication id (``samples``, ``events``), the highest
  ``rid`` the school server holds. ``rid`` is AUTOINCREMENT, so it only grows, even across
  purges, and everything above the mark is what remains to ship.
- ``school_sessions``: sessions shipped for good (ended, or never to be resumed because a later
  session of the class began, and shipped since); the small tables of every other session are
  compared with what was shipped on each cycle.
- ``school_erasures``: deletions (retention, ``purge``) still to apply on the school server.
  `queue_erasure` is called inside the deleting transaction, and only once replication has
  ever run (``school_marks`` has rows), so a hub that never replicated queues nothing.

Plain functions over a `sqlite3.Connection`. `read_snapshot` reads in one transaction, so
what it returns is one consistent state of the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smartsession.hub import class_events

#: Tables shipped by replication id, with their columns in the school server's order.
ITEM_COLUMNS: dict[str, tuple[str, ...]] = {
    "samples": (
        "session_id",
        "student_id",
        "seq",
        "ts",
        "state",
        "attention",
        "confusion",
        "faces",
        "alert",
        "reasons",
        "cues",
        "seat",
    ),
    "events": ("session_id", "student_id", "seq", "ts", "kind", "state", "reason", "detail"),
}
#: Per-session tables shipped whole whenever they change, with their columns (server order).
SESSION_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": ("id", "class_id", "started_at", "ended_at"),
    "students": ("session_id", "student_id", "name", "host", "first_seen", "last_seen"),
    "connections": ("session_id", "student_id", "connected_at", "disconnected_at"),
    "segments": ("session_id", "id", "started_at", "label"),
    "class_events": class_events.COLUMNS,
}
#: Seconds between two shipments of a running session's ``students.last_seen`` (every item
#: moves it; the other changes of the small tables are shipped on the next cycle).
LAST_SEEN_REFRESH = 10.0
#: Sessions whose small tables one snapshot carries at most (a first backfill takes several).
SESSIONS_PER_SNAPSHOT = 50

Row = tuple[Any, ...]
#: What was shipped of a session's small tables (see `_DIGEST_SQL`).
Digest = tuple[Any, ...]


@dataclass(frozen=True)
class Erasure:
    """A deletion to apply on the school server: a whole session, or one student in every session."""

    id: int
    kind: str  # "session" or "student"
    target: str


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of what remains to ship, from `read_snapshot`."""

    erasures: tuple[Erasure, ...]
    #: Rows to ship per table (`ITEM_COLUMNS` and `SESSION_COLUMNS` order), all tables present.
    rows: dict[str, list[Row]]
    #: The highest rid among the shipped rows of each item table (the new marks).
    marks: dict[str, int]
    #: The new digest of each session whose small tables are in ``rows``.
    digests: dict[str, Digest]
    #: Sessions shipped for good once ``rows`` is on the server.
    finished: tuple[str, ...]
    #: True when more remained than one snapshot carries (read again at once).
    more: bool
    #: Rows of the item tables above the new marks (see `backlog`).
    behind: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to ship and nothing to erase."""
        return not self.erasures and not any(self.rows.values())


def enable(conn: sqlite3.Connection) -> dict[str, int]:
    """Start keeping marks (and so erasures) if not yet; returns the marks."""
    conn.executemany(
        "INSERT OR IGNORE INTO school_marks (table_name, rid) VALUES (?, 0)", [(t,) for t in ITEM_COLUMNS]
    )
    return read_marks(conn)


def read_marks(conn: sqlite3.Connection) -> dict[str, int]:
    """The highest rid on the school server per item table (0 for a table never shipped)."""
    marks = dict.fromkeys(ITEM_COLUMNS, 0)
    marks.update((str(t), int(r)) for t, r in conn.execute("SELECT table_name, rid FROM school_marks"))
    return marks


def queue_erasure(conn: sqlite3.Connection, kind: str, targets: Iterable[str], now: float) -> None:
    """Queue deletions of sessions (``kind="session"``) or students for the school server.

    Call it inside the transaction that deletes them locally; a hub that never replicated
    (or a file older than schema version 4) queues nothing.
    """
    has_marks = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'school_marks'"
    ).fetchone()
    if has_marks is None:
        return
    conn.executemany(
        "INSERT INTO school_erasures (kind, target, requested_at)"
        " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM school_marks)",
        [(kind, target, now) for target in targets],
    )


def pending_erasures(conn: sqlite3.Connection) -> list[Erasure]:
    """Erasures not yet confirmed applied by the replicator, oldest first."""
    return [
        Erasure(int(i), str(k), str(t))
        for i, k, t in conn.execute("SELECT id, kind, target FROM school_erasures ORDER BY id")
    ]


def record_progress(
    conn: sqlite3.Connection, marks: dict[str, int], erasures: Iterable[int], finished: Iterable[str]
) -> None:
    """After a shipment: move the marks, drop applied erasures, note sessions shipped for good."""
    applied = [(i,) for i in erasures]
    with _transaction(conn):
        conn.executemany(
            "UPDATE school_marks SET rid = ? WHERE table_name = ? AND rid < ?",
            [(rid, table, rid) for table, rid in marks.items()],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO school_sessions (session_id) SELECT ? WHERE EXISTS"
            " (SELECT 1 FROM sessions WHERE id = ?)",
            [(s, s) for s in finished],
        )
        if applied:
            conn.executemany("DELETE FROM school_erasures WHERE id = ?", applied)
            conn.execute("DELETE FROM school_sessions WHERE session_id NOT IN (SELECT id FROM sessions)")


def backlog(conn: sqlite3.Connection, marks: dict[str, int]) -> int:
    """Rows of the item tables above ``marks`` (an estimate from the rids: gaps count too)."""
    total = 0
    for table in ITEM_COLUMNS:
        top = conn.execute(f"SELECT MAX(rid) FROM {table}").fetchone()[0]
        total += max(0, int(top or 0) - marks.get(table, 0))
    return total


#: Per unfinished session: whether it is final (ended, or a later session of its class exists,
#: so it can never be resumed: `smartsession.hub.schema.open_or_resume_session` resumes only the
#: latest), then what changes its small tables (the digest).
_DIGEST_SQL = f"""
SELECT s.id,
       s.ended_at IS NOT NULL OR EXISTS (SELECT 1 FROM sessions later
                                         WHERE later.class_id = s.class_id AND later.started_at > s.started_at),
       s.ended_at,
       (SELECT COUNT(*) FROM students WHERE session_id = s.id),
       CAST((SELECT MAX(last_seen) FROM students WHERE session_id = s.id) / {LAST_SEEN_REFRESH} AS INTEGER),
       (SELECT COUNT(*) FROM connections WHERE session_id = s.id),
       (SELECT COUNT(disconnected_at) FROM connections WHERE session_id = s.id),
       (SELECT COUNT(*) FROM segments WHERE session_id = s.id),
       (SELECT COUNT(*) FROM class_events WHERE session_id = s.id),
       (SELECT COUNT(ended_at) FROM class_events WHERE session_id = s.id),
       (SELECT MAX(peak) FROM class_events WHERE session_id = s.id)
FROM sessions s
WHERE s.id NOT IN (SELECT session_id FROM school_sessions)
ORDER BY s.started_at, s.id
"""


def read_snapshot(
    conn: sqlite3.Connection,
    marks: dict[str, int],
    shipped: dict[str, Digest],
    batch_rows: int,
) -> Snapshot:
    """What remains to ship above ``marks``, and the small tables of sessions that changed.

    ``shipped`` holds the digest last shipped per session (empty after a restart: every
    unfinished session is shipped once more). At most ``batch_rows`` rows per item table and
    `SESSIONS_PER_SNAPSHOT` sessions are read; ``more`` says whether anything was left.
    """
    with _transaction(conn, "BEGIN"):
        erasures = tuple(pending_erasures(conn))
        rows: dict[str, list[Row]] = {t: [] for t in (*SESSION_COLUMNS, *ITEM_COLUMNS)}
        new_marks = dict(marks)
        more = False
        for table, columns in ITEM_COLUMNS.items():
            fetched = conn.execute(
                f"SELECT rid, {', '.join(columns)} FROM {table} WHERE rid > ? ORDER BY rid LIMIT ?",
                (marks.get(table, 0), batch_rows + 1),
            ).fetchall()
            if len(fetched) > batch_rows:
                more = True
                fetched = fetched[:batch_rows]
            if fetched:
                new_marks[table] = int(fetched[-1][0])
                rows[table] = [r[1:] for r in fetched]
        digests: dict[str, Digest] = {}
        finished: list[str] = []
        for session_id, final, *digest in conn.execute(_DIGEST_SQL):
            if shipped.get(session_id) == tuple(digest):
                if final:  # shipped as it is for good (a session that stopped without ending)
                    finished.append(session_id)
                continue
            if len(digests) == SESSIONS_PER_SNAPSHOT:
                more = True
                break
            digests[session_id] = tuple(digest)
            if final:
                finished.append(session_id)
        for session_id in digests:
            for table, columns in SESSION_COLUMNS.items():
                key = "id" if table == "sessions" else "session_id"
                rows[table] += conn.execute(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?", (session_id,)
                ).fetchall()
        behind = backlog(conn, new_marks)
    return Snapshot(
        erasures=erasures,
        rows=rows,
        marks=new_marks,
        digests=digests,
        finished=tuple(finished),
        more=more,
        behind=behind,
    )


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
