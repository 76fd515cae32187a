"""MediaPipe FaceLandmarker (Tasks API, IMAGE mode) behind a small typed wrapper.

Create a `FaceLandmarker` once (it loads the model, about 0.2 s), call `detect` per frame,
and close it (`with` block) when done: an unclosed landmarker raises at interpreter exit.
mediapipe 1.x contacts a Google logging host on create and close; run this in a process
without network (see PROVENANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from smartsession.vision.images import BGRImage, Box, to_rgb
from smartsession.vision.models import Model, model_bytes


@dataclass(frozen=True)
class FaceLandmarks:
    """One face: 478 normalised landmarks (x, y in [0, 1] of the image, z relative), the 52
    blendshape scores by name, and the 4x4 facial transformation matrix (or None)."""

    landmarks: npt.NDArray[np.float64]
    blendshapes: dict[str, float] = field(default_factory=dict)
    matrix: npt.NDArray[np.float64] | None = None

    def extent(self, width: int, height: int) -> Box:
        """The landmarks' bounding box in pixels of a ``width`` x ``height`` image."""
        xs = self.landmarks[:, 0] * width
        ys = self.landmarks[:, 1] * height
        return Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


class FaceLandmarker:
    """MediaPipe's face landmarker with blendshapes and transformation matrices.

    Use as a context manager, or call `close`. `detect` is not thread-safe; use one
    instance per thread.
    """

    def __init__(self, max_faces: int = 2, min_confidence: float = 0.5) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model_bytes(Model.FACE_LANDMARKER)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._landmarker: Any = vision.FaceLandmarker.create_from_options(options)

    def detect_rgb(self, rgb: npt.NDArray[np.uint8]) -> list[FaceLandmarks]:
        """Faces in a C-contiguous HxWx3 RGB uint8 image, largest first."""
        import mediapipe as mp

        if self._landmarker is None:
            raise RuntimeError("detect() on a closed FaceLandmarker")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        # A non-contiguous view (e.g. bgr[:, :, ::-1]) gives garbage silently: always copy then.
        rgb = np.ascontiguousarray(rgb)
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        faces: list[FaceLandmarks] = []
        for i, marks in enumerate(result.face_landmarks):
            points = np.array([[p.x, p.y, p.z] for p in marks], dtype=np.float64)
            shapes: dict[str, float] = {}
            if result.face_blendshapes and i < len(result.face_blendshapes):
                shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[i]}
            matrix = None
            if result.facial_transformation_matrixes and i < len(result.facial_transformation_matrixes):
                matrix = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float64)
            faces.append(FaceLandmarks(points, shapes, matrix))
        faces.sort(key=lambda f: -float(np.ptp(f.landmarks[:, 0]) * np.ptp(f.landmarks[:, 1])))
        return faces

    def detect(self, bgr: BGRImage) -> list[FaceLandmarks]:
        """Faces in an OpenCV BGR image, largest first."""
        return self.detect_rgb(to_rgb(bgr))

    def close(self) -> None:
        """Release the model; `detect` must not be called afterwards. Idempotent."""
        if self._landmarker is not None:
            landmarker, self._landmarker = self._landmarker, None
            landmarker.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
