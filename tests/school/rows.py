"""Every replicated row of a hub, read from its SQLite file and from the school server, comparably."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from smartsession.school.connection import Connection
from smartsession.school.ledger import ITEM_COLUMNS, SESSION_COLUMNS

TABLES = {**SESSION_COLUMNS, **ITEM_COLUMNS}

Rows = dict[str, list[tuple[Any, ...]]]


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(
        rows, key=lambda row: tuple((value is None, value if value is not None else 0) for value in row)
    )


def sqlite_rows(db: Path) -> Rows:
    """Every row of the replicated tables in the hub's file, sorted."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return {
            table: _sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall())
            for table, columns in TABLES.items()
        }


def school_rows(conn: Connection, hub_id: str) -> Rows:
    """Every row of ``hub_id`` on the school server, sorted, in the same columns."""
    return {
        table: _sorted(
            conn.execute(
                f"SELECT {', '.join(columns)} FROM smartsession.{table} WHERE hub_id = %s",
                (hub_id,),
            ).fetchall()
        )
        for table, columns in TABLES.items()
    }


def item_count(rows: Rows) -> int:
    """Samples and events among ``rows``."""
    return len(rows["samples"]) + len(rows["events"])
