"""Facial-expression probabilities with the FER library's model, run on LiteRT.

The preprocessing copies FER's own (``fer/fer.py``): grayscale, pad the frame by 40 px with
the mean of its two bottom rows, square the face box, widen it by 10 px per side, crop,
resize to 64x64, scale to [-1, 1]. FER was trained around OpenCV Haar boxes, which include
the forehead, so `haar_like_box` reframes a landmark extent to resemble one.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.core.signals import EXPRESSIONS
from smartsession.vision.images import BGRImage, Box, to_gray
from smartsession.vision.litert import TFLiteModel
from smartsession.vision.models import Model, model_bytes

PADDING = 40
OFFSET = 10
INPUT_SIZE = 64
#: Haar-like reframing of a FaceMesh landmark extent (see `haar_like_box`).
HAAR_SCALE = 1.1
HAAR_SHIFT_UP = 0.10


def haar_like_box(extent: Box) -> Box:
    """A square box resembling an OpenCV Haar face box around a landmark ``extent``.

    The side is ``HAAR_SCALE`` times the extent's larger dimension; the centre moves up by
    ``HAAR_SHIFT_UP`` of the extent's height, so the box takes in the forehead like Haar's.
    """
    side = HAAR_SCALE * max(extent.width, extent.height)
    cx, cy = extent.centre
    cy -= HAAR_SHIFT_UP * extent.height
    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def pad_gray(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """FER's padding: ``PADDING`` px on every side, filled with the mean of the two bottom rows."""
    mean = float(gray[-2:, :].mean())
    return np.asarray(
        cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=mean),
        dtype=np.uint8,
    )


def face_tensor(padded: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.float32] | None:
    """FER's crop of ``box`` (in unpadded pixel coordinates) from a padded frame, as [1,64,64,1].

    Returns None when the box is empty after clipping to the frame.
    """
    x, y = round(box.x0), round(box.y0)
    w, h = round(box.width), round(box.height)
    # FER's tosquare(): grow the shorter side, keeping the centre.
    if h > w:
        x -= (h - w) // 2
        w = h
    elif w > h:
        y -= (w - h) // 2
        h = w
    x1 = max(0, x - OFFSET + PADDING)
    y1 = max(0, y - OFFSET + PADDING)
    x2 = x + w + OFFSET + PADDING
    y2 = y + h + OFFSET + PADDING
    crop = padded[y1:y2, x1:x2]
    if crop.shape[0] < 2 or crop.shape[1] < 2:
        return None
    face = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    face = (face / 255.0 - 0.5) * 2.0
    return face.reshape(1, INPUT_SIZE, INPUT_SIZE, 1)


class ExpressionModel:
    """FER's 7-class expression CNN; `predict` gives probabilities in `EXPRESSIONS` order."""

    def __init__(self) -> None:
        self._model = TFLiteModel(model_bytes(Model.FER))
        if self._model.input_shape != (1, INPUT_SIZE, INPUT_SIZE, 1):
            raise ValueError(f"unexpected FER input shape {self._model.input_shape}")

    def predict_boxes(self, bgr: BGRImage, boxes: list[Box]) -> list[tuple[float, ...]]:
        """Probabilities for each face box (pixel coordinates, already Haar-like), in order.

        A box that falls outside the frame gets an empty tuple.
        """
        if not boxes:
            return []
        padded = pad_gray(to_gray(bgr))
        out: list[tuple[float, ...]] = []
        for box in boxes:
            tensor = face_tensor(padded, box)
            if tensor is None:
                out.append(())
                continue
            probs = self._model.run(tensor)[0].reshape(-1).astype(np.float64)
            total = float(probs.sum())
            if probs.shape[0] != len(EXPRESSIONS) or not np.isfinite(total) or total <= 0:
                out.append(())
                continue
            out.append(tuple(float(p) for p in probs / total))
        return out

    def predict(self, bgr: BGRImage, landmark_extent: Box) -> tuple[float, ...]:
        """Probabilities for the face whose landmarks span ``landmark_extent`` (pixels)."""
        return self.predict_boxes(bgr, [haar_like_box(landmark_extent)])[0]
