"""Words, symbols and times shown by the TUI, as pure functions (no Textual imports).

Every state has a symbol as well as a colour, so nothing is told by colour alone. In the
``cues`` label mode the inferred words Focused/Confused give way to the observable cues
behind them (emotion inference is restricted in some jurisdictions); the words of both
modes are `smartsession.core.wording`'s, shared with the reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from smartsession.core.classwide import Spike
from smartsession.core.snapshots import StudentSnapshot
from smartsession.core.states import State
from smartsession.core.wording import LabelMode as LabelMode
from smartsession.core.wording import words_for

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

#: The badge of a student on the roster who has not joined yet.
ABSENT_BADGE_SYMBOL = "○"

_DEFAULT_REASONS: dict[State, str] = {
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
    return words_for(mode).state(state).upper()


def badge(state: State, mode: LabelMode) -> Badge:
    """The badge for ``state`` in the given label mode."""
    return Badge(SYMBOLS[state], state_word(state, mode))


def student_badge(student: StudentSnapshot, mode: LabelMode) -> Badge:
    """A student's badge: its state's, or "○ ABSENT" for a roster student not joined yet."""
    if student.absent:
        return Badge(ABSENT_BADGE_SYMBOL, "ABSENT")
    return badge(student.state, mode)


def _why(student: StudentSnapshot, mode: LabelMode, width: int | None = None) -> str:
    """What a state says when the agent's reason is only the state's own word, or missing
    (shorter, down to the number, when it must fit in ``width`` cells)."""
    state = student.state
    if state is State.FOCUSED:
        attention = f"{student.attention:.2f}"
        texts = [f"on screen, attention {attention}", f"on screen, att. {attention}"]
        texts = (texts if student.faces >= 1 else []) + [f"attention {attention}"]
        return next((text for text in texts if width is None or len(text) <= width), texts[-1])
    if state is State.CONFUSED:
        return f"{words_for(mode).score} {student.confusion:.2f}"
    if state is State.ALERT:
        return student.alert.label if student.alert is not None else "alert"
    return _DEFAULT_REASONS[state]


def shown_reasons(student: StudentSnapshot, mode: LabelMode, width: int | None = None) -> tuple[str, ...]:
    """The reasons as shown, main first (at least one): the agent's, in the words of ``mode``.

    A reason that is only the state's word ("focused") says why instead ("on screen,
    attention 0.92", shortened to fit ``width``); in cues mode reasons are reworded
    (`Words.reason`), or left out.
    """
    if student.absent:
        return ("not joined yet",)
    if not student.connected:
        return ("offline",)
    words = words_for(mode)
    shown: list[str] = []
    for reason in student.reasons:
        if reason.strip().casefold() == student.state.value:
            reason = _why(student, mode, width)
        worded = words.reason(reason)
        if worded:
            shown.append(worded)
    if student.state is State.FOCUSED and student.faces < 1 and len(shown) > 1:
        # Focused without a face on screen (for a moment): what is on its way says more
        # ("no face 3 s") than the attention of nobody.
        why = _why(student, mode, width)
        shown = [reason for reason in shown if reason != why] + [why]
    return tuple(shown) or (_why(student, mode, width),)


def reason_text(student: StudentSnapshot, mode: LabelMode, width: int | None = None) -> str:
    """The one line saying why a student is in their state (see `shown_reasons`)."""
    return shown_reasons(student, mode, width)[0]


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


def count_states(students: Iterable[StudentSnapshot]) -> dict[State, int]:
    """How many students who joined are in each state (every state present, zero included;
    roster students not joined yet are not counted: see `count_absent`)."""
    counts = dict.fromkeys(STATE_ORDER, 0)
    for student in students:
        if not student.absent:
            counts[student.state] += 1
    return counts


def count_absent(students: Iterable[StudentSnapshot]) -> int:
    """Roster students not joined yet."""
    return sum(1 for student in students if student.absent)


def score_word(mode: LabelMode) -> str:
    """What the confusion score is called: "confusion", or the cues behind it in cues mode."""
    return words_for(mode).score


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
        ordered.sort(key=lambda s: 1 if s.absent else -s.state.severity)
    elif key == "confusion":
        ordered.sort(key=lambda s: -s.confusion if s.connected else 1.0)
    return ordered


def attendance_word(student: StudentSnapshot) -> str:
    """ "absent" (on the roster, not joined yet), "late" (joined late) or ""."""
    if student.absent:
        return "absent"
    return "late" if student.late_by is not None else ""


def matches(student: StudentSnapshot, text: str, *, alerts_only: bool) -> bool:
    """Whether a student passes the filter ``text`` (name, id, or "absent" / "late") and the
    "only alerts" switch."""
    if alerts_only and student.state is not State.ALERT:
        return False
    if not text:
        return True
    needle = text.casefold()
    return (
        needle in student.name.casefold()
        or needle in student.student_id.casefold()
        or (bool(attendance_word(student)) and attendance_word(student).startswith(needle))
    )


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


def spike_text(spike: Spike, mode: LabelMode) -> str:
    """A class alert in words: "5 of 12 confused for 10 s, segment 3" (cues mode: "show brow/tilt cues")."""
    segment = f", segment {spike.segment}" if spike.segment is not None else ""
    return f"{spike.confused} of {spike.present} {words_for(mode).confused} for {spike.held:.0f} s{segment}"
