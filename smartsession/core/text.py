"""Strings from other machines: which characters they may hold, and how logs show the rest (pure).

A student's machine is not trusted, so neither is any string it sends (names, host names,
reasons, details). None of them may hold a character that acts on whoever reads it rather
than being read: the C0 controls (NUL, CR, LF, ESC, ...), DEL, the C1 controls, the Unicode
line and paragraph separators (U+2028, U+2029) and the bidirectional embeddings, overrides
and isolates (U+202A-U+202E, U+2066-U+2069), which reorder what a reader sees. The protocol
refuses agent strings holding one (`unsafe_char`); logs and spreadsheets write whatever
slipped through as visible escapes (`escape`), so a line stays one line and a terminal
never receives a control sequence.
"""

from __future__ import annotations

import re

#: The characters no shown string may hold, as the inside of a regex character class.
UNSAFE_CHARACTERS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"

_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]")


def unsafe_char(text: str) -> str | None:
    """The first character of ``text`` in `UNSAFE_CHARACTERS`, or None when there is none.

    Cheap for ordinary text: every unsafe character is non-printable, so a printable string
    (`str.isprintable`, one pass in C) needs no regex at all.
    """
    if text.isprintable():
        return None
    found = _UNSAFE.search(text)
    return None if found is None else found.group()


def escape(text: str) -> str:
    """``text`` with each unsafe character written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]
