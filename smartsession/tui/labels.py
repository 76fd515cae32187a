"""Words, symbols and times shown by the TUI, as pure functions (no Textual imports).

Every state has a symbol as well as a colour, so nothing is told by colour alone. In the
``cues`` label mode the inferred words Focused/Confused give way to the observable cues
behind them (emotion inference is restricted in some jurisdictions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smartsession.core.roster import StudentSnapshot
from smartsession.core.states import State

LabelMode = Literal["states", "cues"]

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
