"""``smartsession school migrate|add-hub``: the admin's commands, through the real command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from psycopg import sql

from smartsession.cli import main
from smartsession.school.connection import connect, read_password

from .conftest import School


def test_add_hub_then_migrate(
    school: School, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = f"{school.database}_z"
    school.roles.append(role)
    password_file = tmp_path / "keys" / "room-z.pgpass"
    args = [
        "school",
        "add-hub",
        "room-z",
        "--url",
        school.admin_url,
        "--password-file",
        str(password_file),
        "--role",
        role,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"made role {role} for hub room-z" in out and f'database_url = "postgresql://{role}@HOST' in out
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = read_password(password_file)
    with connect(school.url(role), password) as conn:
        assert conn.execute("SELECT smartsession.current_hub()").fetchone() == ("room-z",)
    assert main(args) == 0  # again: the same password file, the role updated
    assert f"updated role {role}" in capsys.readouterr().out
    assert read_password(password_file) == password

    fresh = f"{school.database}_new"
    with connect(school.server.url()) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(fresh)))
    try:
        monkeypatch.setenv("PGPASSWORD", password)  # libpq's own place for a password
        assert main(["school", "migrate", "--url", school.server.url(role, fresh)]) == 1
        err = capsys.readouterr().err
        assert "this role may not set up the school database" in err and "CREATEROLE" in err
        assert main(["school", "migrate", "--url", school.server.url(database=fresh)]) == 0
        assert "from schema version 0 to 3" in capsys.readouterr().out
        assert main(["school", "migrate", "--url", school.server.url(database=fresh)]) == 0
        assert "is up to date (schema version 3)" in capsys.readouterr().out
    finally:
        with connect(school.server.url()) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(fresh)))
