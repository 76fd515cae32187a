"""Following faces from frame to frame (MediaPipe's VIDEO mode), as the agent's vision process
does, and the faces on their way to counting that call for the next frame soon."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.pipeline import STILL_PEOPLE_INTERVAL, FrameAnalyzer


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


def counter_runs(tracker: FrameAnalyzer, frames: list[np.ndarray], period: float) -> list[int]:
    """Whether the people counter ran on each frame, ``period`` seconds apart."""
    tracker.reset()
    runs = []
    for i, frame in enumerate(frames):
        before = tracker.people_runs
        assert tracker.analyze(frame, 100.0 + period * i).faces == 1
        runs.append(tracker.people_runs - before)
    return runs


def test_the_people_counter_runs_on_schedule_while_the_scene_changes(
    tracker: FrameAnalyzer, grace_hopper: np.ndarray
) -> None:
    # Someone walks past behind her: at 5 fps the counter runs on every third frame (each
    # 0.6 s), at the steady 2 fps on every frame (each 0.5 s).
    frames = []
    for i, frame in enumerate(noisy(room(), 12, seed=5)):
        frame[20:120, 20 + 40 * i : 60 + 40 * i] = 30
        frame[130:450, 170:470] = cv2.resize(grace_hopper, (300, 320), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    for period, every in ((0.2, 3), (0.5, 1)):
        runs = counter_runs(tracker, frames, period)
        assert runs == [1 if i % every == 0 else 0 for i in range(12)], (period, runs)


def test_the_people_counter_rests_while_the_scene_stays_still(
    tracker: FrameAnalyzer, sitting: np.ndarray
) -> None:
    # Nothing but sensor noise and her own face moves: it runs on the first frame, then every
    # STILL_PEOPLE_INTERVAL (3 s) only; the landmarker watches her face on every frame.
    assert STILL_PEOPLE_INTERVAL == 3.0
    runs = counter_runs(tracker, noisy(sitting, 14, seed=5), 0.5)
    assert runs == [1 if i % 6 == 0 else 0 for i in range(14)], runs


def test_a_face_arriving_in_a_still_scene_is_counted_on_the_next_frame(
    tracker: FrameAnalyzer, sitting: np.ndarray, astronaut: np.ndarray
) -> None:
    # At the steady rate, after the counter rested: the arrival changes the scene, so it runs
    # on the very next frame, and the full-size face counts after three confirmations.
    still = noisy(sitting, 4, seed=7)
    joined = sitting.copy()
    joined[40:200, 470:600] = cv2.resize(astronaut[20:230, 140:310], (130, 160), interpolation=cv2.INTER_AREA)
    tracker.reset()
    for i, frame in enumerate(still):
        assert tracker.analyze(frame, 0.5 * i).faces == 1
    before = tracker.people_runs
    seen = [tracker.analyze(frame, 2.0 + 0.2 * i) for i, frame in enumerate(noisy(joined, 4, seed=8))]
    assert tracker.people_runs - before == 3  # then it counts: the scene is still again
    assert [s.faces for s in seen] == [1, 1, 2, 2]
    assert [s.pending_faces for s in seen] == [1, 1, 0, 0]


def test_the_crop_check_can_be_loaded_before_it_is_needed() -> None:
    # The agent's vision process loads it at start: no model load when a second person comes.
    with FrameAnalyzer(tracking=True) as analyzer:
        assert not analyzer.check_loaded
        analyzer.load_checks()
        assert analyzer.check_loaded and analyzer.confirmation_runs == 0


def test_the_student_sitting_down_takes_over_from_a_face_behind(
    tracker: FrameAnalyzer, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    # While the seat was empty, the landmarker (following one face) locked on to a neighbour
    # behind. The student sits down much nearer: once counted, the landmarker follows her,
    # and the neighbour is the counter's; the count never drops.
    behind = room()
    behind[30:240, 470:640] = cv2.resize(astronaut[20:230, 140:310], (170, 210), interpolation=cv2.INTER_AREA)
    both = behind.copy()
    both[:, :420] = cv2.resize(grace_hopper, (420, 480), interpolation=cv2.INTER_AREA)
    tracker.reset()
    for i, frame in enumerate(noisy(behind, 3, seed=1)):
        assert tracker.analyze(frame, 0.5 * i).faces == 1
    neighbour = tracker.found.marked[0]
    seen = []
    for i, frame in enumerate(noisy(both, 8, seed=2)):
        seen.append(tracker.analyze(frame, 2.0 + 0.2 * i).faces)
        followed = tracker.found.marked[0]
    first = seen.index(2)
    assert seen[first:] == [2] * (len(seen) - first) and first <= 3
    assert followed.width > 1.4 * neighbour.width and followed.x1 < 420  # her, not him
    assert any(box.x0 > 420 for box in tracker.found.counted)
