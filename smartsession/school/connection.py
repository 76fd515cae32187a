"""Connecting to the school's PostgreSQL server, and saying in one sentence why it failed.

URLs are libpq's (``postgresql://ROLE@HOST/DATABASE?sslmode=verify-full&sslrootcert=CA.pem``);
the password comes from a file (``school.password_file``, owner-only) or, when none is
given, from libpq's own places (``PGPASSWORD``, ``~/.pgpass``). Connections are in
autocommit mode: writes go in explicit ``conn.transaction()`` blocks.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from smartsession.errors import SchoolError

Connection = psycopg.Connection[tuple[Any, ...]]

#: Milliseconds one statement may run on the school server before it is cancelled.
STATEMENT_TIMEOUT_MS = 60_000


def read_password(path: Path) -> str:
    """The password in ``path`` (first line); `SchoolError` if missing, empty or readable by others."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchoolError(
            f"school.password_file {path} does not exist: write the hub role's password there (chmod 600)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchoolError(f"cannot read school.password_file {path}: {exc}") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SchoolError(f"school.password_file {path} is readable by others; run: chmod 600 {path}")
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise SchoolError(f"school.password_file {path} is empty")
    return password


def describe_server(url: str) -> str:
    """Where ``url`` points, for messages: ``ROLE@HOST[:PORT]/DATABASE`` (never a password)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an invalid URL)"
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{host}{port}/{info.get('dbname') or ''}"


def _role(url: str) -> str:
    try:
        return str(conninfo_to_dict(url).get("user") or "(your login name)")
    except psycopg.ProgrammingError:
        return "?"


def _reason(exc: BaseException) -> str:
    """libpq's own reason, without the "connection to server ... failed:" preamble."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.split("failed: ")[-1]
    return re.sub(r"^(FATAL|ERROR):\s+", "", text).strip().rstrip(".")


_UNREACHABLE = (
    "refused",
    "no such file",
    "timeout",
    "timed out",
    "resolve host",
    "could not translate host",
    "closed the connection",
    "terminating connection",
    "shutting down",
    "starting up",
    "network is unreachable",
    "no route to host",
    "connection is lost",
    "connection is bad",
    "server closed",
    "consuming input failed",
    "sending query failed",
)


def describe_error(exc: BaseException, url: str) -> SchoolError:
    """A failure to use the school server at ``url`` as a `SchoolError`: one sentence, and a short form."""
    if isinstance(exc, SchoolError):
        return exc
    where, role, reason = describe_server(url), _role(url), _reason(exc)
    low = str(exc).lower()
    if "password authentication failed" in low:
        return SchoolError(
            f"the school server {where} refused the password of role {role}: check school.password_file "
            "(or set the password again with 'smartsession school add-hub')",
            f"password of role {role} refused",
        )
    if "no password supplied" in low:
        return SchoolError(
            f"the school server {where} wants a password for role {role}: set school.password_file",
            f"no password for role {role}",
        )
    if "role" in low and "does not exist" in low:
        return SchoolError(
            f"the school server {where} has no role {role}: make it with 'smartsession school add-hub'",
            f"no role {role} on the server",
        )
    if "database" in low and "does not exist" in low:
        return SchoolError(f"the school server {where}: {reason}", reason)
    if "certificate" in low or "ssl" in low:
        return SchoolError(
            f"no trusted TLS connection to the school server {where} ({reason}): with sslmode=verify-full, "
            "sslrootcert must name the school's CA file and the URL's host must match the certificate",
            f"TLS: {reason}",
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return SchoolError(
            f"role {role} may not do this on the school server {where} ({reason})", f"role {role}: {reason}"
        )
    if isinstance(exc, psycopg.OperationalError) or any(word in low for word in _UNREACHABLE):
        return SchoolError(f"the school server {where} is unreachable ({reason})", f"unreachable ({reason})")
    return SchoolError(f"the school server {where} failed: {reason}", reason)


def connect(
    url: str, password: str = "", *, timeout: int = 10, application_name: str = "smartsession"
) -> Connection:
    """Open an autocommit connection to ``url``; `SchoolError` (one sentence) when it cannot."""
    options: dict[str, Any] = {
        "connect_timeout": timeout,
        "application_name": application_name,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if password:
        options["password"] = password
    try:
        conn = psycopg.connect(url, autocommit=True, **options)
    except (psycopg.Error, OSError) as exc:
        raise describe_error(exc, url) from exc
    try:
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS:d}")
    except psycopg.Error as exc:
        conn.close()
        raise describe_error(exc, url) from exc
    return conn
