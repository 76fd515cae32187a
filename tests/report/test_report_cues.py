"""Cues mode holds in every report format: the words of inferred states, emotions and the
expression model's classes appear nowhere in HTML (text, CSS class names, SVG titles), the
CSV tables, the JSON document (keys and values), the xlsx workbook (sheet names and cells)
or the end-of-session mail (subject, body, attached page).

The same session in states mode says those words in the same places, so the search looks
where they would be.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from smartsession.core.signals import EXPRESSIONS
from smartsession.core.wording import words_for

from .conftest import Eventful
from .outputs import Outputs, render_all

#: What cues mode must never say, searched case-insensitively anywhere (inside identifiers too).
FORBIDDEN = ("focused", "confused", "confusion", "emotion", "expression", *EXPRESSIONS)
PATTERN = re.compile("|".join(FORBIDDEN), re.IGNORECASE)


def places(out: Outputs) -> dict[str, str]:
    """Every text a format holds, by where it is."""
    found = {
        "html page": out.html.source,
        "json document": out.json_text,
        "xlsx sheet names": " ".join(out.xlsx_sheets),
        "csv file names": " ".join(out.csv_text),
        "mail subject": out.subject,
        "mail body": out.body,
        "mail attachment": out.attachment.source,
    }
    found |= {f"csv {name}": text for name, text in out.csv_text.items()}
    for name, rows in out.xlsx.items():
        cells: list[Any] = [key for row in rows[:1] for key in row] + [
            v for row in rows for v in row.values()
        ]
        found[f"xlsx {name}"] = " ".join(str(cell) for cell in cells if cell is not None)
    return found


def leaks(out: Outputs) -> dict[str, list[str]]:
    return {
        where: [text[max(0, m.start() - 40) : m.end() + 20] for m in PATTERN.finditer(text)]
        for where, text in places(out).items()
        if PATTERN.search(text)
    }


@pytest.fixture(scope="module")
def cues(eventful: Eventful, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return render_all(eventful.db, eventful.teacher_toml("cues"), tmp_path_factory.mktemp("cues"))


@pytest.fixture(scope="module")
def states(eventful: Eventful, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return render_all(eventful.db, eventful.teacher_toml("states"), tmp_path_factory.mktemp("states"))


def test_cues_mode_says_none_of_the_words_in_any_format(cues: Outputs) -> None:
    assert leaks(cues) == {}
    # what the words would have said is there, in the cues' words
    assert cues.json["labels"] == "cues"
    assert "brow/tilt" in cues.html.text and "on screen" in cues.html.text.lower()
    assert "show brow/tilt cues" in cues.body
    assert {"mean_brow_tilt", "minutes_on_screen", "minutes_brow_tilt"} <= set(cues.csv["students"][0])
    student = cues.json["students"][0]
    assert "mean_brow_tilt" in student and "on_screen" in student["minutes_by_state"]
    details = [a["detail"] for a in cues.json["alerts"]]
    assert "on screen -> brow/tilt: brow/tilt cues 0.81" in details  # reworded
    assert not any("0.62" in d for d in details)  # an expression cannot be reworded: left out
    assert cues.json["class_alerts"] and cues.json["hub_offline"]
    assert 'class="run brow_tilt"' in cues.html.source or 'class="run on_screen"' in cues.html.source


def test_states_mode_says_them_where_cues_mode_does_not(states: Outputs, cues: Outputs) -> None:
    found = leaks(states)
    for where in (
        "html page",
        "json document",
        "csv students",
        "xlsx students",
        "mail body",
        "mail attachment",
    ):
        assert where in found, where
    assert set(places(states)) == set(places(cues))  # the same places were searched


def test_a_reason_from_a_machine_naming_an_expression_in_an_identifier_is_left_out() -> None:
    words = words_for("cues")
    for text in ("negative_expression 0.6", "p_sad 0.4", "emotion-model: HAPPY", "mean_confusion 0.7"):
        assert words.reason(text) is None, text
    assert words.reason("brow lowered 0.41 for 6 s") == "brow lowered 0.41 for 6 s"
