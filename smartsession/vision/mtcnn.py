"""MTCNN (Zhang et al. 2016) as a second face detector, for the faces BlazeFace does not see.

The full-range BlazeFace detector scores a three-quarter face half hidden behind a camera,
20-90 px wide, at 0.25 or less, often not at all. MTCNN's cascade was trained on such
faces: a tiny proposal network (PNet, 12x12 windows) slides over an image pyramid, a
refinement network (RNet, 24x24) rejects most proposals, and the output network (ONet,
48x48, `onet.OnetCheck`'s network) scores and places what is left. Boxes and non-maximum
suppression follow the reference implementation (FaceNet's ``align``): PNet boxes merged
per scale at IoU 0.5 and over scales at 0.7, RNet's at 0.7, ONet's at 0.7 of the smaller
box.

It costs far more than BlazeFace (faces of 20-120 px: some 40-60 ms of CPU on a 640x480
frame, 20-30 ms on a 360 px square, 3 ms on a zoom around a 75 px face), so it runs only
where and when BlazeFace's finer look does, and more rarely (`fine_pass`). Its score is
ONet's.

The three networks ship with SmartSession (`mtcnn_*.onnx`); OpenCV's dnn module runs them.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage, Box, check_bgr
from smartsession.vision.models import Model
from smartsession.vision.onet import OnetCheck, as_input, load_net
from smartsession.vision.people import Detection

#: The smallest face looked for by default, in pixels of the analysed frame.
MIN_FACE = 20.0
#: The pyramid's step between scales (the reference's).
SCALE_STEP = 0.709
#: Each stage's face score needed to pass it on.
STAGE_SCORES = (0.6, 0.7, 0.7)
#: PNet's window side and stride, in pixels of its scaled input.
WINDOW = 12
STRIDE = 2


def scales(width: int, height: int, min_face: float, max_face: float | None = None) -> list[float]:
    """The pyramid's scales for an image this size: PNet's 12 px window is a ``min_face`` face
    at the first, each next one is `SCALE_STEP` smaller, down to faces of ``max_face`` (or the
    image's shorter side)."""
    largest = min(width, height) if max_face is None else min(max_face, min(width, height))
    first = WINDOW / min_face
    out: list[float] = []
    scale = first
    while WINDOW / scale <= largest and min(width, height) * scale >= WINDOW:
        out.append(scale)
        scale *= SCALE_STEP
    return out


def nms(boxes: npt.NDArray[np.float64], threshold: float, *, smaller: bool = False) -> npt.NDArray[np.intp]:
    """Indices of the boxes (rows x0, y0, x1, y1, score, ...) kept by greedy non-maximum
    suppression, best first; overlap is intersection over union, or over the smaller box."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    x0, y0, x1, y1, score = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(score)[::-1]
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        overlap = inter / (np.minimum(area[i], area[rest]) if smaller else area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.intp)


def squared(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The boxes made square on their larger side, about the same centre."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regressed(
    boxes: npt.NDArray[np.float64], offsets: npt.NDArray[np.float32], extra: float
) -> npt.NDArray[np.float64]:
    """The boxes moved by a network's offsets (shares of their width and height, that plus
    ``extra`` px)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out[:, 0:4] = boxes[:, 0:4] + offsets[:, 0:4] * np.stack([w, h, w, h], axis=1)
    return out


def patches(rgb: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float32]:
    """Each box (whole pixels, both ends included) cut out of ``rgb``, black beyond its
    edges, resized to ``size`` x ``size``."""
    height, width = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(np.fix(boxes[:, 0:4]).astype(np.int64)):
        w, h = int(x1 - x0 + 1), int(y1 - y0 + 1)
        if w < 1 or h < 1:
            continue
        canvas = np.zeros((h, w, 3), dtype=np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, width), min(y1 + 1, height)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
        out[i] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return out


