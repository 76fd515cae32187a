"""Counting faces (people) with MediaPipe's full-range BlazeFace detector on LiteRT.

The landmarker's own short-range detector misses faces narrower than about 80 px in a
640x480 frame; the full-range model (192x192 input) sees background faces too. Anchor
generation, box decoding and non-maximum suppression follow MediaPipe's
``face_detection_full_range`` graph (SSD anchors: one 48x48 layer, stride 4, fixed size;
16 values per anchor: box centre/size then 6 keypoints; sigmoid scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage, Box, check_bgr
from smartsession.vision.litert import TFLiteModel
from smartsession.vision.models import Model, model_bytes

INPUT_SIZE = 192
STRIDE = 4
SCORE_CLIP = 100.0
#: Score threshold (MediaPipe uses 0.6; 0.5 keeps 50 px faces) and NMS overlap (MediaPipe's).
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected face: its box in pixels of the analysed frame and its score in [0, 1];
    ``by_mtcnn`` when MTCNN found it (`mtcnn`: the score is ONet's), not BlazeFace."""

    box: Box
    score: float
    by_mtcnn: bool = False


def anchors(input_size: int = INPUT_SIZE, stride: int = STRIDE) -> npt.NDArray[np.float64]:
    """SSD anchor centres (x, y), normalised, in the model's row-major output order."""
    cells = input_size // stride
    centres = (np.arange(cells, dtype=np.float64) + 0.5) / cells
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def decode(
    raw_boxes: npt.NDArray[np.float32],
    raw_scores: npt.NDArray[np.float32],
    anchor_xy: npt.NDArray[np.float64],
    min_score: float = MIN_SCORE,
    input_size: int = INPUT_SIZE,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Boxes (x0, y0, x1, y1, normalised to the model input) and scores above ``min_score``."""
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw = raw_boxes.reshape(-1, raw_boxes.shape[-1])[keep].astype(np.float64)
    centre = raw[:, 0:2] / input_size + anchor_xy[keep]
    half = raw[:, 2:4] / input_size / 2
    return np.concatenate([centre - half, centre + half], axis=1), scores[keep]


def iou(box: npt.NDArray[np.float64], others: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Intersection over union of one (x0, y0, x1, y1) box with each row of ``others``."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], threshold: float = NMS_IOU
) -> list[tuple[npt.NDArray[np.float64], float]]:
    """MediaPipe's weighted NMS: each cluster (IoU > ``threshold`` with its best box) becomes
    one box, the score-weighted mean of the cluster, with the best box's score."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out: list[tuple[npt.NDArray[np.float64], float]] = []
    remaining = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        cluster = remaining & (iou(boxes[i], boxes) > threshold)
        cluster[i] = True
        weights = scores[cluster]
        merged = (boxes[cluster] * weights[:, None]).sum(axis=0) / weights.sum()
        out.append((merged, float(scores[i])))
        remaining &= ~cluster
    return out


def shrink(image: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """``image`` resized down to ``width`` x ``height`` with area averaging.

    OpenCV's area resize is fast only for whole-number factors (640x480 to 192x144 costs
    about 1.8 ms, the same after an exact halving about 0.9 ms in all), so the image is first
    halved exactly while it is at least twice the target in both directions.
    """
    h, w = image.shape[:2]
    while h % 2 == 0 and w % 2 == 0 and w >= 2 * width and h >= 2 * height:
        image = np.asarray(cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        h, w = image.shape[:2]
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def letterbox(
    rgb: npt.NDArray[np.uint8], size: int = INPUT_SIZE
) -> tuple[npt.NDArray[np.uint8], float, int, int]:
    """Fit ``rgb`` into a size x size square keeping its aspect ratio (black bars).

    Returns the square, the scale applied and the x and y offsets of the image inside it.
    Channel order is kept (the square is RGB for an RGB image, BGR for a BGR one).
    """
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = shrink(rgb, nw, nh) if scale < 1.0 else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    square = np.zeros((size, size, 3), dtype=np.uint8)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    square[oy : oy + nh, ox : ox + nw] = resized
    return square, scale, ox, oy


class PeopleCounter:
    """Finds faces of any size down to about 40-50 px wide in a 640x480 frame."""

    def __init__(self, min_score: float = MIN_SCORE, min_size_px: float = 0.0) -> None:
        self._model = TFLiteModel(model_bytes(Model.FACE_DETECTOR_FULL_RANGE))
        if self._model.input_shape != (1, INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"unexpected face detector input shape {self._model.input_shape}")
        self._anchors = anchors()
        self.min_score = min_score
        self.min_size_px = min_size_px

    def detect(
        self, bgr: BGRImage, region: Box | None = None, min_score: float | None = None
    ) -> list[Detection]:
        """Faces in a BGR frame (or in its ``region``), best first, with boxes in the frame's
        pixels; those scoring ``min_score`` (default: the counter's own) and up."""
        check_bgr(bgr)
        rx, ry = 0, 0
        if region is not None:
            rx, ry = int(region.x0), int(region.y0)
            bgr = np.ascontiguousarray(bgr[ry : int(region.y1), rx : int(region.x1)])
        square, scale, ox, oy = letterbox(bgr)  # shrink first: converting the small square is cheaper
        rgb = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
        tensor = (rgb.astype(np.float32) / 127.5 - 1.0)[None]
        outputs = self._model.run(tensor)
        raw_boxes, raw_scores = (
            (outputs[0], outputs[1]) if outputs[0].shape[-1] == 16 else (outputs[1], outputs[0])
        )
        floor = self.min_score if min_score is None else min_score
        boxes, scores = decode(raw_boxes, raw_scores, self._anchors, floor)
        found: list[Detection] = []
        for merged, score in weighted_nms(boxes, scores):
            px = [float(v) * INPUT_SIZE for v in merged]
            box = Box(
                rx + (px[0] - ox) / scale,
                ry + (px[1] - oy) / scale,
                rx + (px[2] - ox) / scale,
                ry + (px[3] - oy) / scale,
            )
            if min(box.width, box.height) >= self.min_size_px:
                found.append(Detection(box, score))
        return found

    def count(self, bgr: BGRImage) -> int:
        """How many faces are in the frame."""
        return len(self.detect(bgr))
