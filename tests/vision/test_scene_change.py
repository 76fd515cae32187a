"""The scene watch that lets the people counter rest while nothing in front of the camera moves."""

from __future__ import annotations

import cv2
import numpy as np

from smartsession.vision.images import Box
from smartsession.vision.scene_change import SceneWatch


def scene(seed: int, noise: float = 3.0) -> np.ndarray:
    """A 640x480 room with a gradient wall, fresh sensor noise from ``seed``."""
    frame = np.full((480, 640, 3), 120, np.float64)
    frame[:, :, 0] = np.linspace(80, 160, 640)[None, :]
    rng = np.random.default_rng(seed)
    return np.clip(frame + rng.normal(0.0, noise, frame.shape), 0, 255).astype(np.uint8)


def test_sensor_noise_is_no_change() -> None:
    watch = SceneWatch()
    assert watch.changed(scene(0))  # nothing to compare with yet
    watch.keep(scene(0))
    assert not any(watch.changed(scene(seed, noise=6.0)) for seed in range(1, 30))


def test_a_small_face_arriving_is_a_change(grace_hopper: np.ndarray) -> None:
    watch = SceneWatch()
    watch.keep(scene(0))
    frame = scene(1)
    frame[300:346, 500:540] = cv2.resize(
        grace_hopper[110:360, 150:370], (40, 46), interpolation=cv2.INTER_AREA
    )
    assert watch.changed(frame)


def test_the_followed_face_is_left_out() -> None:
    watch = SceneWatch()
    watch.keep(scene(0))
    frame = scene(1)
    frame[200:260, 300:350] = 20  # her face moved, inside the box the landmarker follows
    assert not watch.changed(frame, ignore=(Box(290, 190, 360, 270),))
    assert watch.changed(frame)
    assert watch.changed(frame, ignore=(Box(0, 0, 40, 40),))


def test_another_frame_size_or_a_cleared_watch_is_a_change() -> None:
    watch = SceneWatch()
    watch.keep(scene(0))
    assert watch.changed(cv2.resize(scene(1), (320, 240)))
    watch.clear()
    assert watch.changed(scene(0))
