"""Retention: sessions older than storage.retention_days are deleted at hub start and daily."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from smartsession.config import Config
from smartsession.hub import Hub, retention
from smartsession.hub.schema import connect

DAY = 86400.0
TABLES = ("samples", "events", "connections", "students")


def add_session(db: Path, session_id: str, started: float, student: str = "pc-01") -> None:
    conn = connect(db)
    try:
        conn.execute(
            "INSERT INTO sessions (id, class_id, hub_id, started_at, ended_at) VALUES (?, 'cs101', 'h', ?, ?)",
            (session_id, started, started + 3600),
        )
        conn.execute(
            "INSERT INTO students VALUES (?, ?, 'Ada', 'host', ?, ?)",
            (session_id, student, started, started + 60),
        )
        conn.execute(
            "INSERT INTO connections VALUES (?, ?, ?, ?)", (session_id, student, started, started + 60)
        )
        seq0 = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]) + 1000 * len(session_id)
        for i in range(5):
            conn.execute(
                "INSERT INTO samples (student_id, seq, session_id, ts, state, attention, confusion, faces, alert,"
                " reasons, cues) VALUES (?, ?, ?, ?, 'focused', 0.9, 0.1, 1, NULL, '[]', '{}')",
                (student, seq0 + i, session_id, started + i),
            )
        conn.execute(
            "INSERT INTO events (student_id, seq, session_id, ts, kind, state, reason, detail)"
            " VALUES (?, ?, ?, ?, 'alert', 'alert', 'no_face', '')",
            (student, seq0 + 10, session_id, started + 2),
        )
        conn.execute(
            "INSERT INTO segments (session_id, started_at, label) VALUES (?, ?, 'intro')",
            (session_id, started),
        )
    finally:
        conn.close()


def rows_of(db: Path, session_id: str) -> int:
    with sqlite3.connect(db) as conn:
        n = sum(
            conn.execute(f"SELECT COUNT(*) FROM {t} WHERE session_id = ?", (session_id,)).fetchone()[0]
            for t in TABLES
        )
        n += conn.execute("SELECT COUNT(*) FROM segments WHERE session_id = ?", (session_id,)).fetchone()[0]
        return int(
            n + conn.execute("SELECT COUNT(*) FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
        )


def with_retention(config: Config, days: int) -> Config:
    return msgspec.structs.replace(
        config, storage=msgspec.structs.replace(config.storage, retention_days=days)
    )


async def test_old_sessions_deleted_at_start_and_daily(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    config = with_retention(make_config(), 30)
    db = config.database_path
    now = time.time()
    add_session(db, "old-session", now - 40 * DAY)
    add_session(db, "recent-session", now - 2 * DAY, student="pc-02")
    assert (
        rows_of(db, "old-session") == 5 + 1 + 1 + 1 + 1 + 1
    )  # samples, events, connections, students, segments, sessions
    async with Hub(config, secret) as hub:
        assert rows_of(db, "old-session") == 0
        assert rows_of(db, "recent-session") == 10
        assert rows_of(db, hub.session_id) == 1  # the running session itself
        # later, another session has grown too old: the daily run removes it
        add_session(db, "aged-session", now - 31 * DAY, student="pc-03")
        task = asyncio.create_task(retention.run_daily(hub.store, 30, hub.session_id, period=0.1))
        deadline = time.monotonic() + 10
        while rows_of(db, "aged-session") and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert rows_of(db, "aged-session") == 0
        assert rows_of(db, "recent-session") == 10
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_zero_days_keeps_everything(make_config: Callable[..., Config], secret: bytes) -> None:
    config = with_retention(make_config(), 0)
    add_session(config.database_path, "ancient", time.time() - 3000 * DAY)
    async with Hub(config, secret):
        assert rows_of(config.database_path, "ancient") == 10


def test_never_deletes_the_kept_session(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    add_session(db, "current", time.time() - 100 * DAY)
    conn = connect(db)
    try:
        assert retention.apply_retention(conn, 30, time.time(), keep=("current",)) == []
        assert retention.apply_retention(conn, 30, time.time()) == ["current"]
    finally:
        conn.close()
    assert rows_of(db, "current") == 0
