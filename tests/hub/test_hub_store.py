"""The SQLite store: schema, WAL, sessions, dedup, summaries, and surviving failed commits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from smartsession.core.protocol import Event, Sample
from smartsession.core.states import AlertReason, State
from smartsession.errors import HubError
from smartsession.hub.checkpointer import BACKSTOP_PAGES
from smartsession.hub.schema import (
    RESUME_WINDOW,
    SCHEMA_VERSION,
    connect,
    open_or_resume_session,
    read_seqs,
)
from smartsession.hub.store import Store

from .wsagent import alert_event, eventually, sample

NOW = 1_700_000_000.0


def test_fresh_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hub.db"
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "students", "samples", "events", "connections"} <= tables
    conn.execute("INSERT INTO sessions VALUES ('s', 'c', 'h', 1.0, NULL)")
    conn.close()
    conn = connect(path)  # opening again migrates nothing and keeps the data
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HubError, match="newer"):
        connect(path)


def test_session_resume_rules(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    first, resumed = open_or_resume_session(conn, "cs101", "h", NOW)
    assert not resumed
    same, resumed = open_or_resume_session(conn, "cs101", "h", NOW + 60)
    assert (same, resumed) == (first, True)
    other, _ = open_or_resume_session(conn, "math", "h", NOW + 60)
    assert other != first  # another class has its own session
    # Activity (a student seen) keeps a session resumable.
    conn.execute("INSERT INTO students VALUES (?, 'a', 'A', 'pc', ?, ?)", (first, NOW, NOW + 500))
    same, resumed = open_or_resume_session(conn, "cs101", "h", NOW + 500 + RESUME_WINDOW - 1)
    assert (same, resumed) == (first, True)
    stale, resumed = open_or_resume_session(conn, "cs101", "h", NOW + 500 + RESUME_WINDOW + 1)
    assert stale != first and not resumed
    conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (NOW + 2000, stale))
    fresh, resumed = open_or_resume_session(conn, "cs101", "h", NOW + 2001)
    assert fresh not in (first, stale) and not resumed


async def test_store_dedups_across_samples_and_events_and_summarises(tmp_path: Path) -> None:
    acks: list[dict[str, int]] = []
    store = Store(tmp_path / "hub.db", batch_interval=0.01, on_commit=acks.append)
    await store.open()
    session, _ = await store.open_session("cs101", "h", NOW)
    store.record_join(session, "a", "Ann", "pc-a", NOW)
    store.record_join(session, "b", "Ben", "pc-b", NOW)
    store.add_items(session, "a", [sample(1), sample(2, State.CONFUSED), alert_event(3)], NOW)
    store.add_items(session, "a", [alert_event(2), sample(3), sample(1)], NOW)  # seqs already stored
    store.add_items(session, "b", [sample(7, State.ALERT, AlertReason.LOOKING_AWAY)], NOW)
    assert await store.flush()
    await eventually(lambda: acks and max(a.get("a", 0) for a in acks) >= 3)
    assert await store.seqs("a") == [1, 2, 3]
    assert await store.last_seq("a") == 3
    assert await store.last_seq("b") == 7
    assert await store.last_seq("nobody") == 0
    a, b = await store.student_summaries(session)
    assert a == {
        "student_id": "a",
        "name": "Ann",
        "samples": 2,
        "events": 1,
        "stored": 3,
        "seq_min": 1,
        "seq_max": 3,
        "states_seen": ["confused", "focused"],
        "alerts_seen": ["no_face"],
    }
    assert b["alerts_seen"] == ["looking_away"] and b["states_seen"] == ["alert"]
    await store.close()
    with pytest.raises(HubError):
        await store.last_seq("a")


async def test_commit_failure_keeps_items_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    acks: list[dict[str, int]] = []
    store = Store(path, batch_interval=0.01, on_commit=acks.append)
    await store.open()
    session, _ = await store.open_session("cs101", "h", NOW)
    assert await store.flush()

    # A real "database or disk is full": cap the file at its current size.
    def cap(conn: sqlite3.Connection) -> int:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return pages

    await store.call(cap)
    store.add_items(session, "a", [sample(seq) for seq in range(1, 301)], NOW)
    await eventually(lambda: not store.healthy)
    assert "full" in store.last_error
    assert store.pending == 300
    assert acks == []
    assert await store.seqs("a") == []

    await store.call(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    assert await store.flush()
    assert store.healthy and store.last_error == ""
    assert await store.seqs("a") == list(range(1, 301))
    await eventually(lambda: acks)
    assert acks == [{"a": 300}]
    await store.close()
    conn = sqlite3.connect(path)
    assert read_seqs(conn, "a") == list(range(1, 301))
    conn.close()


async def test_unusable_database_path_is_a_hub_error(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    store = Store(tmp_path / "adir")
    with pytest.raises(HubError, match="cannot open database"):
        await store.open()


@pytest.mark.parametrize(("synchronous", "pragma"), [("normal", 1), ("full", 2)])
async def test_synchronous_setting_reaches_sqlite(tmp_path: Path, synchronous: str, pragma: int) -> None:
    store = Store(tmp_path / "hub.db", synchronous=synchronous)
    await store.open()
    try:
        assert await store.call(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == pragma
    finally:
        await store.close()
    with pytest.raises(ValueError, match="synchronous"):
        Store(tmp_path / "hub.db", synchronous="off")


async def test_items_of_many_messages_are_committed_and_acked_together(tmp_path: Path) -> None:
    acks: list[dict[str, int]] = []
    store = Store(tmp_path / "hub.db", batch_interval=0.05, on_commit=acks.append)
    await store.open()
    session, _ = await store.open_session("cs101", "h", NOW)
    for seq in range(1, 51):
        store.add_items(session, "a", [sample(seq)], NOW)
    store.add_items(session, "b", [sample(1), alert_event(2), sample(3)], NOW)
    assert await store.flush()
    assert await store.seqs("a") == list(range(1, 51))
    assert await store.seqs("b") == [1, 2, 3]
    await eventually(lambda: {k: v for d in acks for k, v in d.items()} == {"a": 50, "b": 3})
    assert store.pending == 0
    await store.close()


@pytest.mark.parametrize("variable_limit", [None, 30])
async def test_big_mixed_batches_are_stored_once_first_queued_wins(
    tmp_path: Path, variable_limit: int | None
) -> None:
    """Runs of samples and events are cut into multi-row INSERTs; the rules stay per row.

    With a limit of 30 bound variables per statement (old SQLite builds had 999) only
    small statements fit, which must give the same rows.
    """
    path = tmp_path / "hub.db"
    store = Store(path)
    await store.open()
    if variable_limit is not None:
        await store.call(lambda conn: conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit))
    session, _ = await store.open_session("cs101", "h", NOW)
    # 1 000 items in one message: every 7th an event, queued before a sample with the same
    # seq that comes later in the same batch, plus repeats of seqs already queued.
    items: list[Sample | Event] = []
    for seq in range(1, 1001):
        items.append(alert_event(seq) if seq % 7 == 0 else sample(seq))
    items += [sample(seq) for seq in range(7, 1001, 7)]  # same seqs as the events: ignored
    items += [alert_event(seq) for seq in range(1, 300, 7)]  # same seqs as samples: ignored
    store.add_items(session, "a", items, NOW)
    store.add_items(session, "a", [sample(seq) for seq in range(990, 1010)], NOW)
    assert await store.flush()
    await store.close()
    conn = sqlite3.connect(path)
    samples = [r[0] for r in conn.execute("SELECT seq FROM samples WHERE student_id = 'a' ORDER BY seq")]
    events = [r[0] for r in conn.execute("SELECT seq FROM events WHERE student_id = 'a' ORDER BY seq")]
    reasons = conn.execute("SELECT reasons FROM samples WHERE student_id = 'a' AND seq = 1009").fetchone()
    conn.close()
    assert events == list(range(7, 1001, 7))
    assert samples == [seq for seq in range(1, 1010) if seq % 7 != 0 or seq > 1000]
    assert reasons == ('["reason 1009"]',)


async def test_the_log_is_checkpointed_beside_the_writer(tmp_path: Path) -> None:
    """The checkpoint thread copies committed rows into the database file while the store runs.

    Read with ``immutable=1`` SQLite ignores the write-ahead log, so rows show there only once
    a checkpoint copied them; these few pages are far below the writer's own backstop.
    """
    path = tmp_path / "hub.db"
    store = Store(path)
    await store.open()
    session, _ = await store.open_session("cs101", "h", NOW)
    for seq in range(1, 201):
        store.add_items(session, "a", [sample(seq)], NOW)
    assert await store.flush()

    def in_database_file() -> int:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        except sqlite3.DatabaseError:  # not even the schema copied yet, or a page read mid-copy
            return 0
        finally:
            conn.close()

    try:
        await eventually(lambda: in_database_file() == 200)
        assert await store.call(lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == (
            BACKSTOP_PAGES
        )
    finally:
        await store.close()
