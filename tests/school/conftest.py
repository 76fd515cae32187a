"""A real PostgreSQL for the school tests: one throwaway server per test session, a database per test.

The server (`ThrowawayPostgres`: Debian's postgresql binaries, a temporary folder, a Unix
socket, no TCP port) starts once and is destroyed at the end. Each test gets a fresh
database (with an ICU en-US collation, as a real server might have) with the school schema, made by the same `migrate` as ``smartsession school
migrate``, and hub roles made by the same `add_hub` as ``smartsession school add-hub``.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from psycopg import sql

from smartsession.school import pgschema
from smartsession.school.connection import Connection, connect
from smartsession.school.throwaway import ThrowawayPostgres

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass
class School:
    """One test's school database on the shared server."""

    server: ThrowawayPostgres
    database: str
    folder: Path
    roles: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return self.server.url(database=self.database)

    def admin(self) -> Connection:
        return connect(self.admin_url)

    def url(self, role: str) -> str:
        return self.server.url(role, self.database)

    def add_hub(self, hub_id: str) -> tuple[str, Path]:
        """A hub role for ``hub_id``: its URL and an owner-only password file."""
        role = f"{self.database}_{hub_id}"
        password = secrets.token_urlsafe(16)
        with self.admin() as conn:
            pgschema.add_hub(conn, hub_id, role, password)
        self.roles.append(role)
        path = self.folder / f"{hub_id}.pgpass"
        path.write_text(password + "\n")
        os.chmod(path, 0o600)
        return self.url(role), path

    def add_officer(self, name: str) -> tuple[str, str]:
        """A login role in ``smartsession_officer`` (and so reader): its URL and password."""
        role = f"{self.database}_{name}"
        password = secrets.token_urlsafe(16)
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE smartsession_officer").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        self.roles.append(role)
        return self.url(role), password


@pytest.fixture
def school(postgres: ThrowawayPostgres, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[School]:
    name = f"t{next(_numbers)}_{re.sub(r'[^a-z0-9]+', '_', request.node.name.lower())[:40]}"
    with connect(postgres.url()) as conn:
        # A natural-language collation, as a school server would have: text sorts "ann" < "Ben"
        # there, unlike SQLite, which the readers must not let show in reports.
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
            ).format(sql.Identifier(name))
        )
    here = School(postgres, name, tmp_path)
    with here.admin() as conn:
        pgschema.migrate(conn)
    try:
        yield here
    finally:
        with connect(postgres.url()) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for role in here.roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
