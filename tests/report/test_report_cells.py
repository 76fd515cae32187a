"""Hostile names, labels and details in the store stay inert text in every report format.

The recorded session is copied and its strings replaced with what a lab machine may send
(formulas, markup) and what an older hub could have stored (control characters). Reports are
then made by ``smartsession report`` and opened back: CSV with the csv module, xlsx with
openpyxl, HTML as text.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from smartsession.report.commands import report_main
from smartsession.report.export import load_report, summary_text
from smartsession.report.format import sheet_cell

from .conftest import LATE_AFTER_MINUTES, Recorded, copy_db

NAMES = {
    "pc-01": '=HYPERLINK("http://x","click")',
    "pc-02": "+1+1",
    "pc-03": "Zoë\x1b[2J\x00 Çelik",  # an older hub stored control characters as they came
    "pc-04": "<script>alert(1)</script>",
}
#: What the CSV and xlsx cells hold for those names.
INERT = {
    "pc-01": '\'=HYPERLINK("http://x","click")',
    "pc-02": "'+1+1",
    "pc-03": "Zoë\\x1b[2J\\x00 Çelik",
    "pc-04": "<script>alert(1)</script>",
}
LABELS = ["-5 minutes of questions", "\tTab\rCR"]
DETAIL = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def hostile_db(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = copy_db(recorded.db, tmp_path_factory.mktemp("hostile") / "hub.db")
    with sqlite3.connect(db) as conn:
        for student_id, name in NAMES.items():
            conn.execute(
                "UPDATE students SET name = ?, host = ? WHERE student_id = ?", (name, name, student_id)
            )
        ids = [row[0] for row in conn.execute("SELECT id FROM segments ORDER BY started_at")]
        for segment_id, label in zip(ids, LABELS, strict=True):
            conn.execute("UPDATE segments SET label = ? WHERE id = ?", (label, segment_id))
        conn.execute("UPDATE events SET detail = ? WHERE kind = 'alert'", (DETAIL,))
        assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'alert'").fetchone()[0] > 0
    return db


def report(db: Path, fmt: str, out: Path) -> Path:
    assert report_main(["--db", str(db), "--format", fmt, "-o", str(out)]) == 0
    return out


def test_csv_cells_are_inert_text_and_numbers_stay_numbers(hostile_db: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(report(hostile_db, "csv", tmp_path / "r.zip")) as archive:
        tables = {
            name.removesuffix(".csv"): list(
                csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
            )
            for name in archive.namelist()
        }
    students = {row["student_id"]: row for row in tables["students"]}
    assert {sid: students[sid]["name"] for sid in NAMES} == INERT
    for row in students.values():
        assert int(row["samples"]) > 0 and float(row["mean_attention"]) >= 0.0  # plain numbers, no apostrophe
    assert [row["label"] for row in tables["segments"]] == ["'-5 minutes of questions", "'\\tTab\\rCR"]
    alerts = tables["alerts"]
    assert alerts and {row["detail"] for row in alerts} == {"'" + DETAIL}
    assert {row["name"] for row in alerts} <= set(INERT.values())
    for table in tables.values():
        for row in table:
            for cell in row.values():
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
                assert "\x1b" not in cell and "\x00" not in cell


def test_xlsx_opens_with_inert_text_and_numeric_numbers(hostile_db: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    book = load_workbook(
        report(hostile_db, "xlsx", tmp_path / "r.xlsx")
    )  # control characters did not break it
    sheet = book["students"]
    header = [cell.value for cell in sheet[1]]
    rows: dict[str, dict[str, Any]] = {}
    for cells in sheet.iter_rows(min_row=2):
        row = {h: c for h, c in zip(header, cells, strict=True)}
        rows[row["student_id"].value] = row
    assert {sid: rows[sid]["name"].value for sid in NAMES} == INERT
    assert {rows[sid]["name"].data_type for sid in NAMES} == {"s"}
    for row in rows.values():
        assert isinstance(row["samples"].value, int) and row["samples"].data_type == "n"
        assert isinstance(row["mean_attention"].value, float)
    labels = [row[1] for row in book["segments"].iter_rows(min_row=2, values_only=True)]
    assert labels == ["'-5 minutes of questions", "'\\tTab\\rCR"]
    details = {row[4] for row in book["alerts"].iter_rows(min_row=2, values_only=True)}
    assert details == {"'" + DETAIL}
    formulas = [
        c.coordinate for ws in book.worksheets for r in ws.iter_rows() for c in r if c.data_type == "f"
    ]
    assert formulas == []


def test_html_escapes_names_labels_and_details(hostile_db: Path, tmp_path: Path) -> None:
    page = report(hostile_db, "html", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;click&quot;)" in page
    assert "@SUM(1+1)*cmd|&#x27; /C calc&#x27;!A0" in page


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (-2.5, -2.5),
        (-3, -3),
        (0, 0),
        ("-3", "'-3"),
        ("=1+1", "'=1+1"),
        ("\r=1", "'\\r=1"),
        ("Ada Lovelace", "Ada Lovelace"),
        ("a\nb", "a\\nb"),
        ("", ""),
    ],
)
def test_sheet_cells_keep_numbers_and_neutralise_text(value: object, cell: object) -> None:
    assert sheet_cell(value) == cell
    assert type(sheet_cell(value)) is type(cell)


def test_the_email_summary_keeps_one_line_per_fact(hostile_db: Path) -> None:
    text = summary_text(load_report(hostile_db, late_after_minutes=LATE_AFTER_MINUTES))
    assert "Late: <script>alert(1)</script> (" in text
    assert "Segment 2 '\\tTab\\rCR': " in text
    assert "\r" not in text and "\t" not in text
