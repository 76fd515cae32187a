"""Log lines for journald and fleets: one line per record, key=value or JSON, level from [logging]."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import logfmt

from smartsession import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = handlers, level


def test_logfmt_one_line_per_record_with_quotes_and_controls_escaped(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "log" / "agent.log"
    logs.configure(level="info", format="logfmt", log_file=log_file)
    log = logging.getLogger("smartsession.test")
    log.debug("not at info")
    log.info("student %r joined", 'Eve "x"\r\nts=forged level=error\x1b[2J')
    try:
        raise ValueError("boom\nline two")
    except ValueError:
        log.exception("it failed")
    lines = log_file.read_text().splitlines()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert len(lines) == 2, lines
    first = logfmt(lines[0])
    assert list(first) == ["ts", "level", "logger", "msg"]
    assert first["level"] == "info" and first["logger"] == "smartsession.test"
    assert first["msg"] == "student 'Eve \"x\"\\r\\nts=forged level=error\\x1b[2J' joined"
    second = logfmt(lines[1])
    assert second["msg"] == "it failed"
    assert second["exc"].startswith("Traceback (most recent call last):\\n")
    assert second["exc"].endswith("ValueError: boom\\nline two")
    assert "\x1b" not in log_file.read_text()


def test_json_lines_and_the_level(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "hub.log"
    logs.configure(level="warning", format="json", log_file=log_file)
    log = logging.getLogger("smartsession.test")
    log.info("quiet")
    log.warning("loud %s", "\u202eevil")
    (line,) = log_file.read_text().splitlines()
    record = json.loads(line)
    assert set(record) == {"ts", "level", "logger", "msg"}
    assert record["level"] == "warning" and record["msg"] == "loud \u202eevil"
    assert "\u202e" not in line and "\\u202e" in line  # escaped in the file, given back by a parser


def test_a_bare_value_stays_bare() -> None:
    assert logs.logfmt_value("smartsession.hub") == "smartsession.hub"
    assert logs.logfmt_value("a b") == '"a b"'
    assert logs.logfmt_value('a\\"') == '"a\\\\\\""'
    assert logs.logfmt_value("") == '""'
