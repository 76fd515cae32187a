"""Frames for ``smartsession bench agent``: real photos at 640x480, and a video writer."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from smartsession.vision.images import BGRImage


def benchmark_frames() -> list[BGRImage]:
    """640x480 BGR frames from real photos: two portraits, a mirrored one, two faces."""
    import matplotlib.cbook
    import skimage.data

    grace: Any = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]

    def room() -> Any:
        frame = np.full((480, 640, 3), 110, np.uint8)
        frame[:, :, 0] = np.linspace(80, 150, 640, dtype=np.uint8)[None, :]
        return frame

    one = room()
    one[:, 40:600] = cv2.resize(grace, (560, 480), interpolation=cv2.INTER_AREA)
    two = room()
    two[:, 64:576] = cv2.resize(astronaut, (512, 480), interpolation=cv2.INTER_AREA)
    both = room()
    both[:, 20:482] = cv2.resize(grace, (462, 480), interpolation=cv2.INTER_AREA)
    both[140:287, 500:630] = cv2.resize(cv2.flip(grace[80:420, 120:420], 1), (130, 147))
    return [np.ascontiguousarray(f) for f in (one, two, cv2.flip(one, 1), both)]


def write_video(path: str, frames: list[BGRImage], fps: float, repeat: int = 1) -> None:
    """Write ``frames`` (each ``repeat`` times) to an MJPG video at ``path``."""
    height, width = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(path, fourcc, fps, (width, height))
    try:
        for frame in frames:
            for _ in range(repeat):
                writer.write(frame)
    finally:
        writer.release()
