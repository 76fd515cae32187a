"""Row-level security: a hub's role reads and changes its own rows only; a reader reads every hub's."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from smartsession.core.states import State
from smartsession.school.connection import connect, read_password

from .conftest import School
from .hubs import hub_config, teach
from .rows import TABLES, school_rows, sqlite_rows

#: Two of three Confused at once: a class alert, so every table has rows.
LESSON = {"intro": {"ann": [State.FOCUSED] * 5, "ben": [State.CONFUSED] * 3, "cy": [State.CONFUSED] * 3}}


async def test_a_hub_role_cannot_read_or_change_another_hubs_rows(school: School, tmp_path: Path) -> None:
    room_a = hub_config(school, tmp_path / "a", "room-a", "10A")
    room_b = hub_config(school, tmp_path / "b", "room-b", "10B")
    await teach(room_a, LESSON)
    await teach(room_b, LESSON)
    with school.admin() as admin:
        before_b = school_rows(admin, "room-b")
    assert before_b == sqlite_rows(room_b.database_path) and before_b["samples"]

    password = read_password(Path(room_a.school.password_file))
    with connect(room_a.school.database_url, password) as conn:
        for table in TABLES:
            hubs = conn.execute(f"SELECT DISTINCT hub_id FROM smartsession.{table}").fetchall()
            assert hubs == [("room-a",)], table  # its own rows, and no other hub's
        assert school_rows(conn, "room-b") == {table: [] for table in TABLES}

        for statement in (
            "UPDATE smartsession.samples SET attention = 0 WHERE hub_id = 'room-b'",
            "DELETE FROM smartsession.samples WHERE hub_id = 'room-b'",
            "DELETE FROM smartsession.sessions",
        ):
            changed = conn.execute(statement).rowcount
            assert changed == (1 if statement.endswith("sessions") else 0), statement
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO smartsession.sessions (hub_id, id, class_id, started_at) VALUES ('room-b', 'x', 'c', 1)"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE smartsession.samples SET hub_id = 'room-b'")  # moving its rows over
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM smartsession.hubs")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE smartsession.mine (x int)")
        role_b = psycopg.sql.Identifier(f"{school.database}_room-b")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(psycopg.sql.SQL("SET ROLE {}").format(role_b))

    with school.admin() as admin:
        assert school_rows(admin, "room-b") == before_b  # untouched
        assert admin.execute(
            "SELECT count(*) FROM smartsession.sessions WHERE hub_id = 'room-a'"
        ).fetchone() == (0,)

    url, password = school.add_officer("dpo")
    with connect(url, password) as reader:
        assert school_rows(reader, "room-b") == before_b
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(
                "INSERT INTO smartsession.sessions (hub_id, id, class_id, started_at) VALUES ('room-b', 'y', 'c', 1)"
            )
