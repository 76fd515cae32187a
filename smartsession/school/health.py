"""How replication stands, for ``smartsession doctor``: the server as this hub sees it, and the backlog."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from smartsession.config import Config
from smartsession.errors import SchoolError
from smartsession.school import ledger, pgschema
from smartsession.school.connection import describe_server, read_password

#: A backlog whose oldest row is older than this (seconds) is worth a warning.
STALE = 60.0


def local_backlog(db: Path) -> tuple[int, float | None, int]:
    """(rows not yet on the server, time of the oldest of them, erasures not yet confirmed) in ``db``."""
    if not db.is_file():
        return 0, None, 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)) as conn:
        try:
            marks = ledger.read_marks(conn)
        except sqlite3.OperationalError:  # a file older than schema version 4: never replicated
            return 0, None, 0
        behind = ledger.backlog(conn, marks)
        oldest = [
            row[0]
            for table in ledger.ITEM_COLUMNS
            if (
                row := conn.execute(
                    f"SELECT ts FROM {table} WHERE rid > ? ORDER BY rid LIMIT 1", (marks[table],)
                ).fetchone()
            )
        ]
        erasures = len(ledger.pending_erasures(conn))
    return behind, (min(oldest) if oldest else None), erasures


def check(config: Config, hub_id: str) -> tuple[str, str]:
    """("ok" | "warn" | "FAIL", one sentence) about replicating this hub to the school server."""
    school = config.school
    if not school.database_url:
        return "ok", "off (school.database_url is empty)"
    try:
        password = read_password(config.path(school.password_file)) if school.password_file else ""
        with pgschema.connect_hub(school.database_url, password, hub_id, timeout=school.connect_timeout):
            pass
    except SchoolError as exc:
        return "FAIL", str(exc)
    behind, oldest, erasures = local_backlog(config.database_path)
    where = (
        f"{describe_server(school.database_url)} as hub {hub_id}, schema version {pgschema.SCHEMA_VERSION}"
    )
    if not behind and not erasures:
        return "ok", f"{where}; everything stored here is on the server"
    lag = time.time() - oldest if oldest is not None else 0.0
    detail = f"{where}; {behind} rows not yet on the server"
    detail += f" (the oldest from {lag:.0f} s ago)" if oldest is not None else ""
    detail += f", {erasures} erasures to apply" if erasures else ""
    if lag > STALE or erasures:
        return "warn", detail + ": the hub ships them while it runs"
    return "ok", detail
