"""Data care: delete old sessions (retention) and, on request, a student's data or older sessions.

Plain functions over a `sqlite3.Connection` in autocommit mode (the hub runs them on its
store's writer thread through `Store.call`; ``smartsession purge`` on its own connection).
Deleted content is overwritten (``secure_delete``) and the WAL is checkpointed, so erased
rows do not linger in the file. A hub that replicates to the school server queues each
deletion for it in the same transaction (`smartsession.school.ledger.queue_erasure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator

from smartsession.hub.store import Store
from smartsession.school.ledger import queue_erasure

log = logging.getLogger(__name__)

#: Seconds between retention runs while the hub runs.
DAY = 86400.0
#: Tables holding per-student rows keyed by ``session_id`` (plus ``sessions``, ``segments`` and
#: ``class_events``, which a session's erasure deletes too).
STUDENT_TABLES: tuple[str, ...] = ("samples", "events", "connections", "students")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def sessions_started_before(conn: sqlite3.Connection, cutoff: float, keep: Iterable[str] = ()) -> list[str]:
    """Ids of the sessions that started before ``cutoff`` (epoch seconds), except ``keep``."""
    kept = set(keep)
    rows = conn.execute("SELECT id FROM sessions WHERE started_at < ? ORDER BY started_at", (cutoff,))
    return [str(r[0]) for r in rows if r[0] not in kept]


def count_sessions(conn: sqlite3.Connection, session_ids: Iterable[str]) -> dict[str, int]:
    """Rows per table that `delete_sessions` would delete."""
    return _per_session(conn, list(session_ids), "SELECT COUNT(*) FROM {table} WHERE {key} = ?")


def delete_sessions(conn: sqlite3.Connection, session_ids: Iterable[str]) -> dict[str, int]:
    """Delete these sessions and every row of them, in one transaction; rows deleted per table."""
    ids = list(session_ids)
    if not ids:
        return {}
    with _transaction(conn):
        counts = _per_session(conn, ids, "DELETE FROM {table} WHERE {key} = ?")
        queue_erasure(conn, "session", ids, time.time())
    _checkpoint(conn)
    return counts


def _per_session(conn: sqlite3.Connection, ids: list[str], sql: str) -> dict[str, int]:
    tables = [(t, "session_id") for t in STUDENT_TABLES]
    tables += [(t, "session_id") for t in ("segments", "class_events") if _has_table(conn, t)]
    tables.append(("sessions", "id"))
    counts = dict.fromkeys((t for t, _ in tables), 0)
    for session_id in ids:
        for table, key in tables:
            cur = conn.execute(sql.format(table=table, key=key), (session_id,))
            counts[table] += cur.rowcount if sql.startswith("DELETE") else int(cur.fetchone()[0])
    return counts


def count_student(conn: sqlite3.Connection, student_id: str) -> dict[str, int]:
    """Rows per table that `delete_student` would delete."""
    return {
        t: int(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE student_id = ?", (student_id,)).fetchone()[0])
        for t in STUDENT_TABLES
    }


def delete_student(conn: sqlite3.Connection, student_id: str) -> dict[str, int]:
    """Delete every row of one student in every session (erasure on request); rows per table."""
    with _transaction(conn):
        counts = {
            t: conn.execute(f"DELETE FROM {t} WHERE student_id = ?", (student_id,)).rowcount
            for t in STUDENT_TABLES
        }
        queue_erasure(conn, "student", (student_id,), time.time())
    _checkpoint(conn)
    return counts


def apply_retention(conn: sqlite3.Connection, days: int, now: float, keep: Iterable[str] = ()) -> list[str]:
    """Delete sessions that started more than ``days`` days before ``now`` (0: keep forever).

    Returns the deleted session ids; ``keep`` (the running session) is never deleted.
    """
    if days <= 0:
        return []
    ids = sessions_started_before(conn, now - days * DAY, keep)
    if ids:
        counts = delete_sessions(conn, ids)
        log.info("retention (%d days): deleted %d sessions (%s)", days, len(ids), _describe(counts))
    return ids


async def run_daily(store: Store, days: int, keep: str, period: float = DAY) -> None:
    """Apply retention every ``period`` seconds until cancelled (the first run after one period)."""
    while True:
        await asyncio.sleep(period)
        try:
            await store.call(lambda conn: apply_retention(conn, days, time.time(), (keep,)))
        except Exception:
            log.exception("retention failed; will try again in %.0f s", period)


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {t}" for t, n in counts.items())


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _checkpoint(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
