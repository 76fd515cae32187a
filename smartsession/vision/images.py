"""Image helpers shared by the vision modules: types, colour conversion, boxes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

#: An OpenCV image: HxWx3 uint8 in BGR order.
BGRImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels, (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


def to_rgb(bgr: BGRImage) -> npt.NDArray[np.uint8]:
    """A new C-contiguous RGB copy of a BGR image (never a reversed view)."""
    check_bgr(bgr)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def to_gray(bgr: BGRImage) -> npt.NDArray[np.uint8]:
    """A grayscale copy of a BGR image."""
    check_bgr(bgr)
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def check_bgr(image: npt.NDArray[np.uint8]) -> None:
    """Raise ValueError unless ``image`` is a non-empty HxWx3 uint8 array."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got shape {image.shape} dtype {image.dtype}")


def crop_around(bgr: BGRImage, box: Box, grow: float, size: int) -> BGRImage:
    """A ``size`` x ``size`` crop centred on ``box``, ``grow`` times its larger side (black
    beyond the frame's edges)."""
    cx, cy = box.centre
    side = grow * max(box.width, box.height, 1.0)
    scale = size / side
    matrix = np.array([[scale, 0.0, size / 2 - cx * scale], [0.0, scale, size / 2 - cy * scale]])
    flags = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(bgr, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(crop, dtype=np.uint8)
