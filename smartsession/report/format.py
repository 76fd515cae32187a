"""Small value formatters shared by the writers, printing the model's rounded numbers with its digits."""

from __future__ import annotations

import time

from smartsession.core.text import escape
from smartsession.report.rounding import MINUTE_DIGITS, SCORE_DIGITS, SECOND_DIGITS

#: First characters that make a spreadsheet read a text cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clock(ts: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM:SS``; "" for None."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def hhmm(ts: float) -> str:
    """Epoch seconds as local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def minutes(value: float | None) -> str:
    """Minutes for people, with the report's digits: ``12.5 min``; "-" for None."""
    return "-" if value is None else f"{value:.{MINUTE_DIGITS}f} min"


def seconds(value: float) -> str:
    """Seconds for people, with the report's digits: ``11 s``."""
    return f"{value:.{SECOND_DIGITS}f} s"


def score(value: float | None) -> str:
    """A score (attention, confusion) with the report's digits: ``0.82``; "-" for None."""
    return "-" if value is None else f"{value:.{SCORE_DIGITS}f}"


def percent(value: float | None) -> str:
    """A share as ``42%`` (a share is rounded to 0.01, so this is exact); "-" for None."""
    return "-" if value is None else f"{100.0 * value:.0f}%"


def sheet_cell(value: object) -> object:
    """``value`` as a CSV or xlsx cell: a number stays a number, text becomes inert text.

    Text a spreadsheet would take for a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, a
    leading tab or CR) gets a leading apostrophe, and control characters are written as
    escapes (xlsx refuses some of them; a terminal showing a CSV would act on them).
    """
    if not isinstance(value, str):
        return value
    return escape("'" + value if value.startswith(FORMULA_STARTS) else value)
