"""The school tier on the command line.

``smartsession school migrate|add-hub`` (the school's admin sets the server up), and the
``--school URL`` side of ``sessions``, ``report`` and ``purge``
(`smartsession.report.commands` hands over to the functions here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from smartsession.core.classwide import ClassSettings
from smartsession.report.export import default_file_name
from smartsession.report.items import SessionReport
from smartsession.report.model import build_report
from smartsession.report.queries import ReportError, SessionInfo
from smartsession.school import erasure, pgschema, readers
from smartsession.school.connection import Connection, connect, describe_server, read_password
from smartsession.school.course import CourseReport, build_course_report
from smartsession.school.course_output import COURSE_FORMATS, course_text, write_course


def open_school(url: str, password_file: Path | None = None) -> Connection:
    """Connect to the school server for reports or purges; `SchoolError` (one sentence) if it cannot."""
    password = read_password(password_file) if password_file is not None else ""
    conn = connect(url, password, application_name="smartsession reports")
    try:
        pgschema.check_version(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def school_sessions(url: str, password_file: Path | None = None) -> list[SessionInfo]:
    """Every session on the school server, oldest first."""
    with open_school(url, password_file) as conn:
        return readers.list_sessions(conn)


def school_report(
    url: str,
    ref: str,
    *,
    password_file: Path | None = None,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> SessionReport:
    """The report of session ``ref`` read from the school server (the same model as from a hub)."""
    with open_school(url, password_file) as conn:
        session = readers.find_session(conn, ref)
        data = readers.read_session(conn, session)
    return build_report(
        data, roster=roster, late_after_minutes=late_after_minutes, settings=settings, label_mode=label_mode
    )


def export_school_report(
    url: str,
    ref: str,
    fmt: str,
    *,
    out: Path | None,
    folder: Path,
    password_file: Path | None = None,
    roster: Mapping[str, str] | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> tuple[Path, SessionReport]:
    """Write the report of ``ref`` from the school server as ``fmt``; returns where and the report."""
    from smartsession.report.writers import write

    report = school_report(
        url,
        ref,
        password_file=password_file,
        roster=roster,
        late_after_minutes=late_after_minutes,
        settings=settings,
        label_mode=label_mode,
    )
    path = out if out is not None else folder / default_file_name(report, fmt)
    return write(report, fmt, path), report


def course_report(
    url: str,
    course: str,
    *,
    since: float | None = None,
    password_file: Path | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> CourseReport:
    """The course view of ``course`` from the school server."""
    with open_school(url, password_file) as conn:
        sessions = readers.course_sessions(conn, course, since)
        reports = [
            build_report(
                readers.read_session(conn, s),
                late_after_minutes=late_after_minutes,
                settings=settings,
                label_mode=label_mode,
            )
            for s in sessions
        ]
    return build_course_report(course, reports, label_mode)


def export_course_report(
    url: str,
    course: str,
    fmt: str,
    *,
    out: Path | None,
    folder: Path,
    since: float | None = None,
    password_file: Path | None = None,
    late_after_minutes: float = 5.0,
    settings: ClassSettings | None = None,
    label_mode: str = "states",
) -> tuple[Path, CourseReport]:
    """Print the course view and write it as ``fmt`` (html or json); returns where and the report."""
    if fmt not in COURSE_FORMATS:
        raise ReportError(f"a course report is {' or '.join(COURSE_FORMATS)}, not {fmt}")
    report = course_report(
        url,
        course,
        since=since,
        password_file=password_file,
        late_after_minutes=late_after_minutes,
        settings=settings,
        label_mode=label_mode,
    )
    print(course_text(report), end="")
    path = out if out is not None else folder / f"course-{course}{COURSE_FORMATS[fmt]}"
    return write_course(report, fmt, path), report


def _rows(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items()) or "no rows"


def purge_school(
    url: str,
    *,
    before: float | None,
    before_text: str,
    student: str | None,
    yes: bool,
    password_file: Path | None = None,
) -> int:
    """``purge --school``: delete on the server (every hub's rows), asking first unless ``yes``."""
    with open_school(url, password_file) as conn:
        plan: list[str] = []
        keys: list[tuple[str, str]] = []
        if before is not None:
            keys = erasure.sessions_before(conn, before)
            plan.append(
                f"{len(keys)} sessions started before {before_text} ({_rows(erasure.count_sessions(conn, keys))})"
            )
        if student:
            plan.append(f"every row about student {student} ({_rows(erasure.count_student(conn, student))})")
        print(f"On the school server {describe_server(url)} this deletes:\n  " + "\n  ".join(plan))
        print("(each hub keeps its own copy: purge there too, which also erases it here)")
        if not yes:
            try:
                answer = input("Delete? This cannot be undone. [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted", file=sys.stderr)
                return 1
        total = 0
        if before is not None:
            deleted = erasure.delete_sessions(conn, keys)
            total += sum(deleted.values())
            print(f"deleted {len(keys)} sessions on the school server: {_rows(deleted)}")
        if student:
            deleted = erasure.delete_student(conn, student)
            total += sum(deleted.values())
            print(f"deleted student {student} on the school server: {_rows(deleted)}")
        print(f"deleted {total} rows in all on the school server")
    return 0


# smartsession school ... --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartsession school", description="Set up the school's PostgreSQL server for SmartSession hubs."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = sub.add_parser(
        "migrate", help="create or upgrade the school schema, roles and row-level security"
    )
    migrate.add_argument("--url", required=True, help="the database owner's URL (a role with CREATEROLE)")
    add = sub.add_parser("add-hub", help="make (or update) the login role of one hub")
    add.add_argument("hub_id", help="the hub's [hub] hub_id")
    add.add_argument("--url", required=True, help="the database owner's URL (a role with CREATEROLE)")
    add.add_argument(
        "--password-file",
        type=Path,
        required=True,
        help="the role's password: read from this file, or made and written there (chmod 600) if absent",
    )
    add.add_argument("--role", help="the login role's name (default ss_<hub id>)")
    return parser


def _password_for(path: Path) -> str:
    if path.exists():
        return read_password(path)
    password = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    return password


def main(argv: Sequence[str]) -> int:
    """``smartsession school migrate|add-hub``; returns the exit code."""
    args = _parser().parse_args(list(argv))
    if args.action == "migrate":
        with contextlib.closing(connect(args.url, application_name="smartsession school")) as conn:
            before = pgschema.migrate(conn)
        where = describe_server(args.url)
        if before == pgschema.SCHEMA_VERSION:
            print(f"the school database {where} is up to date (schema version {before})")
        else:
            print(
                f"migrated the school database {where} from schema version {before} to {pgschema.SCHEMA_VERSION}"
            )
        return 0
    role = args.role or pgschema.default_role(args.hub_id)
    password = _password_for(args.password_file)
    with contextlib.closing(connect(args.url, application_name="smartsession school")) as conn:
        created = pgschema.add_hub(conn, args.hub_id, role, password)
    print(
        f"{'made' if created else 'updated'} role {role} for hub {args.hub_id}; on that hub set\n"
        f'  [school]\n  database_url = "postgresql://{role}@HOST/DATABASE?sslmode=verify-full&sslrootcert=CA.pem"\n'
        f'  password_file = "{args.password_file}"   # copy it there, chmod 600'
    )
    return 0
