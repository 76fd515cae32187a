"""No phantom faces, real small faces still counted: the real pipeline on the labelled set's slice
and on a made clip of a student with someone appearing behind them."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from smartsession.core.settings import EngagementSettings
from smartsession.vision.analyze import analyze_frames
from smartsession.vision.facephotos import SPLITS, Split
from smartsession.vision.faceset import FRAME_STEP, scenes
from smartsession.vision.pipeline import FrameAnalyzer

FPS = 5


@pytest.mark.parametrize("split", SPLITS)
def test_the_negative_slice_yields_no_face(analyzer: FrameAnalyzer, split: Split) -> None:
    frames = 0
    for scene in scenes(split, quick=True, kinds=("empty",)):
        analyzer.reset()
        for index, frame in enumerate(scene.frames):
            signals = analyzer.analyze(frame, index * FRAME_STEP)
            assert signals.faces == 0, (scene.name, index)
            frames += 1
    assert frames >= 80


def room_with(student: np.ndarray, behind: np.ndarray | None, width: int) -> np.ndarray:
    """A 640x480 room: the student near the camera, and maybe a face ``width`` px wide behind."""
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[:, :, 0] = np.linspace(90, 160, 640, dtype=np.uint8)[None, :]
    frame[100:360, 20:220] = cv2.resize(student[0:300, 100:330], (200, 260), interpolation=cv2.INTER_AREA)
    if behind is not None:
        # In this crop of the portrait the face is about 185 of its 300 px width.
        w = round(width * 300 / 185)
        h = round(w * 340 / 300)
        frame[150 : 150 + h, 440 : 440 + w] = cv2.resize(
            behind[80:420, 120:420], (w, h), interpolation=cv2.INTER_AREA
        )
    return frame


def clip(
    alone: np.ndarray, together: np.ndarray, seconds_alone: float, seconds_together: float
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Frames at 5 fps with fresh sensor noise: ``alone`` first, then ``together``."""
    rng = np.random.default_rng(3)
    count = round((seconds_alone + seconds_together) * FPS)
    for index in range(count):
        picture = alone if index < seconds_alone * FPS else together
        noise = rng.integers(-3, 4, picture.shape).astype(np.int16)
        yield index, index / FPS, np.clip(picture + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("width", [52, 75])
def test_a_small_face_behind_the_student_counts_and_alerts_within_its_hold(
    analyzer: FrameAnalyzer, astronaut: np.ndarray, grace_hopper: np.ndarray, width: int
) -> None:
    analyzer.reset()
    settings = EngagementSettings()
    alone, together = room_with(astronaut, None, width), room_with(astronaut, grace_hopper, width)
    records = list(analyze_frames(clip(alone, together, 4.0, 4.0), analyzer, settings))
    appears = 4.0
    assert {r["faces"] for r in records if r["t"] < appears} == {1}
    two = next(r["t"] for r in records if r["faces"] == 2)
    # The counter runs within 0.4 s, then the candidate needs three confirmations in a row.
    assert appears <= two <= appears + 0.8 + 1e-6
    assert {r["faces"] for r in records if r["t"] >= two} == {2}
    alert = next(r["t"] for r in records if "multiple_faces" in r["alerts"])
    hold = settings.timing.multiple_faces
    assert two + hold - 1e-6 <= alert <= appears + 0.8 + hold + 1e-6


def test_the_crop_check_runs_only_when_the_counter_sees_more_faces(
    analyzer: FrameAnalyzer, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    analyzer.reset()
    # 52 px: too small for the landmarker's own detector, so only the counter sees it.
    alone, together = room_with(astronaut, None, 52), room_with(astronaut, grace_hopper, 52)
    checks, counts = analyzer.confirmation_runs, analyzer.people_runs
    for index, _, frame in clip(alone, alone, 3.0, 0.0):
        # A door swinging open behind her: the scene changes, so the counter keeps running.
        frame[20:90, 260 + 12 * index : 300 + 12 * index] = 40
        assert analyzer.analyze(frame, index * FRAME_STEP).faces == 1
    assert analyzer.people_runs - counts >= 5  # the counter ran, and agreed
    assert analyzer.confirmation_runs == checks
    faces = [
        analyzer.analyze(frame, 3.0 + index * FRAME_STEP).faces
        for index, _, frame in clip(together, together, 1.6, 0)
    ]
    assert faces[0] == 1 and faces[-1] == 2 and faces.count(2) >= 4
    assert analyzer.confirmation_runs - checks >= 3  # three in a row before it counted
    assert len(analyzer.found.marked) == 1 and len(analyzer.found.counted) == 1
