"""Where a student looks, in one word, as proctoring tools show it: center, left, right, up, down.

Pure. The word comes from the head pose against a baseline (the student's own once the
engine has calibrated, else `POPULATION_BASELINE`) and from how far the eyes are off centre,
so it can be made from what a `Sample` carries (its interval's mean yaw, pitch and
``gaze_away``) as well as from one frame: the engine, ``smartsession analyze`` and the
class view's detail screen all call `gaze_direction`.

Directions are the student's own, as in a mirror: ``left`` is the student's left (the nose
toward the right of the camera's image, ``yaw > 0``), ``down`` is toward the desk
(``pitch > 0``).
"""

from __future__ import annotations

import enum

from smartsession.core.baseline import POPULATION_BASELINE

#: The head counts as turned once it is this share of the way to the looking-away limits.
TURNED_SHARE = 0.5


class Gaze(enum.StrEnum):
    """A gaze direction word."""

    CENTER = "center"
    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"


def gaze_direction(
    yaw: float,
    pitch: float,
    gaze_away: float,
    *,
    baseline_yaw: float = POPULATION_BASELINE["yaw"],
    baseline_pitch: float = POPULATION_BASELINE["pitch"],
    yaw_away_deg: float = 30.0,
    pitch_away_deg: float = 25.0,
    gaze_away_limit: float = 0.5,
) -> Gaze:
    """The word for a head at ``yaw``/``pitch`` degrees with the eyes ``gaze_away`` off centre.

    ``center`` while the head is less than `TURNED_SHARE` of the way to ``yaw_away_deg`` /
    ``pitch_away_deg`` from the baseline and the eyes are less than ``gaze_away_limit`` off
    centre; otherwise the direction of the head's larger turn (relative to those limits),
    which names where the eyes went too when only they moved (the head follows them a
    little). The defaults are the engine's (`EngagementSettings`).
    """
    across = (yaw - baseline_yaw) / yaw_away_deg
    along = (pitch - baseline_pitch) / pitch_away_deg
    if max(abs(across), abs(along)) < TURNED_SHARE and gaze_away < gaze_away_limit:
        return Gaze.CENTER
    if abs(across) >= abs(along):
        return Gaze.LEFT if across > 0 else Gaze.RIGHT
    return Gaze.DOWN if along > 0 else Gaze.UP