def inside_any(
    boxes: npt.NDArray[np.float64], known: tuple[Box, ...], dx: float, dy: float
) -> npt.NDArray[np.bool_]:
    """Which boxes (rows x0, y0, x1, y1, ...; offset by ``dx``, ``dy`` from the ``known``
    boxes' pixels) have their centre inside one of ``known``."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + dx
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + dy
    out = np.zeros(len(boxes), dtype=bool)
    for box in known:
        out |= (cx >= box.x0) & (cx <= box.x1) & (cy >= box.y0) & (cy <= box.y1)
    return out


class Mtcnn:
    """MTCNN's cascade over a BGR frame or a region of it (see the module docstring); counts
    its runs."""

    def __init__(self, onet: OnetCheck | None = None) -> None:
        self._pnet = load_net(Model.MTCNN_PNET)
        self._rnet = load_net(Model.MTCNN_RNET)
        self._onet = onet.net if onet is not None else load_net(Model.MTCNN_ONET)
        #: How many regions it has searched.
        self.runs = 0

    def detect(
        self,
        bgr: BGRImage,
        region: Box | None = None,
        min_face: float = MIN_FACE,
        max_face: float | None = None,
        known: tuple[Box, ...] = (),
    ) -> list[Detection]:
        """The faces from ``min_face`` to ``max_face`` px wide in a BGR frame (or in its
        ``region``), best first, with boxes in the frame's pixels and ONet's score. Proposals
        centred inside a ``known`` face are not looked at further."""
        check_bgr(bgr)
        self.runs += 1
        rx, ry = 0, 0
        if region is not None:
            rx, ry = max(0, int(region.x0)), max(0, int(region.y0))
            bgr = bgr[ry : int(region.y1), rx : int(region.x1)]
        if min(bgr.shape[:2]) < WINDOW:
            return []
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        boxes = self._proposals(rgb, scales(rgb.shape[1], rgb.shape[0], min_face, max_face))
        if known and len(boxes):
            boxes = boxes[~inside_any(boxes, known, rx, ry)]
        boxes = self._refined(rgb, boxes)
        boxes = self._output(rgb, boxes)
        return [
            Detection(Box(rx + b[0], ry + b[1], rx + b[2], ry + b[3]), float(b[4]), by_mtcnn=True)
            for b in boxes[np.argsort(-boxes[:, 4])]
        ]

    def _proposals(self, rgb: npt.NDArray[np.uint8], pyramid: list[float]) -> npt.NDArray[np.float64]:
        height, width = rgb.shape[:2]
        found = [np.empty((0, 9))]
        for scale in pyramid:
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            self._pnet.setInput(as_input(image[None]))
            offsets, probs = self._pnet.forward(["conv2d_4", "softmax"])
            # Outputs come as (1, x, y, channels): back to rows and columns.
            score = probs[0, :, :, 1].T
            reg = offsets[0].transpose(1, 0, 2)
            rows, cols = np.nonzero(score >= STAGE_SCORES[0])
            if rows.size == 0:
                continue
            x0 = np.fix((STRIDE * cols + 1) / scale)
            y0 = np.fix((STRIDE * rows + 1) / scale)
            x1 = np.fix((STRIDE * cols + WINDOW) / scale)
            y1 = np.fix((STRIDE * rows + WINDOW) / scale)
            boxes = np.column_stack([x0, y0, x1, y1, score[rows, cols], reg[rows, cols]])
            found.append(boxes[nms(boxes, 0.5)])
        boxes = np.concatenate(found)
        if len(boxes) == 0:
            return boxes[:, :5]
        boxes = boxes[nms(boxes, 0.7)]
        moved = regressed(boxes[:, :5], boxes[:, 5:9], extra=0.0)
        return np.fix(squared(moved)).astype(np.float64)

    def _refined(self, rgb: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if len(boxes) == 0:
            return boxes
        self._rnet.setInput(as_input(patches(rgb, boxes, 24)))
        offsets, probs = self._rnet.forward(["dense_2", "softmax_1"])
        keep = probs[:, 1] > STAGE_SCORES[1]
        boxes = np.column_stack([boxes[keep, :4], probs[keep, 1]])
        offsets = offsets[keep]
        pick = nms(boxes, 0.7)
        return np.fix(squared(regressed(boxes[pick], offsets[pick], extra=1.0))).astype(np.float64)

    def _output(self, rgb: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if len(boxes) == 0:
            return boxes
        self._onet.setInput(as_input(patches(rgb, boxes, 48)))
        offsets, _, probs = self._onet.forward(["dense_5", "dense_6", "softmax_2"])
        keep = probs[:, 1] > STAGE_SCORES[2]
        boxes = regressed(np.column_stack([boxes[keep, :4], probs[keep, 1]]), offsets[keep], extra=1.0)
        return boxes[nms(boxes, 0.7, smaller=True)]
