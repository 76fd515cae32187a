"""Face geometry and blendshapes -> the numbers in `FrameSignals` (pure maths, no I/O).

Conventions (all in the camera image as it arrives, not mirrored):

- head pose in degrees from MediaPipe's facial transformation matrix: ``yaw > 0`` nose toward
  image right, ``pitch > 0`` looking down, ``roll > 0`` counter-clockwise in the image;
- gaze in [-1, 1]: ``gaze_x > 0`` eyes toward image right, ``gaze_y > 0`` eyes looking down;
- cues in [0, 1], each the mean of the left and right blendshape where there are two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head orientation in degrees (see the module docstring for signs)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True)
class Gaze:
    """Eye direction relative to the head, in [-1, 1] per axis."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Cues:
    """Blendshape cues in [0, 1], named as in `FrameSignals`."""

    brow_down: float = 0.0
    brow_inner_up: float = 0.0
    eye_squint: float = 0.0
    lip_press: float = 0.0
    smile: float = 0.0
    eye_closed: float = 0.0
    jaw_open: float = 0.0
    eye_look_down: float = 0.0


def head_pose(matrix: FloatArray | Sequence[Sequence[float]]) -> HeadPose:
    """Yaw, pitch and roll (degrees) from a 4x4 (or 3x3) transformation matrix.

    Uses the rotation's Z-Y-X decomposition R = Rz(roll) Ry(yaw) Rx(pitch):
    pitch = atan2(R21, R22), yaw = asin(-R20), roll = atan2(R10, R00).
    """
    r = np.asarray(matrix, dtype=np.float64)
    if r.shape not in ((4, 4), (3, 3)):
        raise ValueError(f"expected a 4x4 or 3x3 matrix, got shape {r.shape}")
    r = r[:3, :3]
    # The matrix may carry a uniform scale; normalise each column so asin stays in range.
    norms = np.linalg.norm(r, axis=0)
    if np.any(norms < 1e-9):
        raise ValueError("degenerate rotation matrix")
    r = r / norms
    pitch = math.atan2(r[2, 1], r[2, 2])
    yaw = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    roll = math.atan2(r[1, 0], r[0, 0])
    return HeadPose(yaw=math.degrees(yaw), pitch=math.degrees(pitch), roll=math.degrees(roll))


def rotation_matrix(yaw: float, pitch: float, roll: float) -> FloatArray:
    """The 4x4 matrix `head_pose` turns back into (yaw, pitch, roll) degrees; for tests and simulation."""
    a, b, c = (math.radians(v) for v in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    out = np.eye(4)
    out[:3, :3] = rz @ ry @ rx
    return out


def _clip(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return float(min(high, max(low, value)))


def _pair(scores: Mapping[str, float], stem: str) -> float:
    """Mean of ``stemLeft`` and ``stemRight`` (or ``stem`` alone), 0 when absent."""
    if stem in scores:
        return _clip(float(scores[stem]), 0.0, 1.0)
    values = [float(scores[n]) for n in (stem + "Left", stem + "Right") if n in scores]
    return _clip(sum(values) / len(values), 0.0, 1.0) if values else 0.0


def cues_from_blendshapes(scores: Mapping[str, float]) -> Cues:
    """The cues from MediaPipe's 52 blendshape scores, by name; missing names count as 0."""
    return Cues(
        brow_down=_pair(scores, "browDown"),
        brow_inner_up=_pair(scores, "browInnerUp"),
        eye_squint=_pair(scores, "eyeSquint"),
        lip_press=_pair(scores, "mouthPress"),
        smile=_pair(scores, "mouthSmile"),
        eye_closed=_pair(scores, "eyeBlink"),
        jaw_open=_pair(scores, "jawOpen"),
        eye_look_down=_pair(scores, "eyeLookDown"),
    )


def gaze_from_blendshapes(scores: Mapping[str, float]) -> Gaze:
    """Gaze from the eyeLook blendshapes.

    MediaPipe names the blendshapes after the person's own sides (as ARKit does): the
    ``Left`` eye appears on the image's right (checked by covering one eye of a real face).
    So ``eyeLookOutLeft`` and ``eyeLookInRight`` look toward image right.
    """

    def get(name: str) -> float:
        return float(scores.get(name, 0.0))

    toward_right = (
        get("eyeLookOutLeft") - get("eyeLookInLeft") + get("eyeLookInRight") - get("eyeLookOutRight")
    ) / 2
    down = (
        get("eyeLookDownLeft") + get("eyeLookDownRight") - get("eyeLookUpLeft") - get("eyeLookUpRight")
    ) / 2
    return Gaze(x=_clip(toward_right), y=_clip(down))


# FaceMesh indices: eye corners (image-left eye, image-right eye), lids, iris centres.
_EYES = (
    # outer corner, inner corner, upper lid, lower lid, iris centre
    (33, 133, 159, 145, 468),
    (362, 263, 386, 374, 473),
)
#: An iris offset of this fraction of half the eye width counts as full gaze (1.0).
IRIS_FULL_SCALE = 0.45


def gaze_from_iris(landmarks: FloatArray | Sequence[Sequence[float]], aspect: float = 1.0) -> Gaze | None:
    """Gaze from the iris centres relative to the eye corners and lids (478 landmarks).

    ``landmarks`` holds normalised (x, y[, z]) rows; ``aspect`` is the image width / height,
    so distances are measured in square pixels. Returns None without iris landmarks.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 478:
        return None
    xy = pts[:, :2] * np.array([aspect, 1.0])
    xs: list[float] = []
    ys: list[float] = []
    for a, b, up, low, iris in _EYES:
        p, q = xy[a], xy[b]
        axis = q - p
        width = float(np.linalg.norm(axis))
        if width < 1e-9:
            continue
        # Unit axis toward image right along the eye, and its perpendicular pointing down.
        u = axis / width if axis[0] >= 0 else -axis / width
        v = np.array([-u[1], u[0]])
        centre = (p + q) / 2
        lid_centre = (xy[up] + xy[low]) / 2
        offset = xy[iris] - centre
        xs.append(float(offset @ u) / (width / 2))
        ys.append(float((xy[iris] - lid_centre) @ v) / (width / 2))
    if not xs:
        return None
    return Gaze(x=_clip(sum(xs) / len(xs) / IRIS_FULL_SCALE), y=_clip(sum(ys) / len(ys) / IRIS_FULL_SCALE))


def combine_gaze(*estimates: Gaze | None) -> Gaze:
    """The mean of the available gaze estimates (0, 0 when there are none)."""
    present = [g for g in estimates if g is not None]
    if not present:
        return Gaze(0.0, 0.0)
    return Gaze(
        x=_clip(sum(g.x for g in present) / len(present)),
        y=_clip(sum(g.y for g in present) / len(present)),
    )
