"""Small value formatters shared by the writers."""

from __future__ import annotations

import time


def clock(ts: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM:SS``; "" for None."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def hhmm(ts: float) -> str:
    """Epoch seconds as local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def num(value: float | None, digits: int = 3) -> float | str:
    """A number rounded for a table; "" for None."""
    return "" if value is None else round(float(value), digits)


def minutes(value: float | None) -> str:
    """Minutes for people: ``12.5 min``; "-" for None."""
    return "-" if value is None else f"{value:.1f} min"


def percent(value: float | None) -> str:
    """A share as ``42%``; "-" for None."""
    return "-" if value is None else f"{100.0 * value:.0f}%"
