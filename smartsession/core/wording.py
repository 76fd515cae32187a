"""The words a teacher reads, in both label modes: the inferred states, or the cues behind them.

``states`` says Focused / Confused and "confusion". ``cues`` (for jurisdictions that restrict
emotion inference, e.g. the EU AI Act Art. 5(1)(f)) says what was observed instead ("on
screen", "brow/tilt") and never names a state of mind, an emotion or a class of the
expression model. The class view, every report format and the e-mail take such words from
one `Words` (`words_for`), so a mode holds wherever it is set; `CUES_FORBIDDEN` is what
cues mode never shows (the tests search every screen and format for it).

Text that comes from a student's machine (reasons, alert details) is reworded by
`Words.reason`, which in cues mode drops what it cannot reword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from smartsession.core.states import State

LabelMode = Literal["states", "cues"]

#: Words cues mode never shows, in any case, wherever letters end (so ``mean_confusion``,
#: ``run-confused`` and ``negative_expression`` count too): the inferred states, the score's
#: name, emotions, and the facial-expression model's classes (`core.signals.EXPRESSIONS`).
CUES_FORBIDDEN = re.compile(
    r"(?<![a-z])(focused|confused|confusion|emotion[a-z]*|expression[a-z]*|angry|disgust[a-z]*|fear[a-z]*"
    r"|happy|sad|surprise[a-z]*|neutral)(?![a-z])",
    re.IGNORECASE,
)

MEANING_STATES = (
    "These numbers are cues computed on each student's own machine from the camera "
    "(head pose, gaze, facial expression, faces on screen); no image was stored or sent. "
    "They are not verdicts about a student's understanding, effort or character: a "
    "'Confused' or 'Alert' state is a prompt for a human to look and, if needed, ask. "
    "Lighting, glasses, a second screen, a disability or a slow camera can all move them. "
    "Do not grade, discipline or rank students with them."
)
MEANING_CUES = (
    "These numbers are cues computed on each student's own machine from the camera "
    "(head pose, gaze, brow and head movements, faces on screen); no image was stored or sent. "
    "They describe what the camera saw, not what a student thought or felt: a 'brow/tilt' "
    "cue or an 'Alert' is a prompt for a human to look and, if needed, ask. "
    "Lighting, glasses, a second screen, a disability or a slow camera can all move them. "
    "Do not grade, discipline or rank students with them."
)

#: Cues mode: the words that replace the inferred ones, in text and in identifiers.
_CUE_STATE_WORDS = {State.FOCUSED: "on screen", State.CONFUSED: "brow/tilt"}
_CUE_REWORDING = (
    (re.compile(r"\bconfusion\b", re.IGNORECASE), "brow/tilt cues"),
    (re.compile(r"\bconfused\b", re.IGNORECASE), "brow/tilt"),
    (re.compile(r"\bfocused\b", re.IGNORECASE), "on screen"),
)
_CUE_KEYS = (("confusion", "brow_tilt"), ("confused", "brow_tilt"), ("focused", "on_screen"))


@dataclass(frozen=True)
class Words:
    """Every mode-dependent word of the class view and the reports; get one with `words_for`."""

    mode: LabelMode

    @property
    def cues(self) -> bool:
        """True in cues mode."""
        return self.mode == "cues"

    def state(self, state: State | str) -> str:
        """A state in lower case: "focused", or "on screen" in cues mode ("absent" etc. as given)."""
        try:
            known = State(state)
        except ValueError:
            return str(state).replace("_", " ")
        if self.cues and known in _CUE_STATE_WORDS:
            return _CUE_STATE_WORDS[known]
        return known.value

    def key(self, name: str) -> str:
        """An identifier (a JSON key, a CSV column, a state value) in these words:
        ``mean_confusion`` stays, or becomes ``mean_brow_tilt`` in cues mode."""
        if not self.cues:
            return name
        for inferred, observed in _CUE_KEYS:
            name = name.replace(inferred, observed)
        return name

    @property
    def score(self) -> str:
        """What the confusion score is called: "confusion", or "brow/tilt cues"."""
        return "brow/tilt cues" if self.cues else "confusion"

    @property
    def confused(self) -> str:
        """Students in the Confused state, as a predicate: "confused" / "show brow/tilt cues"."""
        return "show brow/tilt cues" if self.cues else "confused"

    @property
    def meaning(self) -> str:
        """What the numbers mean, as every report says."""
        return MEANING_CUES if self.cues else MEANING_STATES

    def reason(self, text: str) -> str | None:
        """A reason or detail from a student's machine in these words; None when cues mode
        cannot show it (it names an expression or an emotion)."""
        if not self.cues:
            return text
        for pattern, words in _CUE_REWORDING:
            text = pattern.sub(words, text)
        return None if CUES_FORBIDDEN.search(text) else text


STATES_WORDS = Words("states")
CUES_WORDS = Words("cues")


def words_for(mode: str) -> Words:
    """The `Words` of a label mode (``tui.label_mode``): "states" or "cues"."""
    return CUES_WORDS if mode == "cues" else STATES_WORDS
