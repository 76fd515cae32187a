"""The scripted clip of ``smartsession bench agent``: a student sits, glances away, leaves,
comes back, and someone else joins them, made from the shipped faces.

The student is matplotlib's Grace Hopper (the benchmark's one-face frame, 640x480), the
second person scikit-image's astronaut, her face about 100 px wide, beside her; an empty room stands
for a student out of view. Every frame gets fresh sensor noise, as a camera's would. The
clip is written as an MJPG video at `CLIP_FPS`, which the vision process plays in real time
(`VideoSource` with ``realtime=True``) as it would read a camera.

`Scene`s say what the camera sees when; `expected_alerts` says which alerts that must raise
and from when their conditions hold, so that a run's alerts can be timed against the clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from smartsession.core.settings import Timing
from smartsession.core.states import AlertReason
from smartsession.vision.benchdata import benchmark_frames
from smartsession.vision.facephotos import portraits
from smartsession.vision.images import BGRImage

#: Frames per second of the written clip (the agent's full rate).
CLIP_FPS = 5.0
#: Standard deviation of the sensor noise added to every frame (0-255).
NOISE = 3.0

What = Literal["sitting", "away", "second"]


@dataclass(frozen=True)
class Scene:
    """From ``start`` to ``end`` seconds the camera sees ``what``."""

    start: float
    end: float
    what: What


#: Sitting (calibration, then still), a glance away shorter than any hold (the face turns
#: out of view for 2 s), sitting, leaving for 9 s, back, a second person for 6 s, sitting.
CLIP: tuple[Scene, ...] = (
    Scene(0.0, 16.0, "sitting"),
    Scene(16.0, 18.0, "away"),
    Scene(18.0, 28.0, "sitting"),
    Scene(28.0, 37.0, "away"),
    Scene(37.0, 47.0, "sitting"),
    Scene(47.0, 53.0, "second"),
    Scene(53.0, 62.0, "sitting"),
)
#: The same events, closer together (for ``--quick``).
QUICK_CLIP: tuple[Scene, ...] = (
    Scene(0.0, 3.0, "sitting"),
    Scene(3.0, 9.0, "away"),
    Scene(9.0, 11.0, "sitting"),
    Scene(11.0, 14.5, "second"),
    Scene(14.5, 16.0, "sitting"),
)


@dataclass(frozen=True)
class ExpectedAlert:
    """An alert the clip must raise: its reason, when its condition starts (clip seconds),
    its hold, and when the condition ends."""

    reason: AlertReason
    onset: float
    hold: float
    end: float


def expected_alerts(scenes: tuple[Scene, ...], timing: Timing) -> list[ExpectedAlert]:
    """The alerts ``scenes`` raise with these alert timings: every scene away from the
    camera for its no-face hold, every second person for the multiple-faces hold."""
    found: list[ExpectedAlert] = []
    for scene in scenes:
        if scene.what == "away" and scene.end - scene.start > timing.no_face:
            found.append(ExpectedAlert(AlertReason.NO_FACE, scene.start, timing.no_face, scene.end))
        elif scene.what == "second" and scene.end - scene.start > timing.multiple_faces:
            found.append(
                ExpectedAlert(AlertReason.MULTIPLE_FACES, scene.start, timing.multiple_faces, scene.end)
            )
    return found


def duration(scenes: tuple[Scene, ...]) -> float:
    """The clip's length in seconds."""
    return scenes[-1].end


def _pictures() -> dict[What, BGRImage]:
    """The still picture behind each kind of scene."""
    sitting = benchmark_frames()[0]
    room = np.full_like(sitting, 110)
    room[:, :, 0] = np.linspace(80, 150, sitting.shape[1], dtype=np.uint8)[None, :]
    astronaut = portraits()[1]
    box = astronaut.box
    # The astronaut's head and shoulders, her face 100 px wide, in the frame's bottom right
    # corner (clear of the student's face).
    x0, y0 = int(box.x0 - 0.3 * box.width), int(box.y0 - 0.5 * box.height)
    x1, y1 = int(box.x1 + 0.6 * box.width), int(box.y1 + 0.9 * box.height)
    crop = astronaut.image[max(y0, 0) : y1, max(x0, 0) : x1]
    scale = 100.0 / box.width
    head = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)))
    second = sitting.copy()
    h, w = head.shape[:2]
    second[480 - h :, 640 - w :] = head[: min(h, 480), : min(w, 640)]
    return {"sitting": sitting, "away": room, "second": second}


def frames(scenes: tuple[Scene, ...], fps: float = CLIP_FPS, seed: int = 7) -> Iterator[BGRImage]:
    """The clip's frames in order, ``fps`` a second (made one at a time)."""
    pictures = _pictures()
    rng = np.random.default_rng(seed)
    count = round(duration(scenes) * fps)
    for index in range(count):
        t = index / fps
        scene = next(s for s in scenes if s.start <= t < s.end)
        noise = rng.normal(0.0, NOISE, pictures[scene.what].shape)
        yield np.clip(pictures[scene.what] + noise, 0, 255).astype(np.uint8)


def write_clip(path: str, scenes: tuple[Scene, ...], fps: float = CLIP_FPS) -> None:
    """Write the clip of ``scenes`` to an MJPG video at ``path``."""
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(path, fourcc, fps, (640, 480))
    try:
        for frame in frames(scenes, fps):
            writer.write(frame)
    finally:
        writer.release()
