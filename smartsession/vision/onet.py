"""A third opinion on a face candidate: MTCNN's output network (ONet) on the box itself.

The landmarker on a crop (`confirm.FaceCheck`) and OpenCV's Haar cascades (`cascades`)
both miss a three-quarter face half hidden behind a camera; the full-range detector sees
it, or sees it only weakly. MTCNN's last stage is a small classifier trained on face
boxes, turned ones among them: given the box cut out at 48x48 it says face or not. On the
candidates of `tune` and `heldout` it scored no lettering, coin, cloud or texture above
0.97, and most of those cameraman boxes the other two checks missed at 0.99 or more; so
`MIN_SCORE` is 0.99. A box costs about 1.2 ms of CPU: two runs of a 1.5 MB network, one per
`GROWS`.

The model (`mtcnn_onet.onnx`) ships with SmartSession; OpenCV's dnn module runs it.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage, Box, crop_around
from smartsession.vision.models import Model, model_bytes

#: ONet's input side, in pixels.
INPUT_SIZE = 48
#: The face score from which ONet confirms a box.
MIN_SCORE = 0.99
#: The squares looked at, as multiples of the box's larger side: the box, and a little more
#: (the full-range detector's box of a turned face can be tight or off).
GROWS = (1.0, 1.2)
#: ONet's outputs: box offsets, five landmarks, and the face / no-face softmax.
OUTPUTS = ["dense_5", "dense_6", "softmax_2"]


def load_net(model: Model) -> Any:
    """One of the shipped MTCNN networks, read by OpenCV's dnn module."""
    return cv2.dnn.readNetFromONNX(np.frombuffer(model_bytes(model), dtype=np.uint8))


def as_input(images: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """RGB images (n, h, w, 3, 0-255) as MTCNN's networks take them: scaled to [-1, 1], with
    x and y swapped (they were converted from networks trained on transposed images)."""
    return np.ascontiguousarray(((images - 127.5) * 0.0078125).transpose(0, 2, 1, 3))


class OnetCheck:
    """Scores a box with MTCNN's ONet (see the module docstring); counts its runs."""

    def __init__(self) -> None:
        #: The network (`mtcnn.Mtcnn` runs it too).
        self.net = load_net(Model.MTCNN_ONET)
        #: How many boxes it has scored.
        self.runs = 0

    def score(self, bgr: BGRImage, box: Box) -> float:
        """ONet's face probability for ``box``, the best over `GROWS`."""
        self.runs += 1
        best = 0.0
        for grow in GROWS:
            patch = crop_around(bgr, box, grow, INPUT_SIZE)
            rgb = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32)
            self.net.setInput(as_input(rgb[None]))
            outputs = self.net.forward(OUTPUTS)
            best = max(best, float(outputs[-1][0, 1]))
        return best

    def confirms(self, bgr: BGRImage, box: Box) -> bool:
        """True when ONet scores ``box`` a face at `MIN_SCORE` or more."""
        return self.score(bgr, box) >= MIN_SCORE
