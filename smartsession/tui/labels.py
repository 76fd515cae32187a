"""Words, symbols and times shown by the TUI, as pure functions (no Textual imports).

Every state has a symbol as well as a colour, so nothing is told by colour alone. In the
``cues`` label mode the inferred words Focused/Confused give way to the observable cues
behind them (emotion inference is restricted in some jurisdictions).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from smartsession.core.roster import StudentSnapshot
from smartsession.core.states import State

LabelMode = Literal["states", "cues"]
SortKey = Literal["join", "name", "severity", "confusion"]
SparkSource = Literal["attention", "confusion"]

#: The order `s` cycles through the sort keys.
SORT_KEYS: tuple[SortKey, ...] = ("join", "name", "severity", "confusion")

#: Bars of a sparkline, lowest first; the scale is fixed (0 -> lowest bar, 1 -> full bar).
BARS = "▁▂▃▄▅▆▇█"

#: The order states are counted and listed in the header.
STATE_ORDER: tuple[State, ...] = (
    State.FOCUSED,
    State.CONFUSED,
    State.ALERT,
    State.OFFLINE,
    State.CALIBRATING,
    State.PAUSED,
)

SYMBOLS: dict[State, str] = {
    State.FOCUSED: "●",
    State.CONFUSED: "▲",
    State.ALERT: "■",
    State.OFFLINE: "○",
    State.CALIBRATING: "…",
    State.PAUSED: "‖",
}

_STATE_WORDS: dict[State, str] = {state: state.value.upper() for state in State}

#: What replaces the inferred states in ``cues`` mode; other states keep their words.
_CUE_WORDS: dict[State, str] = {
    State.FOCUSED: "ON SCREEN",
    State.CONFUSED: "BROW/TILT",
}

_DEFAULT_REASONS: dict[State, str] = {
    State.FOCUSED: "face on screen",
    State.CONFUSED: "",
    State.ALERT: "",
    State.OFFLINE: "offline",
    State.CALIBRATING: "learning the resting face",
    State.PAUSED: "monitoring paused",
}


@dataclass(frozen=True)
class Badge:
    """A state as shown on a tile: a symbol and a word."""

    symbol: str
    word: str

    @property
    def text(self) -> str:
        """The symbol and the word, e.g. "● FOCUSED"."""
        return f"{self.symbol} {self.word}"


def state_word(state: State, mode: LabelMode) -> str:
    """The word for ``state`` in upper case ("FOCUSED", or "ON SCREEN" in cues mode)."""
    if mode == "cues":
        return _CUE_WORDS.get(state, _STATE_WORDS[state])
    return _STATE_WORDS[state]


def badge(state: State, mode: LabelMode) -> Badge:
    """The badge for ``state`` in the given label mode."""
    return Badge(SYMBOLS[state], state_word(state, mode))


def reason_text(student: StudentSnapshot) -> str:
    """The one line saying why a student is in their state."""
    if student.main_reason:
        return student.main_reason
    if student.state is State.ALERT and student.alert is not None:
        return student.alert.label
    return _DEFAULT_REASONS[student.state]


def age_text(seconds: float) -> str:
    """How long ago something happened, compactly: "now", "3s ago", "2m ago", "1h ago"."""
    if seconds < 1:
        return "now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    return f"{int(seconds // 3600)}h ago"


def clock_text(seconds: float) -> str:
    """An elapsed time as H:MM:SS."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def count_states(students: list[StudentSnapshot] | tuple[StudentSnapshot, ...]) -> dict[State, int]:
    """How many students are in each state (every state present, zero included)."""
    counts = dict.fromkeys(STATE_ORDER, 0)
    for student in students:
        counts[student.state] += 1
    return counts


def score_word(mode: LabelMode) -> str:
    """What the confusion score is called: "confusion", or the cues behind it in cues mode."""
    return "brow/tilt cues" if mode == "cues" else "confusion"


def sort_word(key: SortKey, mode: LabelMode) -> str:
    """The sort key in words, for the header."""
    if key == "confusion":
        return score_word(mode)
    return {"join": "arrival", "name": "name", "severity": "state"}[key]


def spark_word(source: SparkSource, mode: LabelMode) -> str:
    """What the tiles' sparklines show, in words."""
    return "attention" if source == "attention" else score_word(mode)


def sort_students(students: Iterable[StudentSnapshot], key: SortKey) -> list[StudentSnapshot]:
    """``students`` (in join order) sorted by ``key``; ties keep join order."""
    ordered = list(students)
    if key == "name":
        ordered.sort(key=lambda s: (s.name.casefold(), s.student_id))
    elif key == "severity":
        ordered.sort(key=lambda s: -s.state.severity)
    elif key == "confusion":
        ordered.sort(key=lambda s: -s.confusion if s.connected else 1.0)
    return ordered


def matches(student: StudentSnapshot, text: str, *, alerts_only: bool) -> bool:
    """Whether a student passes the name filter ``text`` and the "only alerts" switch."""
    if alerts_only and student.state is not State.ALERT:
        return False
    if not text:
        return True
    needle = text.casefold()
    return needle in student.name.casefold() or needle in student.student_id.casefold()


def bucket(values: Sequence[float], width: int) -> list[float]:
    """At most ``width`` values: ``values`` averaged into equal buckets (the newest last)."""
    if width <= 0 or not values:
        return []
    if len(values) <= width:
        return list(values)
    size = len(values) / width
    out = []
    for i in range(width):
        chunk = values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def bar(value: float, low: float = 0.0, high: float = 1.0) -> str:
    """One sparkline bar for ``value`` on the fixed scale ``low``..``high``."""
    share = (value - low) / (high - low) if high > low else 0.0
    share = min(1.0, max(0.0, share))
    return BARS[round(share * (len(BARS) - 1))]


def bars(values: Sequence[float], width: int, low: float = 0.0, high: float = 1.0) -> str:
    """A sparkline of ``values`` at most ``width`` cells wide on a fixed scale (comparable across students)."""
    return "".join(bar(v, low, high) for v in bucket(values, width))


def clock_time(ts: float) -> str:
    """Local wall-clock time of an epoch timestamp, "HH:MM:SS"."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def duration_text(seconds: float) -> str:
    """A duration compactly: "45s", "12m 05s", "1h 02m"."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m {total % 60:02d}s"
    return f"{total // 3600}h {total % 3600 // 60:02d}m"


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis when it does not fit."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"
