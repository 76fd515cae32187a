"""How the store's queued writes become SQL: one batch, applied inside one transaction.

The loop queues `ItemWrite` (the items of one message) and `SqlWrite` (a join, a leave, a
segment ...) operations; the writer thread hands a batch of them to `apply_batch`. Runs of
items go in as multi-row statements: SQLite releases the GIL once per statement, not once
per row, so a busy writer does not slow the event loop row by row.
"""

from __future__ import annotations

import functools
import sqlite3
from itertools import chain
from typing import Any, NamedTuple

import msgspec

from smartsession.core.protocol import Event, Sample


class ItemWrite(NamedTuple):
    """Items of one message (a sample, an event or a batch) of one student."""

    session_id: str
    student_id: str
    items: tuple[Sample | Event, ...]
    now: float


class SqlWrite(NamedTuple):
    """One statement with its parameters."""

    sql: str
    params: tuple[Any, ...]


Op = ItemWrite | SqlWrite


_SAMPLE_COLUMNS = (
    "student_id, seq, session_id, ts, state, attention, confusion, faces, alert, reasons, cues, seat"
)
_EVENT_COLUMNS = "student_id, seq, session_id, ts, kind, state, reason, detail"
#: Values per row of each kind of chunk ("touch": session_id, student_id, now).
_WIDTHS = {"samples": len(_SAMPLE_COLUMNS.split(", ")), "events": len(_EVENT_COLUMNS.split(", ")), "touch": 3}
#: Rows per multi-row statement, largest first. A run of rows is cut into chunks of these
#: sizes (a run of n rows takes n // 256 statements and at most eight more): each chunk
#: is one statement (SQLite releases the GIL once per statement, not once per row, so the
#: event loop is not slowed by a busy writer), and the few distinct statement texts stay in
#: the connection's statement cache.
_CHUNKS = (256, 128, 64, 32, 16, 8, 4, 2, 1)


#: ``UPDATE ... FROM`` exists from SQLite 3.33; older builds touch students one row at a time.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


@functools.cache
def _chunk_sql(kind: str, rows: int) -> str:
    """The statement that writes ``rows`` rows of ``kind`` ("samples", "events" or "touch").

    "samples" and "events": ``INSERT OR IGNORE``; a row whose (session_id, student_id, seq) is
    already in the other table is skipped too (samples and events share one seq space per
    student and session).
    "touch": rows of (session_id, student_id, now) move ``students.last_seen`` forward.
    """
    width = _WIDTHS[kind]
    values = "VALUES " + ", ".join(["(" + ", ".join("?" * width) + ")"] * rows)
    if kind == "touch":
        return (
            f"UPDATE students SET last_seen = MAX(last_seen, v.column3) FROM ({values}) AS v"
            " WHERE students.session_id = v.column1 AND students.student_id = v.column2"
        )
    columns, other = (_SAMPLE_COLUMNS, "events") if kind == "samples" else (_EVENT_COLUMNS, "samples")
    return (
        f"INSERT OR IGNORE INTO {kind} ({columns}) SELECT * FROM ({values}) AS v"
        f" WHERE NOT EXISTS (SELECT 1 FROM {other} AS o"
        " WHERE o.session_id = v.column3 AND o.student_id = v.column1 AND o.seq = v.column2)"
    )


def _write_rows(conn: sqlite3.Connection, kind: str, rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` of ``kind`` (in order) with as few statements as `_CHUNKS` allow."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(rows[0])
    start = 0
    for size in _CHUNKS:
        if size > limit:
            continue
        while len(rows) - start >= size:
            conn.execute(_chunk_sql(kind, size), tuple(chain.from_iterable(rows[start : start + size])))
            start += size


def touch_students(conn: sqlite3.Connection, rows: list[tuple[str, str, float]], update_from: bool) -> None:
    """Move ``last_seen`` of each (session_id, student_id, now) forward to ``now``."""
    if not rows:
        return
    if update_from:
        _write_rows(conn, "touch", rows)
    else:
        conn.executemany(
            "UPDATE students SET last_seen = MAX(last_seen, ?3) WHERE session_id = ?1 AND student_id = ?2",
            rows,
        )


def _sample_row(op: ItemWrite, item: Sample) -> tuple[Any, ...]:
    return (
        op.student_id,
        item.seq,
        op.session_id,
        item.ts,
        item.state.value,
        item.attention,
        item.confusion,
        item.faces,
        item.alert.value if item.alert is not None else None,
        msgspec.json.encode(item.reasons).decode(),
        msgspec.json.encode(item.cues).decode(),
        None if item.seat is msgspec.UNSET else msgspec.json.encode(item.seat).decode(),
    )


def _event_row(op: ItemWrite, item: Event) -> tuple[Any, ...]:
    return (
        op.student_id,
        item.seq,
        op.session_id,
        item.ts,
        item.kind.value,
        item.state.value,
        item.reason.value if item.reason is not None else None,
        item.detail,
    )


def apply_batch(conn: sqlite3.Connection, ops: list[Op]) -> dict[str, int]:
    """Apply queued writes in order, runs of items in bulk; returns the highest seq per student.

    Order matters: of a sample and an event with the same seq, the first one queued is kept.
    """
    rows: list[tuple[Any, ...]] = []
    rows_table = "samples"
    seen: dict[tuple[str, str], float] = {}
    acks: dict[str, int] = {}

    def flush_items() -> None:
        if rows:
            _write_rows(conn, rows_table, rows)
            rows.clear()

    for op in ops:
        if isinstance(op, SqlWrite):
            flush_items()
            conn.execute(op.sql, op.params)
            continue
        if not op.items:
            continue
        top = 0
        for item in op.items:
            table = "samples" if isinstance(item, Sample) else "events"
            if table != rows_table:
                flush_items()
                rows_table = table
            rows.append(_sample_row(op, item) if isinstance(item, Sample) else _event_row(op, item))
            top = max(top, item.seq)
        key = (op.session_id, op.student_id)
        seen[key] = max(seen.get(key, op.now), op.now)
        acks[op.student_id] = max(acks.get(op.student_id, 0), top)
    flush_items()
    touch_students(conn, [(session, student, now) for (session, student), now in seen.items()], _UPDATE_FROM)
    return acks
