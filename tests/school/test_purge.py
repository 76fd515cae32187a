"""Purge and retention on both tiers: a hub's purge erases its rows on the school server too, with a
count, even when the server is away at the time; an officer's purge erases a student in every hub."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest
from hub.wsagent import eventually

from smartsession.config import SchoolConfig
from smartsession.core.states import State
from smartsession.hub import Hub
from smartsession.hub.schema import connect, new_session_id
from smartsession.report.commands import purge_main
from smartsession.school import ledger

from .conftest import School
from .hubs import SECRET, hub_config, teach, teacher_toml
from .rows import school_rows, sqlite_rows

LESSON = {
    "intro": {"ann": [State.FOCUSED] * 6, "ben": [State.CONFUSED] * 4},
    "recursion": {"ann": [State.CONFUSED] * 3, "ben": [State.FOCUSED] * 5},
}
STUDENT_TABLES = ("samples", "events", "connections", "students")


def student_rows(rows: dict[str, list[tuple[object, ...]]], student: str) -> dict[str, int]:
    """Rows of ``student`` per student table (the column after session_id is student_id)."""
    return {t: sum(1 for r in rows[t] if r[1] == student) for t in STUDENT_TABLES}


def queued(db: Path) -> list[ledger.Erasure]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return ledger.pending_erasures(conn)


async def test_hub_purge_erases_on_the_school_server_too(
    school: School, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = hub_config(school, tmp_path / "a", "room-a", "10A")
    other = hub_config(school, tmp_path / "b", "room-b", "10B")
    for config in (room, other):
        await teach(config, LESSON)
    local = sqlite_rows(room.database_path)
    ann = student_rows(local, "ann")
    assert ann == {"samples": 9, "events": 1, "connections": 1, "students": 1}

    # The school server is away when the teacher purges: the count says so, the erasure waits.
    away = msgspec.structs.replace(
        room, school=SchoolConfig(database_url=f"postgresql://x@/y?host={tmp_path}", connect_timeout=2)
    )
    assert (
        purge_main(["-c", str(teacher_toml(away, tmp_path / "away.toml")), "--student", "ann", "--yes"]) == 0
    )
    out = capsys.readouterr().out
    assert f"deleted {sum(ann.values())} rows in all" in out
    assert "not yet deleted on the school server: the school server x@" in out and "is unreachable" in out
    assert "the hub erases it there when it reconnects" in out
    assert [(e.kind, e.target) for e in queued(room.database_path)] == [("student", "ann")]
    with school.admin() as conn:
        assert student_rows(school_rows(conn, "room-a"), "ann") == ann  # not yet

    # With the server there, a purge applies every queued erasure at once and counts it.
    toml = teacher_toml(room, tmp_path / "teacher.toml")
    assert purge_main(["-c", str(toml), "--student", "ben", "--yes"]) == 0
    out = capsys.readouterr().out
    ben = student_rows(local, "ben")
    expected = {t: ann[t] + ben[t] for t in STUDENT_TABLES}
    assert f"deleted on the school server: {', '.join(f'{expected[t]} {t}' for t in STUDENT_TABLES)}" in out
    with school.admin() as conn:
        remote = school_rows(conn, "room-a")
        assert remote == sqlite_rows(room.database_path)
        assert student_rows(remote, "ann") == dict.fromkeys(STUDENT_TABLES, 0)
        assert school_rows(conn, "room-b") == sqlite_rows(other.database_path)  # another hub's ann stays
        assert student_rows(school_rows(conn, "room-b"), "ann") == ann

    # The queue stays until the hub's replicator has applied it after its own shipments.
    assert len(queued(room.database_path)) == 2
    async with Hub(room, SECRET):
        await eventually(lambda: not queued(room.database_path), within=10)
    with school.admin() as conn:
        assert school_rows(conn, "room-a") == sqlite_rows(room.database_path)


def add_old_session(db: Path, days_ago: float) -> str:
    """A session of ``days_ago`` days ago with one student, stored as a hub of an earlier day did."""
    started = time.time() - days_ago * 86400
    session_id = new_session_id(started)
    with contextlib.closing(connect(db)) as conn:
        conn.execute(
            "INSERT INTO sessions (id, class_id, hub_id, started_at, ended_at) VALUES (?, '10R', 'room-r', ?, ?)",
            (session_id, started, started + 600),
        )
        conn.execute(
            "INSERT INTO students (session_id, student_id, name, host, first_seen, last_seen)"
            " VALUES (?, 'ann', 'Ann', 'pc', ?, ?)",
            (session_id, started, started + 600),
        )
        conn.executemany(
            "INSERT INTO samples (student_id, seq, session_id, ts, state, attention, confusion, faces, alert,"
            " reasons, cues) VALUES ('ann', ?, ?, ?, 'focused', 0.9, 0.1, 1, NULL, '[]', '{}')",
            [(seq, session_id, started + seq) for seq in range(1, 11)],
        )
    return session_id


async def test_retention_deletes_old_sessions_on_both_tiers(school: School, tmp_path: Path) -> None:
    keep_forever = hub_config(school, tmp_path, "room-r", "10R", retention_days=0)
    old = add_old_session(keep_forever.database_path, days_ago=40)
    await teach(keep_forever, LESSON)  # the first replication ships the older session too
    with school.admin() as conn:
        assert school_rows(conn, "room-r") == sqlite_rows(keep_forever.database_path)
        assert conn.execute(
            "SELECT count(*) FROM smartsession.samples WHERE session_id = %s", (old,)
        ).fetchone() == (10,)

    thirty_days = msgspec.structs.replace(
        keep_forever, storage=msgspec.structs.replace(keep_forever.storage, retention_days=30)
    )
    await teach(thirty_days, LESSON)  # retention runs at start: the old session goes, on both tiers
    local = sqlite_rows(thirty_days.database_path)
    assert old not in {r[0] for r in local["sessions"]} and len(local["sessions"]) == 2
    with school.admin() as conn:
        assert school_rows(conn, "room-r") == local
    assert queued(thirty_days.database_path) == []


async def test_officer_purges_a_student_in_every_hub(
    school: School, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for hub_id in ("room-x", "room-y"):
        await teach(hub_config(school, tmp_path / hub_id, hub_id, hub_id.upper()), LESSON)
    url, password = school.add_officer("dpo")
    password_file = tmp_path / "dpo.pass"
    password_file.write_text(password)
    os.chmod(password_file, 0o600)
    with school.admin() as conn:
        before = {h: student_rows(school_rows(conn, h), "ann") for h in ("room-x", "room-y")}
    total = sum(sum(c.values()) for c in before.values())
    assert total == 2 * 12

    args = ["--school", url, "--password-file", str(password_file), "--student", "ann"]
    monkey_input = iter(["n"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.input", lambda prompt: next(monkey_input))
        assert purge_main(args) == 1
    out = capsys.readouterr()
    assert "every row about student ann (18 samples, 2 events, 2 connections, 2 students)" in out.out
    assert "nothing deleted" in out.err
    assert purge_main([*args, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted student ann on the school server: 18 samples, 2 events, 2 connections, 2 students" in out
    assert f"deleted {total} rows in all on the school server" in out
    with school.admin() as conn:
        for hub_id in ("room-x", "room-y"):
            rows = school_rows(conn, hub_id)
            assert student_rows(rows, "ann") == dict.fromkeys(STUDENT_TABLES, 0)
            assert student_rows(rows, "ben")["samples"] == 9

    assert (
        purge_main(["--school", url, "--password-file", str(password_file), "--before", "2999-01-01", "-y"])
        == 0
    )
    out = capsys.readouterr().out
    assert "deleted 2 sessions on the school server" in out
    with school.admin() as conn:
        assert conn.execute("SELECT count(*) FROM smartsession.samples").fetchone() == (0,)
