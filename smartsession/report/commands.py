"""``smartsession sessions``, ``report`` and ``purge``: each takes its arguments, returns the exit code.

Every command reads the teacher config (``-c FILE``; defaults when absent) for the database,
the roster and the report settings; ``--db PATH`` overrides the database. With
``--school URL`` they read (or purge) the school's PostgreSQL server instead
(`smartsession.school.commands`); ``report --school URL --course NAME`` is the course view.
A purge on a hub that replicates (``[school] database_url``) erases on the server too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from smartsession.config import Config, load_config
from smartsession.report.format import clock
from smartsession.report.queries import ReportError, list_sessions, open_database


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"smartsession {prog}", description=description)
    parser.add_argument("-c", "--config", type=Path, help="teacher config file (TOML)")
    parser.add_argument("--db", type=Path, help="SQLite database (overrides the config)")
    parser.add_argument(
        "--school",
        metavar="URL",
        help="read the school's PostgreSQL server (every hub) instead of a database",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        help="with --school: the role's password (default: PGPASSWORD, ~/.pgpass)",
    )
    return parser


def _setup(args: argparse.Namespace) -> tuple[Config, Path]:
    config = load_config(args.config)
    return config, (args.db if args.db is not None else config.database_path)


def sessions_main(argv: Sequence[str]) -> int:
    """List stored sessions as a table, or JSON with ``--json``."""
    parser = _parser("sessions", "List stored sessions: id, class, start, end, students, duration.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(list(argv))
    if args.school:
        from smartsession.school.commands import school_sessions

        sessions = school_sessions(args.school, args.password_file)
        where = "on the school server"
    else:
        _, db = _setup(args)
        conn = open_database(db)
        with contextlib.closing(conn):
            sessions = list_sessions(conn)
        where = f"in {db}"
    if args.json:
        doc = [
            {
                "id": s.id,
                "class_id": s.class_id,
                "hub_id": s.hub_id,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "start": clock(s.started_at),
                "end": clock(s.end),
                "ended_cleanly": s.ended_at is not None,
                "students": s.students,
                "duration_minutes": round(s.duration / 60.0, 2),
            }
            for s in sessions
        ]
        print(json.dumps(doc, indent=1))
        return 0
    if not sessions:
        print(f"no sessions stored {where}")
        return 0
    header = ("SESSION", "CLASS", "START", "END", "STUDENTS", "DURATION")
    rows = [
        (
            f"{s.hub_id}/{s.id}" if args.school else s.id,
            s.class_id,
            clock(s.started_at),
            clock(s.end) + ("" if s.ended_at is not None else " *"),
            str(s.students),
            f"{s.duration / 60.0:.1f} min",
        )
        for s in sessions
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        print(
            "  ".join(
                cell.ljust(w) if i < 4 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    if any(s.ended_at is None for s in sessions):
        print("* not ended cleanly (still running, or the hub stopped abruptly): end = last activity")
    return 0


def report_main(argv: Sequence[str]) -> int:
    """Write one session's report (HTML by default) and print where it went."""
    from smartsession.report.export import export_report
    from smartsession.report.writers import FORMATS

    parser = _parser("report", "Export a session report: html (default), csv (a zip of tables), json, xlsx.")
    parser.add_argument(
        "session", nargs="?", default="latest", help="session id (or unique prefix), or 'latest'"
    )
    parser.add_argument("--format", "-f", choices=list(FORMATS), default="html")
    parser.add_argument(
        "-o", "--output", type=Path, help="output file (default: report-<class>-<time>.<ext> here)"
    )
    parser.add_argument(
        "--course",
        metavar="NAME",
        help="with --school: the sections of a course side by side ([class] course, or a class id prefix)",
    )
    parser.add_argument(
        "--since", metavar="DATE", help="with --course: only sessions started on or after DATE"
    )
    args = parser.parse_args(list(argv))
    if args.course or args.since:
        if not (args.school and args.course):
            parser.error(
                "--course NAME reads the school server: give --school URL (and --since only with it)"
            )
        return _course(args)
    config, db = _setup(args)
    if args.output is not None:
        _check_suffix(args.output, args.format, FORMATS[args.format])
    if args.school:
        from smartsession.school.commands import export_school_report

        try:
            path, report = export_school_report(
                args.school,
                args.session,
                args.format,
                out=args.output,
                folder=Path.cwd(),
                password_file=args.password_file,
                roster=config.roster.students,
                late_after_minutes=config.report.late_after_minutes,
                settings=config.class_settings,
                label_mode=config.tui.label_mode,
            )
        except OSError as exc:
            raise ReportError(f"cannot write the report: {exc}") from exc
        print(f"wrote {args.format} report of session {report.hub_id}/{report.session_id} to {path}")
        return 0
    try:
        path, report = export_report(
            db,
            args.session,
            args.format,
            out=args.output,
            folder=Path.cwd(),
            roster=config.roster.students,
            late_after_minutes=config.report.late_after_minutes,
            settings=config.class_settings,
            label_mode=config.tui.label_mode,
        )
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc}") from exc
    print(f"wrote {args.format} report of session {report.session_id} to {path}")
    return 0


