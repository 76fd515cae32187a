"""The gaze word: from head pose and gaze offset, against a baseline, in the student's own directions."""

from __future__ import annotations

import pytest

from smartsession.core.baseline import POPULATION_BASELINE
from smartsession.core.gaze import Gaze, gaze_direction


@pytest.mark.parametrize(
    ("yaw", "pitch", "gaze_away", "word"),
    [
        (0.0, POPULATION_BASELINE["pitch"], 0.0, Gaze.CENTER),
        (10.0, 8.0, 0.3, Gaze.CENTER),  # within half-way to the limits (30 deg, 25 deg, 0.5)
        (20.0, 3.0, 0.1, Gaze.LEFT),  # nose toward the image's right: the student's left
        (-20.0, 3.0, 0.1, Gaze.RIGHT),
        (2.0, 20.0, 0.1, Gaze.DOWN),
        (2.0, -12.0, 0.1, Gaze.UP),
        (30.0, 25.0, 0.0, Gaze.LEFT),  # the larger turn relative to its limit wins (1.0 vs 0.88)
        (-3.0, 5.0, 0.7, Gaze.RIGHT),  # eyes away, the head a little right: the head names it
    ],
)
def test_words(yaw: float, pitch: float, gaze_away: float, word: Gaze) -> None:
    assert gaze_direction(yaw, pitch, gaze_away) is word


def test_a_baseline_moves_the_centre() -> None:
    # A camera below the screen: this student's resting pitch is 18 deg.
    assert gaze_direction(0.0, 18.0, 0.0) is Gaze.DOWN
    assert gaze_direction(0.0, 18.0, 0.0, baseline_pitch=18.0) is Gaze.CENTER
    assert gaze_direction(0.0, 36.0, 0.0, baseline_pitch=18.0) is Gaze.DOWN


def test_limits_scale_the_centre() -> None:
    assert gaze_direction(20.0, 3.0, 0.0) is Gaze.LEFT
    assert gaze_direction(20.0, 3.0, 0.0, yaw_away_deg=45.0) is Gaze.CENTER
