"""The population baseline: resting values of the cues, used until a student's own exists.

The engine learns each student's resting face in the first seconds with one face on screen
(calibration). Before that it scores against these values, so that a single photo, or the
first frames of a session, get a confusion and an attention score too (the state stays
Calibrating, and no alert that needs a baseline is raised from them).

Measured with the agent's pipeline on the neutral faces at hand: matplotlib's Grace Hopper
portrait and the 24 faces of scikit-image's ``lfw_subset`` that FER calls neutral and that
do not smile (mouthSmile below 0.3), blown up to 200 px (25 faces; medians). Yaw, roll and
the sideways gaze are 0 by symmetry: a population looks left as often as right (the sample's
medians, -5.0 deg, 2.6 deg and 0.06, are within a few degrees or hundredths of it).
``tests/vision/test_population_baseline.py`` measures them again.
"""

from __future__ import annotations

#: Resting value of each cue the calibration baseline removes (degrees for angles).
POPULATION_BASELINE: dict[str, float] = {
    "brow_down": 0.07,
    "brow_inner_up": 0.01,
    "eye_squint": 0.41,
    "lip_press": 0.04,
    "pitch": 3.0,
    "yaw": 0.0,
    "roll": 0.0,
    "gaze_x": 0.0,
    "gaze_y": 0.03,
}
