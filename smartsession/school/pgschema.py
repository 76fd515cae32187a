"""The school database on PostgreSQL: schema, migrations, group roles, row-level security, hub roles.

Everything lives in the schema ``smartsession``. Each table has the rows of every hub,
keyed by ``hub_id`` first; a hub's rows are exactly what its SQLite store holds (samples
and events by hub, session, student and seq; the other tables by their natural keys).

Three group roles (cluster-wide, ``NOLOGIN``) carry the privileges; login roles are made
members of them:

- ``smartsession_hub``: one login role per hub (`add_hub`), mapped to its hub id in
  ``smartsession.hubs``. Row-level security limits it to rows whose ``hub_id`` is its own
  (``smartsession.current_hub()``, from the session user): it inserts, updates (upserts)
  and deletes (erasure, retention) its own rows, reads its own rows, and sees nothing else.
- ``smartsession_reader``: reads every row (reports, the course view).
- ``smartsession_officer``: reads and deletes every row (``smartsession purge --school``).

Migrations run like the SQLite ones (`smartsession.hub.schema`): a version number
(``smartsession.schema_version``) and a list of steps, applied in one transaction under an
advisory lock, so two admins (or hubs) migrating at once do not race. Only a role that may
create schemas and roles (the database's owner with CREATEROLE) can migrate;
``smartsession school migrate`` does it once, hubs only check the version.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from smartsession.errors import SchoolError
from smartsession.school.connection import Connection, connect

log = logging.getLogger(__name__)

#: The schema holding every SmartSession table on the school server.
SCHEMA = "smartsession"
#: Current version of the school schema.
SCHEMA_VERSION = 3
#: Tables holding rows of hubs (each has a ``hub_id`` column), in the order erasures visit them.
DATA_TABLES: tuple[str, ...] = (
    "samples",
    "events",
    "connections",
    "students",
    "segments",
    "class_events",
    "sessions",
)
#: Key of the advisory lock held while migrating.
_LOCK = 0x5353_4D49_4752  # "SSMIGR"

_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartsession_hub') THEN
            CREATE ROLE smartsession_hub NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartsession_reader') THEN
            CREATE ROLE smartsession_reader NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartsession_officer') THEN
            CREATE ROLE smartsession_officer NOLOGIN;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO smartsession_hub, smartsession_reader,'
                       ' smartsession_officer', current_database());
    END $$;

    CREATE TABLE smartsession.hubs (
        hub_id text PRIMARY KEY,
        role_name text NOT NULL UNIQUE,
        added_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE FUNCTION smartsession.current_hub() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$ SELECT hub_id FROM smartsession.hubs WHERE role_name = session_user $$;
    REVOKE ALL ON FUNCTION smartsession.current_hub() FROM PUBLIC;

    CREATE TABLE smartsession.sessions (
        hub_id text NOT NULL,
        id text NOT NULL,
        class_id text NOT NULL,
        course text NOT NULL DEFAULT '',
        started_at double precision NOT NULL,
        ended_at double precision,
        PRIMARY KEY (hub_id, id)
    );
    CREATE INDEX sessions_class ON smartsession.sessions (class_id, started_at);
    CREATE INDEX sessions_course ON smartsession.sessions (course, started_at);
    CREATE TABLE smartsession.students (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        student_id text NOT NULL,
        name text NOT NULL,
        host text NOT NULL,
        first_seen double precision NOT NULL,
        last_seen double precision NOT NULL,
        PRIMARY KEY (hub_id, session_id, student_id)
    );
    CREATE INDEX students_student ON smartsession.students (student_id);
    CREATE TABLE smartsession.connections (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        student_id text NOT NULL,
        connected_at double precision NOT NULL,
        disconnected_at double precision,
        PRIMARY KEY (hub_id, session_id, student_id, connected_at)
    );
    CREATE INDEX connections_student ON smartsession.connections (student_id);
    CREATE TABLE smartsession.samples (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        student_id text NOT NULL,
        seq bigint NOT NULL,
        ts double precision NOT NULL,
        state text NOT NULL,
        attention double precision NOT NULL,
        confusion double precision NOT NULL,
        faces integer NOT NULL,
        alert text,
        reasons text NOT NULL,
        cues text NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (hub_id, session_id, student_id, seq)
    );
    CREATE INDEX samples_student ON smartsession.samples (student_id);
    CREATE TABLE smartsession.events (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        student_id text NOT NULL,
        seq bigint NOT NULL,
        ts double precision NOT NULL,
        kind text NOT NULL,
        state text NOT NULL,
        reason text,
        detail text NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (hub_id, session_id, student_id, seq)
    );
    CREATE INDEX events_student ON smartsession.events (student_id);
    CREATE TABLE smartsession.segments (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        id bigint NOT NULL,
        started_at double precision NOT NULL,
        label text NOT NULL,
        PRIMARY KEY (hub_id, session_id, id)
    );

    GRANT USAGE ON SCHEMA smartsession TO smartsession_hub, smartsession_reader, smartsession_officer;
    GRANT SELECT ON smartsession.schema_version TO smartsession_hub, smartsession_reader, smartsession_officer;
    GRANT EXECUTE ON FUNCTION smartsession.current_hub() TO smartsession_hub;
    GRANT SELECT ON smartsession.hubs TO smartsession_reader, smartsession_officer;
    DO $$
    DECLARE t text;
    BEGIN
        FOREACH t IN ARRAY ARRAY['sessions', 'students', 'connections', 'samples', 'events', 'segments'] LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON smartsession.%I TO smartsession_hub', t);
            EXECUTE format('GRANT SELECT ON smartsession.%I TO smartsession_reader', t);
            EXECUTE format('GRANT SELECT, DELETE ON smartsession.%I TO smartsession_officer', t);
            EXECUTE format('ALTER TABLE smartsession.%I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY own_rows ON smartsession.%I TO smartsession_hub'
                           ' USING (hub_id = (SELECT smartsession.current_hub()))'
                           ' WITH CHECK (hub_id = (SELECT smartsession.current_hub()))', t);
            EXECUTE format('CREATE POLICY school_reads ON smartsession.%I FOR SELECT'
                           ' TO smartsession_reader, smartsession_officer USING (true)', t);
            EXECUTE format('CREATE POLICY school_erasures ON smartsession.%I FOR DELETE'
                           ' TO smartsession_officer USING (true)', t);
        END LOOP;
    END $$;
    """,
    # version 2: class events (confusion spikes, the hub offline), as the hub's SQLite
    # schema version 5 keeps them; the same privileges and row-level security as the others.
    """
    CREATE TABLE smartsession.class_events (
        hub_id text NOT NULL,
        session_id text NOT NULL,
        kind text NOT NULL,
        number bigint NOT NULL,
        started_at double precision NOT NULL,
        ended_at double precision,
        onset double precision NOT NULL,
        present integer NOT NULL,
        peak integer NOT NULL,
        segment bigint,
        students text NOT NULL,
        PRIMARY KEY (hub_id, session_id, kind, number)
    );
    GRANT SELECT, INSERT, UPDATE, DELETE ON smartsession.class_events TO smartsession_hub;
    GRANT SELECT ON smartsession.class_events TO smartsession_reader;
    GRANT SELECT, DELETE ON smartsession.class_events TO smartsession_officer;
    ALTER TABLE smartsession.class_events ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON smartsession.class_events TO smartsession_hub
        USING (hub_id = (SELECT smartsession.current_hub()))
        WITH CHECK (hub_id = (SELECT smartsession.current_hub()));
    CREATE POLICY school_reads ON smartsession.class_events FOR SELECT
        TO smartsession_reader, smartsession_officer USING (true);
    CREATE POLICY school_erasures ON smartsession.class_events FOR DELETE
        TO smartsession_officer USING (true);
    """,
    # version 3: a sample's seat checks (the hub's SQLite schema version 6): the word and the
    # numbers only, as JSON; never a descriptor.
    """
    ALTER TABLE smartsession.samples ADD COLUMN seat text;
    """,
)


