"""MediaPipe FaceLandmarker (Tasks API, IMAGE or VIDEO mode) behind a small typed wrapper.

Create a `FaceLandmarker` once (it loads the model, about 0.2 s), call `detect` per frame,
and close it (`with` block) when done: an unclosed landmarker raises at interpreter exit.
mediapipe 1.x contacts a Google logging host on create and close; run this in a process
without network (see PROVENANCE.md).

``tracking=True`` runs MediaPipe's VIDEO mode for a stream of frames from one camera: the
face region comes from the previous frame's landmarks, and the face detector runs only
while fewer faces than ``max_faces`` are followed (a student alone in front of the camera
with ``max_faces=2``: the detector still looks for a second face, but the landmarks are
not searched for afresh). Frames must then come with their time (`detect`'s ``t``), in
increasing order. IMAGE mode (the default) treats every frame on its own: single photos,
crops, unrelated frames.

`detect_rgb` reads mediapipe's C result directly into numpy arrays (the pinned mediapipe
1.2.2 exposes it as ctypes structs): its own Python conversion builds one object per
landmark, about 1,000 per face and 2 ms of CPU per frame, where the arrays cost 0.05 ms.
When those internals are missing (another mediapipe version), it falls back to the public
`detect`, with the same results.
"""

from __future__ import annotations

import ctypes
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
    instance per thread. ``details=False`` skips the blendshapes and the transformation
    matrix (landmarks only: cheaper, for telling whether and where a face is);
    ``tracking=True`` follows the faces from frame to frame (VIDEO mode, see the module
    docstring: pass each frame's time to `detect`).
    """

    def __init__(
        self,
        max_faces: int = 2,
        min_confidence: float = 0.5,
        *,
        details: bool = True,
        tracking: bool = False,
    ) -> None:
        self.tracking = tracking
        self._landmarker: Any = create_mediapipe_landmarker(
            max_faces, min_confidence, details=details, tracking=tracking
        )
        self._raw = _RawResults.for_landmarker(self._landmarker)
        self._last_ms = -1

    def detect_rgb(self, rgb: npt.NDArray[np.uint8], t: float = 0.0) -> list[FaceLandmarks]:
        """Faces in a C-contiguous HxWx3 RGB uint8 image, largest first.

        ``t`` (seconds) is the frame's time when tracking: a time not after the previous
        frame's is taken as one millisecond after it (MediaPipe needs them increasing).
        """
        import mediapipe as mp

        if self._landmarker is None:
            raise RuntimeError("detect() on a closed FaceLandmarker")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        # A non-contiguous view (e.g. bgr[:, :, ::-1]) gives garbage silently: always copy then.
        rgb = np.ascontiguousarray(rgb)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        if self.tracking:
            self._last_ms = max(round(t * 1000), self._last_ms + 1)
            faces = (
                self._raw.detect(image, self._last_ms)
                if self._raw is not None
                else _faces(self._landmarker.detect_for_video(image, self._last_ms))
            )
        else:
            faces = (
                self._raw.detect(image) if self._raw is not None else _faces(self._landmarker.detect(image))
            )
        faces.sort(key=lambda f: -float(np.ptp(f.landmarks[:, 0]) * np.ptp(f.landmarks[:, 1])))
        return faces

    def detect(self, bgr: BGRImage, t: float = 0.0) -> list[FaceLandmarks]:
        """Faces in an OpenCV BGR image, largest first (``t``: see `detect_rgb`)."""
        return self.detect_rgb(to_rgb(bgr), t)

    def forget(self) -> None:
        """Stop following the faces (tracking): the next frame is searched afresh."""
        if self.tracking:
            # A blank frame loses whatever the tracking landmarker followed.
            self.detect(np.zeros((64, 64, 3), np.uint8))  # a time not after the last: 1 ms later

    def close(self) -> None:
        """Release the model; `detect` must not be called afterwards. Idempotent."""
        if self._landmarker is not None:
            landmarker, self._landmarker = self._landmarker, None
            self._raw = None
            landmarker.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def create_mediapipe_landmarker(
    max_faces: int = 2, min_confidence: float = 0.5, *, details: bool = True, tracking: bool = False
) -> Any:
    """MediaPipe's own FaceLandmarker (IMAGE mode, or VIDEO with ``tracking``; blendshapes
    and matrices on with ``details``), unwrapped.

    `FaceLandmarker` wraps one of these; ``smartsession bench agent`` times a bare one as the
    baseline. Close it when done.
    """
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=model_bytes(Model.FACE_LANDMARKER)),
        running_mode=vision.RunningMode.VIDEO if tracking else vision.RunningMode.IMAGE,
        num_faces=max_faces,
        min_face_detection_confidence=min_confidence,
        min_face_presence_confidence=min_confidence,
        output_face_blendshapes=details,
        output_facial_transformation_matrixes=details,
    )
    return vision.FaceLandmarker.create_from_options(options)


def _faces(result: Any) -> list[FaceLandmarks]:
    """`FaceLandmarks` from mediapipe's public `FaceLandmarkerResult` (the slow, portable path)."""
    faces: list[FaceLandmarks] = []
    for i, marks in enumerate(result.face_landmarks):
        points = np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float64)
        shapes: dict[str, float] = {}
        if result.face_blendshapes and i < len(result.face_blendshapes):
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[i]}
        matrix = None
        if result.facial_transformation_matrixes and i < len(result.facial_transformation_matrixes):
            matrix = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float64)
        faces.append(FaceLandmarks(points, shapes, matrix))
    return faces


