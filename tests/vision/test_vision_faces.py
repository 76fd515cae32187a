"""The models on real faces: landmarker cues and pose, FER, people counting, no false faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from smartsession.core import cues
from smartsession.core.signals import EXPRESSIONS, CameraStatus, FrameSignals
from smartsession.vision.capture import ImageSource
from smartsession.vision.expression import ExpressionModel
from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.people import PeopleCounter
from smartsession.vision.pipeline import FrameAnalyzer
from smartsession.vision.source import CameraSource


def only_face(landmarker: FaceLandmarker, bgr: np.ndarray) -> cues.HeadPose:
    faces = landmarker.detect(bgr)
    assert len(faces) == 1
    assert faces[0].matrix is not None
    return cues.head_pose(faces[0].matrix)


def rotate(bgr: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate counter-clockwise (as displayed) about the image centre."""
    h, w = bgr.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(bgr, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def turn_head(bgr: np.ndarray, centre_x: float, radius: float, degrees: float) -> np.ndarray:
    """Turn the head by ``degrees`` about a vertical axis, modelled as a cylinder of ``radius``
    around ``centre_x``: positive moves the nose toward image right."""
    h, w = bgr.shape[:2]
    xs = np.arange(w, dtype=np.float32)
    theta = np.arcsin(np.clip((xs - centre_x) / radius, -1, 1)) - np.radians(degrees)
    inside = np.abs(xs - centre_x) < radius
    src = np.where(inside, centre_x + radius * np.sin(np.clip(theta, -np.pi / 2, np.pi / 2)), xs)
    map_x = np.repeat(src[None, :].astype(np.float32), h, axis=0)
    map_y = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    return cv2.remap(bgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_one_face_with_smile_cue(
    landmarker: FaceLandmarker, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    smiles = {}
    for name, image in (("grace", grace_hopper), ("astronaut", astronaut)):
        faces = landmarker.detect(image)
        assert len(faces) == 1, name
        assert faces[0].landmarks.shape == (478, 3)
        assert len(faces[0].blendshapes) == 52
        smiles[name] = cues.cues_from_blendshapes(faces[0].blendshapes).smile
    assert smiles["astronaut"] > 0.6
    assert smiles["grace"] < 0.2


def test_rgb_input_must_be_converted_not_viewed(landmarker: FaceLandmarker, astronaut: np.ndarray) -> None:
    # detect_rgb copies non-contiguous views, so a reversed view still gives the right face.
    view = astronaut[:, :, ::-1]
    assert not view.flags.c_contiguous
    assert len(landmarker.detect_rgb(view)) == 1


@pytest.mark.parametrize("degrees", [-20.0, 15.0])
def test_roll_follows_in_plane_rotation(
    landmarker: FaceLandmarker, grace_hopper: np.ndarray, degrees: float
) -> None:
    base = only_face(landmarker, grace_hopper).roll
    rotated = only_face(landmarker, rotate(grace_hopper, degrees)).roll
    assert rotated - base == pytest.approx(degrees, abs=3.0)


def test_mirroring_flips_yaw(landmarker: FaceLandmarker, astronaut: np.ndarray) -> None:
    face = landmarker.detect(astronaut)[0].extent(astronaut.shape[1], astronaut.shape[0])
    turned = turn_head(astronaut, face.centre[0], 0.6 * face.width, 25.0)
    yaw = only_face(landmarker, turned).yaw
    mirrored = only_face(landmarker, np.ascontiguousarray(turned[:, ::-1])).yaw
    assert yaw > 8.0  # nose toward image right
    assert mirrored == pytest.approx(-yaw, abs=3.0)


def test_mirroring_flips_roll(landmarker: FaceLandmarker, grace_hopper: np.ndarray) -> None:
    tilted = rotate(grace_hopper, 20.0)
    roll = only_face(landmarker, tilted).roll
    mirrored = only_face(landmarker, np.ascontiguousarray(tilted[:, ::-1])).roll
    assert roll > 15.0
    assert mirrored == pytest.approx(-roll, abs=4.0)


def test_fer_gives_a_distribution_with_happy_for_the_astronaut(
    landmarker: FaceLandmarker,
    expression_model: ExpressionModel,
    astronaut: np.ndarray,
    grace_hopper: np.ndarray,
) -> None:
    for image, expected in ((astronaut, "happy"), (grace_hopper, "neutral")):
        face = landmarker.detect(image)[0]
        probs = expression_model.predict(image, face.extent(image.shape[1], image.shape[0]))
        assert len(probs) == len(EXPRESSIONS)
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        ranked = sorted(EXPRESSIONS, key=lambda n: -probs[EXPRESSIONS.index(n)])
        assert expected in ranked[:2], (expected, ranked)


def composite(astronaut: np.ndarray, grace_hopper: np.ndarray, small_face_px: int) -> np.ndarray:
    """A 640x480 room: a large face near the camera and a small one in the background."""
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[:, :, 0] = np.linspace(90, 160, 640, dtype=np.uint8)[None, :]
    frame[100:360, 20:220] = cv2.resize(astronaut[0:300, 100:330], (200, 260), interpolation=cv2.INTER_AREA)
    # In this crop the face is about 185 of its 300 px width.
    width = round(small_face_px * 300 / 185)
    height = round(width * 340 / 300)
    small = cv2.resize(grace_hopper[80:420, 120:420], (width, height), interpolation=cv2.INTER_AREA)
    frame[150 : 150 + height, 440 : 440 + width] = small
    return frame


@pytest.mark.parametrize("small_face_px", [50, 70, 110])
def test_people_counter_counts_a_small_background_face(
    people_counter: PeopleCounter, astronaut: np.ndarray, grace_hopper: np.ndarray, small_face_px: int
) -> None:
    detections = people_counter.detect(composite(astronaut, grace_hopper, small_face_px))
    assert len(detections) == 2
    background = max(detections, key=lambda d: d.box.x0)
    assert background.box.x0 > 400
    assert background.box.width == pytest.approx(small_face_px, rel=0.35)


def test_people_counter_on_single_portraits(
    people_counter: PeopleCounter, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    assert people_counter.count(astronaut) == 1
    assert people_counter.count(grace_hopper) == 1


def non_faces(coffee: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    chess = cv2.cvtColor(cv2.resize(skimage.data.checkerboard(), (640, 480)), cv2.COLOR_GRAY2BGR)
    return [
        np.zeros((480, 640, 3), np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.ascontiguousarray(chess),
        coffee,
    ]


def test_no_faces_in_blank_noise_and_objects(
    people_counter: PeopleCounter, landmarker: FaceLandmarker, coffee: np.ndarray
) -> None:
    for image in non_faces(coffee):
        assert people_counter.count(image) == 0
        assert landmarker.detect(image) == []


def test_frame_analyzer_on_real_faces(
    analyzer: FrameAnalyzer, astronaut: np.ndarray, grace_hopper: np.ndarray, coffee: np.ndarray
) -> None:
    analyzer.reset()
    happy = analyzer.analyze(astronaut, t=1.0)
    assert happy.t == 1.0
    assert happy.camera is CameraStatus.OK
    assert happy.faces == 1
    assert happy.smile > 0.6
    assert len(happy.expressions) == 7
    assert happy.expression("happy") > 0.5
    assert -1.0 <= happy.gaze_x <= 1.0 and -1.0 <= happy.gaze_y <= 1.0
    neutral = analyzer.analyze(grace_hopper, t=2.0)
    assert neutral.faces == 1 and neutral.smile < 0.2
    assert abs(neutral.yaw) < 10 and abs(neutral.roll) < 10
    nobody = analyzer.analyze(coffee, t=3.0)
    assert nobody.faces == 0 and not nobody.has_face and nobody.expressions == ()
    # A face only the people counter sees counts once confirmed on three frames in a row.
    both = composite(astronaut, grace_hopper, 50)
    counts = [analyzer.analyze(both, t=4.0 + 0.2 * i).faces for i in range(3)]
    assert counts == [1, 1, 2]
    assert analyzer.timings.landmarker_ms > 0


def test_frame_analyzer_rejects_non_images(analyzer: FrameAnalyzer) -> None:
    with pytest.raises(ValueError, match="BGR"):
        analyzer.analyze(np.zeros((10, 10), np.uint8), t=0.0)


class KeepOpen:
    """Lends the session's analyzer to a CameraSource without letting it close the models."""

    def __init__(self, analyzer: FrameAnalyzer) -> None:
        self.analyzer = analyzer

    def analyze(self, bgr: np.ndarray, t: float) -> FrameSignals:
        return self.analyzer.analyze(bgr, t)

    def close(self) -> None:
        pass


def test_camera_source_end_to_end_on_still_images(
    analyzer: FrameAnalyzer, astronaut: np.ndarray, coffee: np.ndarray
) -> None:
    analyzer.reset()  # a new camera: forget the faces followed so far
    frames = ImageSource([astronaut, coffee], loop=False)
    clock = iter(float(i) for i in range(100))
    source = CameraSource(frames, frame_rate=1000.0, analyzer=KeepOpen(analyzer), clock=lambda: next(clock))
    first, second, third = source.read(), source.read(), source.read()
    source.close()
    assert first.faces == 1 and first.smile > 0.6 and first.camera is CameraStatus.OK
    assert second.faces == 0 and second.camera is CameraStatus.OK
    assert third.camera is CameraStatus.UNAVAILABLE
    assert "no more frames" in source.reason
