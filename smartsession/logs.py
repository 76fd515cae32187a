"""Log records as one line each, for journald and fleet tools: ``logfmt`` (key=value) or JSON.

Every record is one line with the keys ``ts`` (UTC, ISO 8601 with milliseconds), ``level``,
``logger``, ``msg`` and, with a traceback, ``exc``. In ``logfmt`` a value with a space, a
quote, ``=`` or a backslash is quoted, with ``\\"`` and ``\\\\`` inside; every control
character (CR, LF, ESC, ...) and every character that acts on a terminal is written as an
escape (`smartsession.core.text.escape`), so a student's name cannot forge a record or reach
the terminal that shows the log. In JSON the same characters are escaped by the encoder.
Nothing secret is logged: key files and passwords are never passed to a log call.

`configure` sets the root logger once per command (``[logging] level`` and ``format``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Literal

from smartsession.core.text import escape
from smartsession.files import private_file

Format = Literal["logfmt", "json"]

#: A logfmt value that needs no quotes.
_BARE = re.compile(r'^[^\s"=\\]+\Z')


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _fields(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, str]:
    fields = {
        "ts": _timestamp(record),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    if record.stack_info:
        fields["stack"] = formatter.formatStack(record.stack_info)
    return fields


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=smartsession.hub msg="..."``: one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in _fields(self, record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the same keys as `LogfmtFormatter`."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(self, record))  # ASCII: nothing can act on a terminal


def logfmt_value(value: str) -> str:
    """``value`` as a logfmt value: quoted when needed, ``\\`` and ``\"`` inside, every
    control character as an escape (``\n``, ``\x1b``), so the record stays one line."""
    if _BARE.match(value) and value.isprintable():
        return value
    return '"' + escape(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """The keys of one `LogfmtFormatter` line, quotes, ``\\"`` and ``\\\\`` undone (other escapes kept)."""
    pairs: dict[str, str] = {}
    for key, value in _PAIR.findall(line):
        if value.startswith('"'):
            value = re.sub(r'\\(["\\])', r"\1", value[1:-1])
        pairs[key] = value
    return pairs


def configure(
    *,
    level: str = "info",
    format: Format = "logfmt",
    log_file: Path | None = None,
    verbose: bool = False,
) -> None:
    """Send every record to ``log_file`` (owner-only) or stderr, one line each, from ``level`` up.

    ``verbose`` (``-v``) means ``debug`` and the chatty libraries' records too. Call again
    to change the level or the format (the handler is replaced).
    """
    handler: logging.Handler
    if log_file is not None:
        private_file(log_file)  # owner-only: logs name students; the handler appends to it
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else getattr(logging, level.upper()))
    quiet = logging.NOTSET if verbose else logging.WARNING
    for noisy in ("websockets", "zeroconf", "asyncio"):
        logging.getLogger(noisy).setLevel(quiet)
