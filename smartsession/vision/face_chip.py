"""The aligned 150x150 face chip dlib's face-recognition network wants, from MediaPipe's landmarks.

dlib aligns with its 5-point shape predictor and ``get_face_chip_details(shape, 150, 0.25)``
(``dlib/image_transforms/interpolation.h``): the least-squares similarity transform from a
fixed template of 5 points (both corners of each eye and the base of the nose, in a unit
square widened by the padding) to the 5 points found, then ``extract_image_chip``: bilinear
sampling of the rotated, scaled rectangle, from a 2x image pyramid level when the face is
more than twice the chip's size. Here the same 5 points come from FaceMesh:

=====  ======================================  =============
dlib   point                                   FaceMesh
=====  ======================================  =============
0      outer corner of the eye at image right  263
1      inner corner of that eye                362
2      outer corner of the eye at image left   33
3      inner corner of that eye                133
4      base of the nose, between the nostrils  2
=====  ======================================  =============

Call `five_points` on a face's landmarks, then `face_chip` (or `chip_from_landmarks`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25

#: FaceMesh indices of dlib's 5 points, in dlib's order (see the module docstring).
FACEMESH_FIVE = (263, 362, 33, 133, 2)

#: dlib's 5-point template in a unit square (``get_face_chip_details``).
TEMPLATE = np.array(
    [
        (0.8595674595992, 0.2134981538014),
        (0.6460604764104, 0.2289674387677),
        (0.1205750620789, 0.2137274526848),
        (0.3340850613712, 0.2290642403242),
        (0.4901123135679, 0.6277975316475),
    ]
)

_GAUSS5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0])


def five_points(landmarks: npt.NDArray[np.float64], width: int, height: int) -> npt.NDArray[np.float64]:
    """dlib's 5 points (5x2, pixels) from FaceMesh's normalised landmarks of a ``width`` x ``height`` image."""
    points = np.asarray(landmarks, dtype=np.float64)[list(FACEMESH_FIVE), :2]
    return points * np.array([width, height], dtype=np.float64)


def similarity_transform(
    src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) taking ``src`` to ``dst``.

    Umeyama's method, as dlib's ``find_similarity_transform``.
    """
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mean_src, dst - mean_dst
    variance = float((a**2).sum()) / len(src)
    covariance = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(covariance)
    s = np.eye(2)
    if np.linalg.det(covariance) < 0:
        s[1, 1] = -1
    rotation = u @ s @ vt
    scale = float(np.trace(np.diag(d) @ s)) / variance if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mean_dst - scale * rotation @ mean_src
    return matrix


def chip_rect(
    points: npt.NDArray[np.float64], size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> tuple[npt.NDArray[np.float64], float]:
    """dlib's ``chip_details`` for the face at ``points``: its rectangle (left, top, right,
    bottom in image pixels, before rotation) and its angle in radians.

    The similarity from the template (scaled to the chip) to the points gives an angle and a
    scale; the rectangle is ``size * scale - 1`` wide, centred on the template centre's image.
    """
    template = (padding + TEMPLATE) / (2 * padding + 1) * size
    tform = similarity_transform(template, points)
    p = tform[:, :2] @ np.array([1.0, 0.0])
    angle = math.atan2(p[1], p[0])
    half = (size * math.hypot(p[0], p[1]) - 1) / 2.0
    cx, cy = tform[:, :2] @ np.array([size / 2.0, size / 2.0]) + tform[:, 2]
    return np.array([cx - half, cy - half, cx + half, cy + half]), angle


def _corners(rect: npt.NDArray[np.float64], angle: float) -> npt.NDArray[np.float64]:
    """The rectangle's top-left, top-right, bottom-left and bottom-right, rotated about its centre."""
    left, top, right, bottom = rect
    centre = np.array([(left + right) / 2.0, (top + bottom) / 2.0])
    corners = np.array([(left, top), (right, top), (left, bottom), (right, bottom)]) - centre
    cos, sin = math.cos(angle), math.sin(angle)
    rotated: npt.NDArray[np.float64] = corners @ np.array([[cos, -sin], [sin, cos]]).T + centre
    return rotated


def _area(rect: npt.NDArray[np.float64]) -> float:
    """A ``drectangle``'s area: (right - left + 1) * (bottom - top + 1)."""
    return max(0.0, float(rect[2] - rect[0]) + 1) * max(0.0, float(rect[3] - rect[1]) + 1)


def _rect_down(rect: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``pyramid_down<2>::rect_down``: each corner p becomes p / 2 - (1.25, 0.75)."""
    down: npt.NDArray[np.float64] = rect / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return down


def _pyramid_down(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """dlib's ``pyramid_down<2>`` on an RGB image: the 5x5 kernel [1 4 6 4 1]^2 over the valid
    area, every other pixel from the third, the sum divided by 256 and truncated."""
    sums = cv2.sepFilter2D(image, cv2.CV_32F, _GAUSS5, _GAUSS5, borderType=cv2.BORDER_REPLICATE)
    rows, cols = (image.shape[0] - 3) // 2, (image.shape[1] - 3) // 2
    return np.ascontiguousarray(np.floor(sums[2::2, 2::2][:rows, :cols] / 256.0))


def face_chip(bgr: BGRImage, points: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """The 150x150 RGB chip of the face whose dlib 5 points (`five_points`) are ``points``.

    ``extract_image_chip`` step by step: the pyramid (when the face is more than twice the
    chip) is built on a crop around the face as dlib builds it, and sampling is bilinear in
    float, truncated to uint8. On the test portraits this gives dlib's own chip to the pixel
    (see docs/identity.md).
    """
    size = CHIP_SIZE * CHIP_SIZE
    rect, angle = chip_rect(points)
    depth, grow, down = 0, 2.0, _rect_down(rect)
    while _area(down) > size:
        down, depth, grow = _rect_down(down), depth + 1, grow * 2 + 2
    corners = _corners(rect, angle)
    height, width = bgr.shape[:2]
    lo = np.maximum(corners.min(axis=0) - grow, 0.0)
    hi = np.minimum(corners.max(axis=0) + grow, [width - 1.0, height - 1.0])
    x0, y0 = (int(v) for v in np.floor(lo + 0.5))
    x1, y1 = (int(v) for v in np.floor(hi + 0.5))
    image = np.ascontiguousarray(bgr[y0 : y1 + 1, x0 : x1 + 1, ::-1], dtype=np.float32)
    rect = rect - np.array([x0, y0, x0, y0], dtype=np.float64)
    levels = 0
    while levels < depth and _area(_rect_down(rect)) > size and min(image.shape[:2]) > 8:
        image, rect, levels = _pyramid_down(image), _rect_down(rect), levels + 1
    last = float(CHIP_SIZE - 1)
    src = np.array([(0.0, 0.0), (last, 0.0), (0.0, last)], dtype=np.float32)
    matrix = cv2.getAffineTransform(src, _corners(rect, angle)[:3].astype(np.float32))
    chip = cv2.warpAffine(
        image,
        matrix,
        (CHIP_SIZE, CHIP_SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(np.clip(np.floor(chip), 0, 255), dtype=np.uint8)


def chip_from_landmarks(bgr: BGRImage, landmarks: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """The aligned RGB chip of the face with FaceMesh ``landmarks`` (normalised) in ``bgr``."""
    height, width = bgr.shape[:2]
    return face_chip(bgr, five_points(landmarks, width, height))
