"""CSV (a zip of one UTF-8 CSV per table), JSON (one document) and xlsx (one sheet per table)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from smartsession.core.states import State
from smartsession.core.wording import Words, words_for
from smartsession.files import private_file
from smartsession.report.items import SessionReport
from smartsession.report.tables import tables

#: The formats `write` knows, with their file suffix.
FORMATS: dict[str, str] = {"html": ".html", "csv": ".zip", "json": ".json", "xlsx": ".xlsx"}
_STATE_VALUES = frozenset(state.value for state in State)


def relabel(value: Any, words: Words) -> Any:
    """Keys, and values that are states, in the report's label mode (`Words.key`)."""
    if isinstance(value, dict):
        return {words.key(str(k)): relabel(v, words) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relabel(v, words) for v in value]
    if isinstance(value, str) and value in _STATE_VALUES:
        return words.key(value)
    return value


def to_json(report: SessionReport) -> str:
    """The whole report as one JSON document (times as epoch seconds; keys in its label mode)."""
    document = relabel(dataclasses.asdict(report), words_for(report.labels))
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)


def write_json(report: SessionReport, path: Path) -> None:
    """Write `to_json` to ``path``."""
    path.write_text(to_json(report) + "\n", encoding="utf-8")


def write_csv(report: SessionReport, path: Path) -> None:
    """A zip holding ``<table>.csv`` for each table (UTF-8 with BOM, so spreadsheets read accents)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (header, rows) in tables(report).items():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(rows)
            archive.writestr(f"{name}.csv", "\ufeff" + buffer.getvalue())


def write_xlsx(report: SessionReport, path: Path) -> None:
    """An Excel workbook with one sheet per table, header row bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = True
    for name, (header, rows) in tables(report).items():
        if first:
            sheet = book.active
            assert sheet is not None
            sheet.title = name
            first = False
        else:
            sheet = book.create_sheet(name)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
        sheet.freeze_panes = "A2"
        for column, title in enumerate(header, start=1):
            width = max([len(str(title))] + [min(60, len(str(r[column - 1]))) for r in rows])
            sheet.column_dimensions[sheet.cell(1, column).column_letter].width = width + 2
    book.save(path)


def write(report: SessionReport, fmt: str, path: Path) -> Path:
    """Write ``report`` as ``fmt`` (a key of `FORMATS`) to ``path`` atomically; returns ``path``.

    The file is owner-only (0600) and a missing folder is created owner-only (0700): a report
    holds students' data.
    """
    from smartsession.report.html import write_html

    writers = {"html": write_html, "csv": write_csv, "json": write_json, "xlsx": write_xlsx}
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        private_file(partial)  # owner-only from the start; the writer keeps the mode
        writers[fmt](report, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