def _check_suffix(output: Path, fmt: str, suffix: str) -> None:
    """A file named for another format is refused: ``--format csv -o out.csv`` would be a zip."""
    if output.suffix.lower() == suffix:
        return
    what = "a zip of CSV tables (one per table)" if fmt == "csv" else f"{fmt.upper()}"
    raise ReportError(
        f"--format {fmt} writes {what}: name the file {output.with_suffix(suffix).name}, not {output.name}"
    )


def _course(args: argparse.Namespace) -> int:
    from smartsession.school.commands import export_course_report

    config = load_config(args.config)
    try:
        path, report = export_course_report(
            args.school,
            args.course,
            args.format,
            out=args.output,
            folder=Path.cwd(),
            since=_parse_date(args.since, "--since") if args.since else None,
            password_file=args.password_file,
            late_after_minutes=config.report.late_after_minutes,
            settings=config.class_settings,
            label_mode=config.tui.label_mode,
        )
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc}") from exc
    print(f"wrote {args.format} course report of {report.course} ({len(report.sessions)} sessions) to {path}")
    return 0


def _parse_date(text: str, option: str = "--before") -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{option}: {text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time
    return when.timestamp()


def purge_main(argv: Sequence[str]) -> int:
    """Delete sessions started before a date, or every row of one student; asks first unless ``--yes``."""
    from smartsession.hub import retention

    parser = _parser("purge", "Delete stored data: sessions before a date, or everything about one student.")
    parser.add_argument(
        "--before", metavar="DATE", help="delete sessions that started before DATE (local time)"
    )
    parser.add_argument(
        "--student", metavar="ID", help="delete every row about this student, in every session"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(list(argv))
    if not args.before and not args.student:
        parser.error("give --before DATE and/or --student ID")
    cutoff = _parse_date(args.before) if args.before else None
    if args.school:
        from smartsession.school.commands import purge_school

        return purge_school(
            args.school,
            before=cutoff,
            before_text=clock(cutoff) if cutoff is not None else "",
            student=args.student,
            yes=args.yes,
            password_file=args.password_file,
        )
    config, db = _setup(args)
    conn = open_database(db)
    with contextlib.closing(conn):
        plan: list[str] = []
        session_ids: list[str] = []
        if cutoff is not None:
            session_ids = retention.sessions_started_before(conn, cutoff)
            counts = retention.count_sessions(conn, session_ids)
            plan.append(f"{len(session_ids)} sessions started before {clock(cutoff)} ({_rows(counts)})")
        if args.student:
            counts = retention.count_student(conn, args.student)
            plan.append(f"every row about student {args.student} ({_rows(counts)})")
        print(f"In {db} this deletes:\n  " + "\n  ".join(plan))
        if not args.yes:
            try:
                answer = input("Delete? This cannot be undone. [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted", file=sys.stderr)
                return 1
        total = 0
        if session_ids:
            deleted = retention.delete_sessions(conn, session_ids)
            total += sum(deleted.values())
            print(f"deleted {len(session_ids)} sessions: {_rows(deleted)}")
        elif cutoff is not None:
            print("deleted 0 sessions")
        if args.student:
            deleted = retention.delete_student(conn, args.student)
            total += sum(deleted.values())
            print(f"deleted student {args.student}: {_rows(deleted)}")
        print(f"deleted {total} rows in all")
    if config.school.database_url:
        _erase_on_school(config, db)
    return 0


def _erase_on_school(config: Config, db: Path) -> None:
    """This hub replicates: apply the erasures just queued on the school server too, with a count."""
    from smartsession.errors import SchoolError
    from smartsession.school.erasure import apply_queued

    try:
        deleted = apply_queued(config, db)
    except SchoolError as exc:
        print(f"not yet deleted on the school server: {exc}; the hub erases it there when it reconnects")
        return
    print(f"deleted on the school server: {_rows(deleted)} ({sum(deleted.values())} rows)")


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items()) or "no rows"
