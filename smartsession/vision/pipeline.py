"""One frame in, one `FrameSignals` out: landmarker + expression model + people counter.

Use `FrameAnalyzer` as a context manager in the process that owns the camera; nothing but
numbers leaves it. FER output is raw per frame (noisy); smoothing belongs to the engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

from smartsession.core import cues
from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.vision.expression import ExpressionModel
from smartsession.vision.images import BGRImage, check_bgr
from smartsession.vision.landmarks import FaceLandmarker, FaceLandmarks
from smartsession.vision.people import PeopleCounter

#: Seconds (frame time) between people-counter runs when the landmarker's count is steady.
PEOPLE_INTERVAL = 0.5


@dataclass
class Timings:
    """Milliseconds spent in each model on the last analysed frame."""

    landmarker_ms: float = 0.0
    expression_ms: float = 0.0
    people_ms: float = 0.0


def signals_from_face(
    t: float, faces: int, face: FaceLandmarks, width: int, height: int, expressions: tuple[float, ...]
) -> FrameSignals:
    """The `FrameSignals` of a frame whose main face is ``face``."""
    pose = cues.head_pose(face.matrix) if face.matrix is not None else cues.HeadPose(0.0, 0.0, 0.0)
    gaze = cues.combine_gaze(
        cues.gaze_from_blendshapes(face.blendshapes) if face.blendshapes else None,
        cues.gaze_from_iris(face.landmarks, width / height),
    )
    c = cues.cues_from_blendshapes(face.blendshapes)
    return FrameSignals(
        t=t,
        camera=CameraStatus.OK,
        faces=faces,
        yaw=pose.yaw,
        pitch=pose.pitch,
        roll=pose.roll,
        gaze_x=gaze.x,
        gaze_y=gaze.y,
        brow_down=c.brow_down,
        brow_inner_up=c.brow_inner_up,
        eye_squint=c.eye_squint,
        lip_press=c.lip_press,
        smile=c.smile,
        eye_closed=c.eye_closed,
        jaw_open=c.jaw_open,
        expressions=expressions,
    )


class FrameAnalyzer:
    """Loads the models once; `analyze` turns a BGR frame into `FrameSignals`.

    ``faces`` is the larger of the people counter's and the landmarker's counts (each can
    miss a face the other sees: the counter sees small background faces, the landmarker
    very close ones). Pose, gaze and cues come from the largest face the landmarker found;
    when it found none, they stay at their defaults. Close it (or use ``with``) when done.

    The people counter costs about half the landmarker, so it does not run on every frame:
    it runs when ``people_interval`` seconds (frame time) have passed since its last run,
    and at once when the landmarker's face count changes; in between its last count is
    kept. It is skipped when the landmarker already sees ``max_faces`` faces. At 5 fps
    with the default 0.5 s this is every third frame, so a second person is seen at most
    0.4 s late (before the 2 s the engine waits for a multiple-faces alert).
    ``people_interval=0`` runs it on every frame.
    """

    def __init__(
        self,
        *,
        max_faces: int = 2,
        expressions: bool = True,
        count_people: bool = True,
        people_interval: float = PEOPLE_INTERVAL,
    ) -> None:
        self._landmarker = FaceLandmarker(max_faces=max_faces)
        try:
            self._expression = ExpressionModel() if expressions else None
            self._counter = PeopleCounter() if count_people else None
        except BaseException:
            self._landmarker.close()
            raise
        self._max_faces = max_faces
        self.people_interval = people_interval
        self._counted = 0
        self._counted_at: float | None = None
        self._previous_marks = -1
        #: How many frames the people counter has analysed.
        self.people_runs = 0
        self.timings = Timings()

    def _count_people(self, bgr: BGRImage, t: float, marks: int) -> int:
        if self._counter is None or marks >= self._max_faces:
            self._previous_marks = marks
            return 0
        due = (
            self._counted_at is None
            or marks != self._previous_marks
            or not 0.0 <= t - self._counted_at < self.people_interval
        )
        self._previous_marks = marks
        if due:
            self._counted = len(self._counter.detect(bgr))
            self._counted_at = t
            self.people_runs += 1
        return self._counted

    def analyze(self, bgr: BGRImage, t: float) -> FrameSignals:
        """The signals of one BGR frame taken at time ``t`` (seconds, caller's clock)."""
        check_bgr(bgr)
        height, width = bgr.shape[:2]
        start = time.perf_counter()
        marks = self._landmarker.detect(bgr)
        after_landmarks = time.perf_counter()
        runs = self.people_runs
        counted = self._count_people(bgr, t, len(marks))
        after_count = time.perf_counter()
        faces = max(counted, len(marks))
        expressions: tuple[float, ...] = ()
        if marks and self._expression is not None:
            expressions = self._expression.predict(bgr, marks[0].extent(width, height))
        done = time.perf_counter()
        self.timings = Timings(
            landmarker_ms=(after_landmarks - start) * 1000,
            people_ms=(after_count - after_landmarks) * 1000 if self.people_runs > runs else 0.0,
            expression_ms=(done - after_count) * 1000,
        )
        if not marks:
            return FrameSignals(t=t, camera=CameraStatus.OK, faces=faces)
        return signals_from_face(t, faces, marks[0], width, height, expressions)

    def close(self) -> None:
        """Release the models. Idempotent."""
        self._landmarker.close()

    def __enter__(self) -> FrameAnalyzer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