class _RawResults:
    """Runs a mediapipe 1.2.2 landmarker through its C call and copies the C result
    straight into numpy (see the module docstring)."""

    def __init__(self, landmarker: Any, module: Any, landmark_type: Any) -> None:
        self._landmarker = landmarker
        self._module = module
        self._landmark_size = ctypes.sizeof(landmark_type)
        self._xyz = [landmark_type.x.offset, landmark_type.y.offset, landmark_type.z.offset]

    @classmethod
    def for_landmarker(cls, landmarker: Any) -> _RawResults | None:
        """The fast path for ``landmarker``, or None when this mediapipe lacks the internals."""
        try:
            from mediapipe.tasks.python.components.containers import landmark_c
            from mediapipe.tasks.python.vision import face_landmarker as module

            landmark_type = landmark_c.MpNormalizedLandmarkC
            fields = {name for name, *_ in landmark_type._fields_}
            size = ctypes.sizeof(landmark_type)
            offsets = [landmark_type.x.offset, landmark_type.y.offset, landmark_type.z.offset]
            if not {"x", "y", "z"} <= fields or size % 4 or any(offset % 4 for offset in offsets):
                return None
            needed = (
                landmarker._lib.MpFaceLandmarkerDetectImage,
                landmarker._lib.MpFaceLandmarkerDetectForVideo,
                landmarker._lib.MpFaceLandmarkerCloseResult,
            )
            if not all(callable(fn) for fn in needed) or not hasattr(landmarker, "_handle"):
                return None
            if not hasattr(module, "MpFaceLandmarkerResultC"):
                return None
        except (ImportError, AttributeError, TypeError):
            return None
        return cls(landmarker, module, landmark_type)

    def detect(self, image: Any, timestamp_ms: int | None = None) -> list[FaceLandmarks]:
        """What ``landmarker.detect(image)`` finds (``detect_for_video(image, timestamp_ms)``
        when a timestamp is given), as `FaceLandmarks` (unsorted)."""
        landmarker = self._landmarker
        result = self._module.MpFaceLandmarkerResultC()
        if timestamp_ms is None:
            landmarker._lib.MpFaceLandmarkerDetectImage(
                landmarker._handle, image._image_ptr, None, ctypes.byref(result)
            )
        else:
            landmarker._lib.MpFaceLandmarkerDetectForVideo(
                landmarker._handle, image._image_ptr, None, timestamp_ms, ctypes.byref(result)
            )
        try:
            return self._convert(result)
        finally:
            landmarker._lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))

    def _convert(self, result: Any) -> list[FaceLandmarks]:
        faces: list[FaceLandmarks] = []
        for i in range(result.face_landmarks_count):
            marks = result.face_landmarks[i]
            count = int(marks.landmarks_count)
            raw = ctypes.string_at(ctypes.cast(marks.landmarks, ctypes.c_void_p), count * self._landmark_size)
            floats = np.frombuffer(raw, dtype=np.float32).reshape(count, self._landmark_size // 4)
            points = floats[:, [offset // 4 for offset in self._xyz]].astype(np.float64)
            shapes: dict[str, float] = {}
            if i < result.face_blendshapes_count:
                categories = result.face_blendshapes[i]
                for j in range(categories.categories_count):
                    category = categories.categories[j]
                    name = category.category_name
                    if name:
                        shapes[name.decode()] = float(category.score)
            matrix = None
            if i < result.facial_transformation_matrixes_count:
                array = result.facial_transformation_matrixes[i].to_numpy()
                matrix = np.asarray(array, dtype=np.float64) if array.size else None
            faces.append(FaceLandmarks(points, shapes, matrix))
        return faces


def detect_public(landmarker: Any, bgr: BGRImage) -> Any:
    """MediaPipe's own public ``detect`` on a BGR frame, result unconverted (the bench's baseline)."""
    import mediapipe as mp

    return landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=to_rgb(bgr)))


def detect_public_video(landmarker: Any, bgr: BGRImage, t: float) -> Any:
    """MediaPipe's own public ``detect_for_video`` on a BGR frame at ``t`` seconds (the
    bench's VIDEO-mode baseline; times must increase)."""
    import mediapipe as mp

    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=to_rgb(bgr))
    return landmarker.detect_for_video(image, round(t * 1000))
