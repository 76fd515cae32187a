"""Which characters a shown string may hold, and how logs write the others."""

from __future__ import annotations

import pytest

from smartsession.core.text import escape, unsafe_char

UNSAFE = {
    "NUL": "\x00",
    "CR": "\r",
    "LF": "\n",
    "tab": "\t",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "NEL (C1)": "\x85",
    "CSI (C1)": "\x9b",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
}
#: Allowed, though some are not `str.isprintable` (no-break space, zero width joiner).
ALLOWED = [
    "Zoë Çelik",
    "head tilt 12°",
    "Ada\u00a0Lovelace",
    "👩\u200d💻 Ada",
    "王小明",
    "=1+1",
    "[red]x[/]",
    "",
]


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe_characters_are_found_anywhere(char: str) -> None:
    assert unsafe_char(f"Ada{char}Lovelace") == char
    assert unsafe_char(char) == char


@pytest.mark.parametrize("text", ALLOWED)
def test_names_in_any_script_are_allowed(text: str) -> None:
    assert unsafe_char(text) is None
    assert escape(text) == text


def test_escape_writes_one_visible_line() -> None:
    hostile = "Eve\r\n2024-01-01 INFO smartsession: forged\x1b[2J\x00\u202eevil"
    escaped = escape(hostile)
    assert escaped == "Eve\\r\\n2024-01-01 INFO smartsession: forged\\x1b[2J\\x00\\u202eevil"
    assert unsafe_char(escaped) is None
