"""The words and times the TUI shows, without an app."""

from __future__ import annotations

import pytest
from test_detail_gaze import student

from smartsession.core.protocol import Cues
from smartsession.core.states import State
from smartsession.tui.labels import STATE_ORDER, age_text, badge, clock_text, reason_text, shown_reasons
from smartsession.tui.widgets.tile_grid import columns_for


@pytest.mark.parametrize("state", list(State))
def test_every_state_has_a_symbol_and_a_word_in_both_modes(state: State) -> None:
    for mode in ("states", "cues"):
        shown = badge(state, mode)
        assert shown.symbol and shown.word
        assert shown.text == f"{shown.symbol} {shown.word}"
    assert state in STATE_ORDER


def test_symbols_are_distinct() -> None:
    assert len({badge(state, "states").symbol for state in State}) == len(State)


def test_cues_mode_names_cues_not_inferences() -> None:
    assert badge(State.FOCUSED, "cues").word == "ON SCREEN"
    assert badge(State.CONFUSED, "cues").word == "BROW/TILT"
    assert badge(State.OFFLINE, "cues").word == "OFFLINE"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "now"), (3.9, "3s ago"), (59, "59s ago"), (61, "1m ago"), (3600 * 2 + 5, "2h ago")],
)
def test_age_text(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_clock_text() -> None:
    assert clock_text(0) == "0:00:00"
    assert clock_text(3725.9) == "1:02:05"


@pytest.mark.parametrize(("width", "columns"), [(10, 1), (52, 2), (78, 3), (116, 4)])
def test_columns_follow_width(width: int, columns: int) -> None:
    assert columns_for(width) == columns


def test_a_focused_tile_without_a_face_says_what_is_on_its_way() -> None:
    with_face = student(Cues(face_share=1.0))
    assert reason_text(with_face, "states") == "on screen, attention 0.90"
    away = student(Cues(), faces=0, reasons=("focused", "no face 3 s"))
    assert shown_reasons(away, "states") == ("no face 3 s", "attention 0.00")
    assert reason_text(student(Cues(), faces=0), "cues") == "attention 0.00"  # nothing else to say
