"""How a report rounds, once for every format: minutes to 0.1, scores and shares to 0.01,
seconds (the times the hub was down) to whole seconds.

The model (`smartsession.report.model`) rounds with these; writers print the rounded values
with the same digits (`smartsession.report.format`), so an HTML page, a CSV cell, a JSON
number and the e-mail never disagree in a last digit.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Protocol

#: Digits after the point of minutes, and of scores (attention, confusion) and shares.
MINUTE_DIGITS = 1
SCORE_DIGITS = 2
#: Digits after the point of seconds.
SECOND_DIGITS = 0


def minutes(value: float) -> float:
    """Minutes, rounded."""
    return round(value, MINUTE_DIGITS)


def minutes_of(seconds: float) -> float:
    """Seconds as rounded minutes."""
    return minutes(seconds / 60.0)


def seconds(value: float) -> float:
    """Seconds, rounded (a float, so JSON and the tables keep one type)."""
    return float(round(value, SECOND_DIGITS))


def score(value: float | None) -> float | None:
    """A score or a share (0..1), rounded; None stays None."""
    return None if value is None else round(value, SCORE_DIGITS)


def mean(values: Sequence[float]) -> float | None:
    """The rounded mean (None without values)."""
    return score(sum(values) / len(values)) if values else None


class _Timed(Protocol):
    @property
    def student_id(self) -> str: ...

    @property
    def ts(self) -> float: ...


def sample_interval(samples: Sequence[_Timed]) -> float:
    """Seconds one sample stands for: the median spacing of a student's consecutive samples (1.0 if unknown)."""
    per_student: dict[str, list[float]] = {}
    for sample in samples:
        per_student.setdefault(sample.student_id, []).append(sample.ts)
    gaps = [
        b - a for times in per_student.values() for a, b in itertools.pairwise(times) if 0.0 < b - a < 60.0
    ]
    return round(statistics.median(gaps), 3) if gaps else 1.0
