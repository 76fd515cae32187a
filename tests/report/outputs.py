"""Every format of one session's report, made as a teacher makes them and read back.

`render_all` runs ``smartsession report`` for HTML, CSV, JSON and xlsx with a teacher config,
and the hub's end-of-session mail (`mail_session_report`) to a real SMTP server on loopback
(aiosmtpd); each comes back parsed: the HTML's sections, tables and facts, the CSV tables
(csv module), the xlsx sheets (openpyxl), the JSON document, the mail's subject, body and
attached page.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import socket
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from smartsession.config import load_config
from smartsession.hub.mailer import mail_session_report
from smartsession.report.commands import report_main
from smartsession.report.writers import FORMATS


class Inbox:
    """An aiosmtpd handler that keeps each message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Page(HTMLParser):
    """An HTML report read back: its text, the facts, and each section's tables as rows of cell text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.facts: dict[str, str] = {}
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.paragraphs: list[str] = []
        self.titles: list[str] = []
        self.attributes: list[str] = []
        self._text: list[str] = []
        self._section = ""
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._fact: list[str] | None = None
        self._bold: list[str] | None = None
        self._paragraph: list[str] | None = None
        self._title: list[str] | None = None
        self.feed(source)
        self.close()

    @property
    def text(self) -> str:
        """Every character of text on the page (what a reader sees, and the SVG titles)."""
        return " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [f"{name}={value}" for name, value in attrs]
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "li":
            self._fact = []
        elif tag == "b" and self._fact is not None:
            self._bold = []
        elif tag == "p":
            self._paragraph = []
        elif tag == "title":
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._section][-1].append(self._row)
            self._row = None
        elif tag == "b" and self._bold is not None and self._fact is not None:
            self.facts["".join(self._fact).strip()] = "".join(self._bold).strip()
            self._bold = None
        elif tag == "li":
            self._fact = None
        elif tag == "p" and self._paragraph is not None:
            self.paragraphs.append(" ".join("".join(self._paragraph).split()))
            self._paragraph = None
        elif tag == "title" and self._title is not None:
            self.titles.append("".join(self._title))
            self._title = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        for part in (self._cell, self._paragraph, self._title):
            if part is not None:
                part.append(data)
        if self._bold is not None:
            self._bold.append(data)
        elif self._fact is not None:
            self._fact.append(data)

    def table(self, section: str, index: int = 0) -> list[dict[str, str]]:
        """The ``index``-th table of a section as rows keyed by its header."""
        header, *rows = self.tables[section][index]
        return [dict(zip(header, row, strict=True)) for row in rows]

    def paragraph(self, start: str) -> str:
        """The first paragraph that starts with ``start``, without it."""
        return next(p.removeprefix(start).strip() for p in self.paragraphs if p.startswith(start))


@dataclass
class Outputs:
    """One session's report in every format, read back."""

    html: Page
    json: dict[str, Any]
    json_text: str
    csv: dict[str, list[dict[str, str]]]
    csv_text: dict[str, str]
    xlsx: dict[str, list[dict[str, Any]]]
    xlsx_sheets: list[str]
    subject: str
    body: str
    attachment: Page
    files: dict[str, Path] = field(default_factory=dict)


def _read_zip(path: Path) -> tuple[dict[str, list[dict[str, str]]], dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        texts = {
            name.removesuffix(".csv"): archive.read(name).decode("utf-8-sig") for name in archive.namelist()
        }
    return {name: list(csv.DictReader(io.StringIO(text))) for name, text in texts.items()}, texts


def _read_xlsx(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    sheets: dict[str, list[dict[str, Any]]] = {}
    for sheet in book.worksheets:
        header, *rows = list(sheet.iter_rows(values_only=True))
        sheets[sheet.title] = [dict(zip(header, row, strict=True)) for row in rows]
    names = list(book.sheetnames)
    book.close()
    return sheets, names


def _text(content: object) -> str:
    return content.decode("utf-8") if isinstance(content, bytes) else str(content)


def render_all(db: Path, teacher_toml: Path, folder: Path) -> Outputs:
    """Every format of the latest session in ``db``, made with the teacher config ``teacher_toml``
    (its label mode, roster and report settings), and the end-of-session mail."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {fmt: folder / f"report{suffix}" for fmt, suffix in FORMATS.items()}
    for fmt, path in files.items():
        assert report_main(["--db", str(db), "-c", str(teacher_toml), "--format", fmt, "-o", str(path)]) == 0
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        mailing = teacher_toml.with_name(f"{teacher_toml.stem}-mail.toml")  # paths relative to it hold
        mailing.write_text(
            teacher_toml.read_text(encoding="utf-8")
            + f'\n[email]\nenabled = true\nhost = "127.0.0.1"\nport = {controller.port}\nstarttls = false\n'
            f'to = ["teacher@school.example"]\nattempts = 1\n',
            encoding="utf-8",
        )
        config = load_config(mailing)
        assert config.database_path == db.resolve()
        mail_session_report(config, json.loads(files["json"].read_text(encoding="utf-8"))["session_id"])
    finally:
        controller.stop()
    (message,) = inbox.messages
    body = message.get_body(("plain",))
    assert body is not None
    (attached,) = list(message.iter_attachments())
    csv_tables, csv_text = _read_zip(files["csv"])
    xlsx, sheets = _read_xlsx(files["xlsx"])
    json_text = files["json"].read_text(encoding="utf-8")
    return Outputs(
        html=Page(files["html"].read_text(encoding="utf-8")),
        json=json.loads(json_text),
        json_text=json_text,
        csv=csv_tables,
        csv_text=csv_text,
        xlsx=xlsx,
        xlsx_sheets=sheets,
        subject=str(message["Subject"]),
        body=str(body.get_content()).replace("\r\n", "\n"),
        attachment=Page(_text(attached.get_content())),
        files=files,
    )
