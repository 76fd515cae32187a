"""Reports of a recorded session: JSON and CSV parsed back and checked against the stored rows; xlsx."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from smartsession.report.commands import report_main, sessions_main
from smartsession.report.items import STATES

from .conftest import ABSENT, STUDENTS, Recorded


def stored(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def doc(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("json") / "report.json"
    assert (
        report_main(
            ["--db", str(recorded.db), "-c", str(recorded.teacher_toml), "--format", "json", "-o", str(out)]
        )
        == 0
    )
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def test_sessions_lists_the_recorded_session(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    assert sessions_main(["--db", str(recorded.db), "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in sessions] == [recorded.session_id]
    s = sessions[0]
    assert s["class_id"] == recorded.config.class_.id
    assert s["students"] == len(STUDENTS)
    assert s["ended_cleanly"] is True
    assert 15.0 / 60 < s["duration_minutes"] < 40.0 / 60
    assert sessions_main(["-c", str(recorded.teacher_toml)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["SESSION", "CLASS", "START", "END", "STUDENTS", "DURATION"]
    assert table[1].startswith(recorded.session_id)


def test_json_matches_the_stored_rows(recorded: Recorded, doc: dict[str, Any]) -> None:
    db, sid = recorded.db, recorded.session_id
    assert doc["schema"] == "smartsession.report/2"
    assert doc["session_id"] == sid
    assert "not verdicts" in doc["meaning"]
    interval = doc["interval"]
    assert interval == pytest.approx(1.0, abs=0.05)  # engagement.interval
    students = {s["student_id"]: s for s in doc["students"]}
    assert set(students) == set(STUDENTS) | {ABSENT[0]}
    for student_id, (name, _, _) in STUDENTS.items():
        s = students[student_id]
        assert s["name"] == name
        (count, mean_att, mean_conf, peak, faces) = stored(
            db,
            "SELECT COUNT(*), AVG(attention), AVG(confusion), MAX(confusion), SUM(faces >= 1) FROM samples"
            " WHERE session_id = ? AND student_id = ?",
            sid,
            student_id,
        )[0]
        assert count > 5
        assert s["samples"] == count
        # rounded once, for every format: scores to 0.01, minutes to 0.1
        assert s["mean_attention"] == pytest.approx(mean_att, abs=0.005)
        assert s["mean_confusion"] == pytest.approx(mean_conf, abs=0.005)
        assert s["peak_confusion"] == pytest.approx(peak, abs=0.005)
        assert s["minutes_face"] == pytest.approx(faces * interval / 60, abs=0.05)
        by_state = dict(
            stored(
                db,
                "SELECT state, COUNT(*) FROM samples WHERE session_id = ? AND student_id = ? GROUP BY state",
                sid,
                student_id,
            )
        )
        for state in STATES:
            assert s["minutes_by_state"][state] == pytest.approx(
                by_state.get(state, 0) * interval / 60, abs=0.05
            )
        alerts = stored(
            db,
            "SELECT reason, COUNT(*) FROM events WHERE session_id = ? AND student_id = ? AND kind = 'alert' GROUP BY reason",
            sid,
            student_id,
        )
        assert s["alerts_by_reason"] == dict(alerts)
        (first_seen,) = stored(
            db, "SELECT first_seen FROM students WHERE session_id = ? AND student_id = ?", sid, student_id
        )[0]
        (first_sample,) = stored(
            db, "SELECT MIN(ts) FROM samples WHERE session_id = ? AND student_id = ?", sid, student_id
        )[0]
        # Joined: first seen by the hub, or the first sample, taken before the join (replayed).
        assert s["joined"] == pytest.approx(min(first_seen, first_sample), abs=0.01)
        assert 0 < s["minutes_connected"] <= doc["duration_minutes"] + 0.05
    assert students["pc-04"]["status"] == "late"
    assert students["pc-04"]["late_minutes"] > 0.1
    assert students["pc-02"]["status"] == "present"
    assert students[ABSENT[0]]["status"] == "absent"
    assert students[ABSENT[0]]["name"] == ABSENT[1]
    assert students[ABSENT[0]]["samples"] == 0
    # the crowd student shows more than one face; the confused one is confused for a while
    assert students["pc-03"]["alerts_by_reason"] or students["pc-03"]["minutes_by_state"]["alert"] > 0
    # alerts: one per stored alert event, with times
    (alert_events,) = stored(db, "SELECT COUNT(*) FROM events WHERE session_id = ? AND kind = 'alert'", sid)[
        0
    ]
    assert len(doc["alerts"]) == alert_events
    # segments as marked by the teacher
    labels = [g["label"] for g in doc["segments"]]
    assert labels == ["Introduction", "Recursion: worked example"]
    assert doc["segments"][0]["start"] == doc["started_at"]
    assert doc["segments"][-1]["end"] == doc["end"]
    for g in doc["segments"]:
        (n, confused, low) = stored(
            db,
            "SELECT COUNT(*), SUM(state = 'confused'), SUM(attention < 0.5) FROM samples"
            " WHERE session_id = ? AND ts >= ? AND ts < ?",
            sid,
            g["start"],
            g["end"],
        )[0]
        assert g["samples"] == pytest.approx(n, abs=4)  # the last segment also holds samples at its end
        if n:
            assert g["confused_share"] == pytest.approx(confused / n, abs=0.05)
            assert g["not_attending_share"] == pytest.approx(low / n, abs=0.05)
    # class over time: every sample in exactly one bucket
    assert sum(p["samples"] for p in doc["timeline"]) == sum(s["samples"] for s in doc["students"])
    assert any(p["mean_attention"] is not None for p in doc["timeline"])


def read_zip(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name.removesuffix(".csv"): list(
                csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
            )
            for name in archive.namelist()
        }


def test_csv_tables_match_the_json_and_the_store(
    recorded: Recorded, doc: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "report.zip"
    assert report_main(["-c", str(recorded.teacher_toml), "latest", "--format", "csv", "-o", str(out)]) == 0
    tables = read_zip(out)
    assert set(tables) == {"session", "students", "alerts", "segments", "class_events", "class_timeline"}
    rows = {r["student_id"]: r for r in tables["students"]}
    for s in doc["students"]:
        row = rows[s["student_id"]]
        assert row["name"] == s["name"]
        assert row["status"] == s["status"]
        assert int(row["samples"]) == s["samples"]
        (count,) = stored(recorded.db, "SELECT COUNT(*) FROM samples WHERE student_id = ?", s["student_id"])[
            0
        ]
        assert int(row["samples"]) == count
        for state in STATES:
            assert float(row[f"minutes_{state}"]) == s["minutes_by_state"][state]
        assert int(row["alerts"]) == sum(s["alerts_by_reason"].values())
    assert rows["pc-04"]["late_by_minutes"] != ""
    assert rows[ABSENT[0]]["status"] == "absent"
    assert len(tables["alerts"]) == len(doc["alerts"])
    assert [r["label"] for r in tables["segments"]] == ["Introduction", "Recursion: worked example"]
    assert len(tables["class_timeline"]) == len(doc["timeline"])
    session = {r["key"]: r["value"] for r in tables["session"]}
    assert session["session_id"] == recorded.session_id


def test_xlsx_has_one_sheet_per_table(recorded: Recorded, doc: dict[str, Any], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "report.xlsx"
    assert (
        report_main(
            [
                "--db",
                str(recorded.db),
                "-c",
                str(recorded.teacher_toml),
                recorded.session_id[:10],
                "--format",
                "xlsx",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == ["session", "students", "alerts", "segments", "class_events", "class_timeline"]
    rows = list(book["students"].iter_rows(values_only=True))
    header = list(rows[0])
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(by_id) == {s["student_id"] for s in doc["students"]}
    for s in doc["students"]:
        assert by_id[s["student_id"]]["samples"] == s["samples"]
        assert by_id[s["student_id"]]["name"] == s["name"]
    assert len(list(book["alerts"].iter_rows())) == len(doc["alerts"]) + 1


def test_default_file_name_and_errors(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartsession.report.queries import ReportError

    monkeypatch.chdir(tmp_path)
    assert report_main(["--db", str(recorded.db)]) == 0
    written = list(tmp_path.glob("report-*.html"))
    assert len(written) == 1 and recorded.session_id[-8:] in written[0].name
    assert str(written[0].name) in capsys.readouterr().out
    with pytest.raises(ReportError, match="no session 'nope'"):
        report_main(["--db", str(recorded.db), "nope"])
    with pytest.raises(ReportError, match="no database"):
        report_main(["--db", str(tmp_path / "absent.db")])
    # -o says what it writes: a zip of CSV tables is a .zip, never a .csv
    with pytest.raises(ReportError, match=r"--format csv writes a zip of CSV tables.*name the file out\.zip"):
        report_main(["--db", str(recorded.db), "--format", "csv", "-o", str(tmp_path / "out.csv")])
    with pytest.raises(ReportError, match=r"name the file week\.xlsx, not week\.html"):
        report_main(["--db", str(recorded.db), "--format", "xlsx", "-o", str(tmp_path / "week.html")])
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "week.html").exists()
