"""Purges on the school tier: a hub's queued erasures at once, or a school-wide erasure by an officer.

A hub's ``smartsession purge`` deletes locally and queues the erasure
(`smartsession.school.ledger.queue_erasure`); `apply_queued` then applies the queue on the
server right away with the hub's role, for the count. The queue is left for the hub's
replicator, which applies it again (deleting nothing more, or a row it read before the purge
and shipped after) and only then clears it.

``smartsession purge --school URL`` works on the server alone, with a role in
``smartsession_officer``: every hub's rows of a student, or whole sessions started before a
date. The hubs keep their own copies (purge there too, which also erases on the server).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from smartsession.config import Config
from smartsession.school import ledger, shipping
from smartsession.school.connection import Connection, connect, read_password
from smartsession.school.shipping import SESSION_TABLES, STUDENT_TABLES


def apply_queued(config: Config, db: Path) -> dict[str, int]:
    """Apply the erasures queued in ``db`` on the school server as this hub; rows deleted per table.

    Raises `SchoolError` (one sentence) when the server cannot be used.
    """
    with contextlib.closing(sqlite3.connect(db, timeout=10.0)) as local:
        erasures = ledger.pending_erasures(local)
    if not erasures:
        return {}
    school = config.school
    password = read_password(config.path(school.password_file)) if school.password_file else ""
    hub_id = config.hub.hub_id
    if not hub_id:
        from smartsession.hub.service import default_hub_id

        hub_id = default_hub_id()
    with connect(school.database_url, password, timeout=school.connect_timeout) as conn, conn.transaction():
        return shipping.apply_erasures(conn, hub_id, erasures)


def count_student(conn: Connection, student_id: str) -> dict[str, int]:
    """Rows per table about ``student_id`` on the server, of every hub."""
    counts = {}
    for table in STUDENT_TABLES:
        row = conn.execute(
            f"SELECT count(*) FROM smartsession.{table} WHERE student_id = %s", (student_id,)
        ).fetchone()
        counts[table] = int(row[0]) if row is not None else 0
    return counts


def delete_student(conn: Connection, student_id: str) -> dict[str, int]:
    """Delete every row about ``student_id`` of every hub, in one transaction; rows per table."""
    with conn.transaction():
        return {
            table: conn.execute(
                f"DELETE FROM smartsession.{table} WHERE student_id = %s", (student_id,)
            ).rowcount
            for table in STUDENT_TABLES
        }


def sessions_before(conn: Connection, cutoff: float) -> list[tuple[str, str]]:
    """(hub id, session id) of the sessions that started before ``cutoff`` (epoch seconds)."""
    rows = conn.execute(
        "SELECT hub_id, id FROM smartsession.sessions WHERE started_at < %s ORDER BY started_at", (cutoff,)
    )
    return [(str(h), str(s)) for h, s in rows]


def _per_session(conn: Connection, keys: list[tuple[str, str]], verb: str) -> dict[str, int]:
    counts = dict.fromkeys((table for table, _ in SESSION_TABLES), 0)
    for hub_id, session_id in keys:
        for table, column in SESSION_TABLES:
            if verb == "count":
                row = conn.execute(
                    f"SELECT count(*) FROM smartsession.{table} WHERE hub_id = %s AND {column} = %s",
                    (hub_id, session_id),
                ).fetchone()
                counts[table] += int(row[0]) if row is not None else 0
            else:
                counts[table] += conn.execute(
                    f"DELETE FROM smartsession.{table} WHERE hub_id = %s AND {column} = %s",
                    (hub_id, session_id),
                ).rowcount
    return counts


def count_sessions(conn: Connection, keys: list[tuple[str, str]]) -> dict[str, int]:
    """Rows per table that `delete_sessions` would delete."""
    return _per_session(conn, keys, "count")


def delete_sessions(conn: Connection, keys: list[tuple[str, str]]) -> dict[str, int]:
    """Delete these (hub id, session id) sessions and all their rows, in one transaction."""
    with conn.transaction():
        return _per_session(conn, keys, "delete")
