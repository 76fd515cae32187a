"""Following faces from frame to frame (MediaPipe's VIDEO mode), as the agent's vision process
does, and the faces on their way to counting that call for the next frame soon."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.pipeline import FrameAnalyzer


def room() -> np.ndarray:
    frame = np.full((480, 640, 3), 110, np.uint8)
    frame[:, :, 0] = np.linspace(80, 150, 640, dtype=np.uint8)[None, :]
    return frame


def noisy(frame: np.ndarray, count: int, seed: int = 3) -> list[np.ndarray]:
    """``count`` frames of ``frame`` with fresh sensor noise each, as a camera gives them."""
    rng = np.random.default_rng(seed)
    return [np.clip(frame + rng.normal(0.0, 3.0, frame.shape), 0, 255).astype(np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def sitting(grace_hopper: np.ndarray) -> np.ndarray:
    frame = room()
    frame[:, 40:600] = cv2.resize(grace_hopper, (560, 480), interpolation=cv2.INTER_AREA)
    return frame


@pytest.fixture(scope="module")
def tracker() -> Iterator[FrameAnalyzer]:
    with FrameAnalyzer(tracking=True) as analyzer:
        yield analyzer


def test_tracking_sees_what_a_fresh_search_sees(sitting: np.ndarray, landmarker: FaceLandmarker) -> None:
    with FaceLandmarker(max_faces=2, tracking=True) as following:
        for i, frame in enumerate(noisy(sitting, 6)):
            (tracked,) = following.detect(frame, 0.2 * i)
            (searched,) = landmarker.detect(frame)
            assert np.abs(tracked.landmarks[:, :2] - searched.landmarks[:, :2]).max() < 0.02
            for name in ("eyeBlinkLeft", "browDownLeft", "mouthSmileLeft"):
                assert tracked.blendshapes[name] == pytest.approx(searched.blendshapes[name], abs=0.1)
        # MediaPipe needs increasing times: one repeated or going back is taken as a moment later.
        assert len(following.detect(sitting, 0.0)) == 1
        assert len(following.detect(sitting, 0.0)) == 1


def test_after_reset_nothing_followed_is_left(tracker: FrameAnalyzer, sitting: np.ndarray) -> None:
    tracker.reset()
    for i, frame in enumerate(noisy(sitting, 3)):
        assert tracker.analyze(frame, 0.2 * i).faces == 1
    tracker.reset()
    assert tracker.analyze(room(), 0.0).faces == 0
    assert not tracker.check_loaded  # both detectors agreed on every frame: no crop check needed


def test_a_small_face_on_its_way_to_counting_is_pending(
    tracker: FrameAnalyzer, grace_hopper: np.ndarray
) -> None:
    # A 55 px face far behind: the people counter sees it, the landmarker does not, so it
    # counts once the crop check confirmed it on three counter runs in a row.
    frame = room()
    frame[200:262, 300:355] = cv2.resize(
        grace_hopper[110:360, 150:370], (55, 62), interpolation=cv2.INTER_AREA
    )
    tracker.reset()
    seen = [tracker.analyze(f, 0.2 * i) for i, f in enumerate(noisy(frame, 4))]
    assert [s.faces for s in seen] == [0, 0, 1, 1]
    assert [s.pending_faces for s in seen] == [1, 1, 0, 0]
    assert tracker.check_loaded


def test_the_people_counter_runs_every_other_frame_at_the_steady_rate(
    tracker: FrameAnalyzer, sitting: np.ndarray
) -> None:
    # At 5 fps it runs on every third frame (each 0.6 s); at the steady 2 fps on every other
    # one (each 1.0 s), where every 0.5 s would be every frame: a face only it sees is first
    # seen at most 0.4 s later than at 5 fps.
    for period, every in ((0.2, 3), (0.5, 2)):
        tracker.reset()
        runs = []
        for i, frame in enumerate(noisy(sitting, 12, seed=5)):
            before = tracker.people_runs
            assert tracker.analyze(frame, 100.0 + period * i).faces == 1
            runs.append(tracker.people_runs - before)
        assert runs == [1 if i % every == 0 else 0 for i in range(12)], (period, runs)
