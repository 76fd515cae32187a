"""``smartsession purge``: by student and by date, with a confirmation and counts, on a copy of the recorded DB."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from smartsession.report.commands import purge_main

from .conftest import Recorded, copy_db

TABLES = ("samples", "events", "connections", "students")


def counts(db: Path, where: str = "1", *params: object) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE {where}", params).fetchone()[0] for t in TABLES
        }


def test_purge_student_asks_then_deletes_every_row_of_them(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = copy_db(recorded.db, tmp_path / "copy.db")
    before = counts(db, "student_id = ?", "pc-01")
    assert before["samples"] > 0 and before["students"] == 1 and before["connections"] >= 1
    others = counts(db, "student_id != ?", "pc-01")

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert purge_main(["--db", str(db), "--student", "pc-01"]) == 1
    assert counts(db, "student_id = ?", "pc-01") == before
    out = capsys.readouterr()
    assert f"{before['samples']} samples" in out.out and "nothing deleted" in out.err

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert purge_main(["--db", str(db), "--student", "pc-01"]) == 0
    assert counts(db, "student_id = ?", "pc-01") == dict.fromkeys(TABLES, 0)
    assert counts(db, "student_id != ?", "pc-01") == others
    text = capsys.readouterr().out
    assert f"deleted {sum(before.values())} rows in all" in text
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_purge_before_a_date_deletes_whole_sessions(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = copy_db(recorded.db, tmp_path / "copy.db")
    assert purge_main(["--db", str(db), "--before", "2000-01-01", "--yes"]) == 0
    assert "deleted 0 sessions" in capsys.readouterr().out
    assert counts(db)["samples"] > 0
    total = sum(counts(db).values())
    assert purge_main(["--db", str(db), "--before", "2999-01-01T00:00", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 sessions" in out
    assert f"deleted {total + 1 + 2} rows in all" in out  # + the session row + its 2 segments
    assert counts(db) == dict.fromkeys(TABLES, 0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 0


def test_purge_needs_a_target_and_a_valid_date(recorded: Recorded) -> None:
    from smartsession.report.queries import ReportError

    with pytest.raises(SystemExit):
        purge_main(["--db", str(recorded.db)])
    with pytest.raises(ReportError, match="not a date"):
        purge_main(["--db", str(recorded.db), "--before", "yesterday"])
