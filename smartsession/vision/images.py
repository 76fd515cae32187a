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
