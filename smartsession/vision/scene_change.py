"""Whether the camera's scene changed since the people counter last looked (about 0.3 ms).

The people counter's answer stays true while nothing in front of the camera moves: a face
only it sees cannot come, go or move without changing the picture. `SceneWatch` keeps an
80x60 grey thumbnail (each pixel the mean of an 8x8 block of a 640x480 frame, so sensor
noise averages out) of the frame the counter last ran on, and calls a later frame changed
when at least `CHANGED_PIXELS` thumbnail pixels moved by `LEVEL` grey levels or more. A
face 40 px wide covers about 25 of them. The regions the landmarker follows (the student's
own face, grown by `IGNORE_GROW`) are left out: the landmarker watches them on every frame,
and a face that talks, blinks and nods would otherwise reopen the watch all the time.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage, Box, check_bgr

#: The thumbnail's size (width, height).
THUMBNAIL = (80, 60)
#: Grey levels (0-255) a thumbnail pixel must move by to count as changed.
LEVEL = 12
#: Changed thumbnail pixels that make the scene changed.
CHANGED_PIXELS = 4
#: Each ignored box (a followed face) is left out grown by this factor about its centre.
IGNORE_GROW = 1.5


def thumbnail(bgr: BGRImage) -> npt.NDArray[np.int16]:
    """The grey `THUMBNAIL` of a BGR frame (block means), as int16 for differences."""
    check_bgr(bgr)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.resize(grey, THUMBNAIL, interpolation=cv2.INTER_AREA), dtype=np.int16)


def grow(box: Box, factor: float) -> Box:
    """``box`` grown by ``factor`` about its centre."""
    cx, cy = box.centre
    half_w, half_h = box.width * factor / 2, box.height * factor / 2
    return Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def moved(
    now: npt.NDArray[np.int16],
    reference: npt.NDArray[np.int16],
    scale: tuple[float, float],
    ignore: tuple[Box, ...] = (),
) -> npt.NDArray[np.bool_]:
    """The thumbnail pixels that moved by `LEVEL` or more between two thumbnails, leaving out
    the ``ignore`` boxes (pixels of a frame that ``scale`` maps onto the thumbnail)."""
    out: npt.NDArray[np.bool_] = np.abs(now - reference) >= LEVEL
    sx, sy = scale
    for box in ignore:
        x0, x1 = int(max(0.0, box.x0 * sx)), int(np.ceil(box.x1 * sx))
        y0, y1 = int(max(0.0, box.y0 * sy)), int(np.ceil(box.y1 * sy))
        out[y0:y1, x0:x1] = False
    return out


class SceneWatch:
    """The thumbnail of a reference frame, and whether later frames differ from it."""

    def __init__(self) -> None:
        self._reference: npt.NDArray[np.int16] | None = None
        self._scale = (1.0, 1.0)

    def keep(self, bgr: BGRImage) -> None:
        """Make ``bgr`` the reference (the frame the counter just ran on)."""
        self._reference = thumbnail(bgr)
        height, width = bgr.shape[:2]
        self._scale = (THUMBNAIL[0] / width, THUMBNAIL[1] / height)

    def changed(self, bgr: BGRImage, ignore: tuple[Box, ...] = ()) -> bool:
        """True when ``bgr`` differs from the reference outside the ``ignore`` boxes (pixels of
        the frame, each grown by `IGNORE_GROW`), or there is no reference yet, or the frame's
        size changed."""
        if self._reference is None:
            return True
        height, width = bgr.shape[:2]
        if (THUMBNAIL[0] / width, THUMBNAIL[1] / height) != self._scale:
            return True
        grown = tuple(grow(box, IGNORE_GROW) for box in ignore)
        return (
            int(np.count_nonzero(moved(thumbnail(bgr), self._reference, self._scale, grown)))
            >= CHANGED_PIXELS
        )

    def clear(self) -> None:
        """Forget the reference (a new camera or clip)."""
        self._reference = None
