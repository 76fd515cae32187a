"""Pure cue maths: head pose from matrices, gaze and blendshape cues."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartsession.core import cues


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (30, 0, 0), (-25, 0, 0), (0, 20, 0), (0, -15, 0), (0, 0, 12), (0, 0, -40), (20, -10, 5)],
)
def test_head_pose_recovers_known_rotations(yaw: float, pitch: float, roll: float) -> None:
    pose = cues.head_pose(cues.rotation_matrix(yaw, pitch, roll))
    assert pose.yaw == pytest.approx(yaw, abs=1e-9)
    assert pose.pitch == pytest.approx(pitch, abs=1e-9)
    assert pose.roll == pytest.approx(roll, abs=1e-9)


def test_head_pose_reads_the_documented_entries() -> None:
    a = math.radians(10)
    # A pure rotation about the image axis (roll): R10 = sin, R00 = cos.
    m = np.eye(4)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    assert cues.head_pose(m).roll == pytest.approx(10)
    # Pure yaw: R20 = -sin(yaw).
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    assert cues.head_pose(m).yaw == pytest.approx(10)


def test_head_pose_ignores_scale_and_translation() -> None:
    m = cues.rotation_matrix(15, -5, 8)
    m[:3, :3] *= 3.0
    m[:3, 3] = [1.0, 6.0, -42.0]
    pose = cues.head_pose(m)
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((15, -5, 8))


def test_head_pose_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="4x4"):
        cues.head_pose(np.eye(2))
    with pytest.raises(ValueError, match="degenerate"):
        cues.head_pose(np.zeros((4, 4)))


def test_cues_average_left_and_right_and_clip() -> None:
    scores = {
        "browDownLeft": 0.2,
        "browDownRight": 0.4,
        "browInnerUp": 0.5,
        "eyeSquintLeft": 0.1,
        "eyeSquintRight": 0.3,
        "mouthPressLeft": 0.6,
        "mouthPressRight": 0.8,
        "mouthSmileLeft": 0.9,
        "mouthSmileRight": 1.2,
        "eyeBlinkLeft": 0.05,
        "eyeBlinkRight": 0.15,
        "jawOpen": 0.25,
    }
    c = cues.cues_from_blendshapes(scores)
    assert c.brow_down == pytest.approx(0.3)
    assert c.brow_inner_up == pytest.approx(0.5)
    assert c.eye_squint == pytest.approx(0.2)
    assert c.lip_press == pytest.approx(0.7)
    assert c.smile == pytest.approx(1.0)
    assert c.eye_closed == pytest.approx(0.1)
    assert c.jaw_open == pytest.approx(0.25)


def test_missing_blendshapes_count_as_zero() -> None:
    assert cues.cues_from_blendshapes({}) == cues.Cues()
    assert cues.gaze_from_blendshapes({}) == cues.Gaze(0.0, 0.0)


def test_blendshape_gaze_signs() -> None:
    # Both eyes turned toward image right: the person's left eye looks out, the right one in.
    right = cues.gaze_from_blendshapes({"eyeLookOutLeft": 0.8, "eyeLookInRight": 0.8})
    assert right.x == pytest.approx(0.8)
    left = cues.gaze_from_blendshapes({"eyeLookInLeft": 0.6, "eyeLookOutRight": 0.6})
    assert left.x == pytest.approx(-0.6)
    down = cues.gaze_from_blendshapes({"eyeLookDownLeft": 0.5, "eyeLookDownRight": 0.5})
    assert (down.x, down.y) == pytest.approx((0.0, 0.5))
    up = cues.gaze_from_blendshapes({"eyeLookUpLeft": 1.0, "eyeLookUpRight": 1.0})
    assert up.y == pytest.approx(-1.0)


def _eye_landmarks(iris_dx: float, iris_dy: float) -> np.ndarray:
    pts = np.full((478, 3), 0.5)
    for outer, inner, upper, lower, iris, cx in (
        (33, 133, 159, 145, 468, 0.4),
        (362, 263, 386, 374, 473, 0.6),
    ):
        pts[outer, :2] = (cx - 0.05, 0.4)
        pts[inner, :2] = (cx + 0.05, 0.4)
        pts[upper, :2] = (cx, 0.39)
        pts[lower, :2] = (cx, 0.41)
        pts[iris, :2] = (cx + iris_dx, 0.4 + iris_dy)
    return pts


def test_iris_gaze_centred_and_offset() -> None:
    centred = cues.gaze_from_iris(_eye_landmarks(0.0, 0.0))
    assert centred is not None
    assert (centred.x, centred.y) == pytest.approx((0.0, 0.0), abs=1e-9)
    right = cues.gaze_from_iris(_eye_landmarks(0.01, 0.0))
    assert right is not None
    assert right.x == pytest.approx(0.01 / 0.05 / cues.IRIS_FULL_SCALE)
    down = cues.gaze_from_iris(_eye_landmarks(0.0, 0.02))
    assert down is not None and down.y > 0.5
    far = cues.gaze_from_iris(_eye_landmarks(-0.2, 0.0))
    assert far is not None and far.x == -1.0


def test_iris_gaze_needs_iris_landmarks() -> None:
    assert cues.gaze_from_iris(np.zeros((468, 3))) is None


def test_combine_gaze() -> None:
    assert cues.combine_gaze(None, None) == cues.Gaze(0.0, 0.0)
    g = cues.combine_gaze(cues.Gaze(0.2, -0.4), None, cues.Gaze(0.4, 0.0))
    assert (g.x, g.y) == pytest.approx((0.3, -0.2))