def schema_version(conn: Connection) -> int:
    """The school schema's version (0: none yet). Reads only; leaves no transaction open on errors."""
    row = conn.execute(
        "SELECT to_regclass('smartsession.schema_version') IS NOT NULL",
    ).fetchone()
    if row is None or not row[0]:
        return 0
    version = conn.execute("SELECT max(version) FROM smartsession.schema_version").fetchone()
    return int(version[0]) if version is not None and version[0] is not None else 0


def migrate(conn: Connection) -> int:
    """Create or upgrade the school schema to `SCHEMA_VERSION`; returns the version it was at.

    Needs a role that may create schemas and roles. Raises `SchoolError` for a newer schema
    or missing privileges.
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute("CREATE SCHEMA IF NOT EXISTS smartsession")
            conn.execute("CREATE TABLE IF NOT EXISTS smartsession.schema_version (version integer NOT NULL)")
            before = schema_version(conn)
            if before > SCHEMA_VERSION:
                raise SchoolError(
                    f"the school database is at schema version {before}, newer than this SmartSession "
                    f"({SCHEMA_VERSION}): upgrade SmartSession"
                )
            for target in range(before + 1, SCHEMA_VERSION + 1):
                conn.execute(_MIGRATIONS[target - 1].encode())
                conn.execute("DELETE FROM smartsession.schema_version")
                conn.execute("INSERT INTO smartsession.schema_version (version) VALUES (%s)", (target,))
                log.info("school database migrated to schema version %d", target)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SchoolError(
            f"this role may not set up the school database ({exc.diag.message_primary}): run "
            "'smartsession school migrate' with the database owner's URL (a role with CREATEROLE)"
        ) from exc
    return before


def check_version(conn: Connection) -> None:
    """Raise `SchoolError` unless the school schema is exactly at `SCHEMA_VERSION`."""
    version = schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version == 0:
        raise SchoolError(
            "the school database has no SmartSession schema yet: run 'smartsession school migrate "
            "--url ADMIN_URL' once"
        )
    if version < SCHEMA_VERSION:
        raise SchoolError(
            f"the school database is at schema version {version}, this hub needs {SCHEMA_VERSION}: run "
            "'smartsession school migrate --url ADMIN_URL'"
        )
    raise SchoolError(
        f"the school database is at schema version {version}, newer than this SmartSession "
        f"({SCHEMA_VERSION}): upgrade SmartSession on this hub"
    )


def default_role(hub_id: str) -> str:
    """The login role `add_hub` makes for a hub unless told otherwise: ``ss_<hub id>``."""
    return f"ss_{hub_id}"


def add_hub(conn: Connection, hub_id: str, role: str, password: str) -> bool:
    """Make (or update) the login role of hub ``hub_id`` with ``password``; True if the role is new.

    The password reaches the server only as a SCRAM-SHA-256 verifier computed here, so it
    never appears in the server's logs. The role joins ``smartsession_hub`` and is mapped to
    ``hub_id``, which row-level security then limits it to.
    """
    if not hub_id:
        raise SchoolError("a hub id is needed: the [hub] hub_id of the hub this role is for")
    if len(role.encode()) > 63:
        raise SchoolError(f"role name {role!r} is longer than PostgreSQL's 63 bytes: choose one with --role")
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    with conn.transaction():
        check_version(conn)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(role), sql.Literal(verifier)
            )
        )
        conn.execute(sql.SQL("GRANT smartsession_hub TO {}").format(sql.Identifier(role)))
        taken = conn.execute(
            "SELECT hub_id FROM smartsession.hubs WHERE role_name = %s AND hub_id <> %s", (role, hub_id)
        ).fetchone()
        if taken is not None:
            raise SchoolError(
                f"role {role!r} already belongs to hub {taken[0]!r}: choose another with --role"
            )
        owner = conn.execute(
            "SELECT role_name FROM smartsession.hubs WHERE hub_id = %s", (hub_id,)
        ).fetchone()
        conn.execute(
            "INSERT INTO smartsession.hubs (hub_id, role_name) VALUES (%s, %s)"
            " ON CONFLICT (hub_id) DO UPDATE SET role_name = excluded.role_name",
            (hub_id, role),
        )
    if owner is not None and owner[0] != role:
        log.warning("hub %r was mapped to role %r; it is now mapped to %r", hub_id, owner[0], role)
    return not exists


def connect_hub(url: str, password: str, hub_id: str, *, timeout: int = 10) -> Connection:
    """Connect as hub ``hub_id``'s role and check the schema version and the role's hub.

    Raises `SchoolError` (one sentence) when the server is unusable for this hub.
    """
    conn = connect(url, password, timeout=timeout, application_name=f"smartsession hub {hub_id}")
    try:
        check_version(conn)
        row = conn.execute("SELECT smartsession.current_hub()").fetchone()
        mine = row[0] if row is not None else None
        role = conn.info.user
        if mine is None:
            raise SchoolError(
                f"role {role} is not a hub role of the school database: run 'smartsession school add-hub "
                f"{hub_id} --url ADMIN_URL --password-file FILE'"
            )
        if mine != hub_id:
            raise SchoolError(
                f"role {role} is the school role of hub {mine!r}, not of this hub {hub_id!r} "
                "(check [hub] hub_id and the role in school.database_url)"
            )
    except BaseException:
        conn.close()
        raise
    return conn
