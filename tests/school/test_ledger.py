"""The hub's replication bookkeeping in SQLite: schema 4, replication ids, erasures and snapshots."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smartsession.hub import retention
from smartsession.hub.schema import _MIGRATIONS, SCHEMA_VERSION, connect
from smartsession.school import ledger

SAMPLE = (
    "INSERT INTO samples (student_id, seq, session_id, ts, state, attention, confusion, faces, alert, reasons,"
    " cues) VALUES (?, ?, ?, ?, 'focused', 0.9, 0.1, 1, NULL, '[]', '{}')"
)


def add_session(
    conn: sqlite3.Connection, session_id: str, class_id: str, started: float, ended: float | None
) -> None:
    conn.execute(
        "INSERT INTO sessions (id, class_id, hub_id, started_at, ended_at) VALUES (?, ?, 'h', ?, ?)",
        (session_id, class_id, started, ended),
    )
    conn.execute(
        "INSERT INTO students (session_id, student_id, name, host, first_seen, last_seen) VALUES (?, 'ann', 'Ann', 'pc', ?, ?)",
        (session_id, started, started),
    )


def test_schema_4_keeps_the_rows_of_a_version_3_file_in_order(tmp_path: Path) -> None:
    db = tmp_path / "v3.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for step in _MIGRATIONS[:3]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 3")
    add_session(conn, "s1", "c", 1.0, None)
    conn.executemany(SAMPLE, [("ann", seq, "s1", float(seq)) for seq in (3, 1, 2)])
    conn.close()

    conn = connect(db)  # migrates to 4, then 5 and 6
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert conn.execute("SELECT rid, seq FROM samples ORDER BY rid").fetchall() == [(1, 3), (2, 1), (3, 2)]
    assert ledger.read_marks(conn) == {"samples": 0, "events": 0}  # never replicated
    assert conn.execute("SELECT COUNT(*) FROM students").fetchone()[0] == 1


def test_replication_ids_are_never_reused_after_a_purge(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    add_session(conn, "s1", "c", 1.0, None)
    conn.executemany(SAMPLE, [("ann", 1, "s1", 1.0), ("ben", 1, "s1", 1.0), ("ben", 2, "s1", 2.0)])
    top = conn.execute("SELECT MAX(rid) FROM samples").fetchone()[0]
    retention.delete_student(conn, "ben")  # the newest rows go
    conn.execute(SAMPLE, ("ann", 2, "s1", 2.0))
    assert conn.execute("SELECT rid FROM samples WHERE seq = 2").fetchone()[0] > top


def test_erasures_are_queued_only_once_replication_ran(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    add_session(conn, "s1", "c", 1.0, 2.0)
    add_session(conn, "s2", "c", 3.0, 4.0)
    retention.delete_student(conn, "nobody")
    assert ledger.pending_erasures(conn) == []
    assert ledger.enable(conn) == {"samples": 0, "events": 0}
    retention.delete_student(conn, "ann")
    retention.delete_sessions(conn, ["s1"])
    assert [(e.kind, e.target) for e in ledger.pending_erasures(conn)] == [
        ("student", "ann"),
        ("session", "s1"),
    ]


def test_snapshots_batch_rows_and_finish_sessions_that_cannot_change(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    ledger.enable(conn)
    add_session(conn, "old", "c", 1.0, None)  # stopped without ending, then a later session began
    add_session(conn, "now", "c", 5.0, None)  # running: may still change
    add_session(conn, "other", "d", 2.0, 3.0)  # ended
    conn.executemany(SAMPLE, [("ann", seq, "now", 5.0 + seq) for seq in range(1, 8)])

    first = ledger.read_snapshot(conn, ledger.read_marks(conn), {}, batch_rows=5)
    assert len(first.rows["samples"]) == 5 and first.more and first.behind == 2
    assert first.marks["samples"] == 5
    assert sorted(r[0] for r in first.rows["sessions"]) == ["now", "old", "other"]
    assert sorted(first.finished) == ["old", "other"]
    ledger.record_progress(conn, first.marks, [], first.finished)

    second = ledger.read_snapshot(conn, ledger.read_marks(conn), first.digests, batch_rows=5)
    assert [r[2] for r in second.rows["samples"]] == [6, 7] and not second.more
    assert second.rows["sessions"] == [] and second.finished == ()
    ledger.record_progress(conn, second.marks, [], second.finished)
    assert conn.execute("SELECT session_id FROM school_sessions ORDER BY 1").fetchall() == [
        ("old",),
        ("other",),
    ]

    conn.execute("UPDATE sessions SET ended_at = 20.0 WHERE id = 'now'")
    third = ledger.read_snapshot(conn, ledger.read_marks(conn), first.digests, batch_rows=5)
    assert third.empty is False and third.rows["samples"] == [] and third.finished == ("now",)
    assert third.rows["sessions"] == [("now", "c", 5.0, 20.0)]
