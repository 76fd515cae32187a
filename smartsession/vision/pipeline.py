"""One frame in, one `FrameSignals` out: landmarker + expression model + people counter.

Use `FrameAnalyzer` as a context manager in the process that owns the camera; nothing but
numbers leaves it. FER output is raw per frame (noisy); smoothing belongs to the engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

import msgspec

from smartsession.core import cues
from smartsession.core.identity import SeatCheck
from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.vision.confirm import FaceCheck, Marks, Persistence, same_face
from smartsession.vision.expression import ExpressionModel
from smartsession.vision.fine_pass import ZOOM_SCORE, FinePass
from smartsession.vision.images import BGRImage, Box, check_bgr
from smartsession.vision.landmarks import FaceLandmarker, FaceLandmarks
from smartsession.vision.onet import OnetCheck
from smartsession.vision.people import MIN_SCORE, Detection, PeopleCounter
from smartsession.vision.scene_change import SceneWatch
from smartsession.vision.seat_check import SeatChecker

#: Seconds (frame time) between people-counter runs while the scene changes: every third
#: frame at 5 fps (0.6 s), every frame at the agent's steady 2 fps (0.5 s).
PEOPLE_INTERVAL = 0.45
#: Seconds between its runs at most while the scene stays still (`SceneWatch`).
STILL_PEOPLE_INTERVAL = 3.0
#: A face only the counter sees that is this many times wider than the one the tracking
#: landmarker follows makes it search afresh (it follows the student, not a face behind).
TAKEOVER = 1.5
#: The counter's score from which a box is a candidate face. Below `people.MIN_SCORE` (0.5,
#: what the counter alone needs): the crop check and persistence keep out what the counter
#: scores that high on lettering, and this catches dim or blurred background faces.
CANDIDATE_SCORE = 0.35
#: New faces the fine pass's tiles found that are zoomed on per counter run, best first.
MAX_ZOOMS = 3


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
        eye_look_down=c.eye_look_down,
        expressions=expressions,
    )


@dataclass(frozen=True)
class FoundFaces:
    """The faces behind a frame's count, in the frame's pixels.

    ``marked``: the landmarker's faces (their landmark extents), largest first; ``counted``:
    faces only the people counter saw, confirmed and persistent (see `confirm`); ``people``:
    the counter's raw detections from its latest run (which may be an earlier frame's).
    """

    marked: tuple[Box, ...] = ()
    counted: tuple[Box, ...] = ()
    people: tuple[Detection, ...] = ()

    @property
    def count(self) -> int:
        """How many faces the frame has."""
        return len(self.marked) + len(self.counted)


class FrameAnalyzer:
    """Loads the models once; `analyze` turns a BGR frame into `FrameSignals`.

    ``faces`` counts the landmarker's faces plus the faces only the people counter sees
    (small background faces: the landmarker's own detector misses faces narrower than about
    80 px; and, when tracking, every face beside the one it follows). A face only the
    counter sees counts once a second landmarker, run on an enlarged crop of the counter's
    box, finds it there on `PERSIST_RUNS` counter runs in a row (the counter alone also
    scores lettering and clouds as faces); a landmarker face counts at once when the counter
    sees it too, else once that check confirmed it on `PERSIST_RUNS` frames in a row (see
    `confirm`).
    Pose, gaze and cues come from the largest landmarker face that counts (tracking: the one
    it follows); without one they stay at their defaults. Close it (or use ``with``) when
    done; `reset` before a new clip.

    The people counter costs about 40% of the landmarker, so it does not run on every frame:
    it runs on the first frame, at once when the landmarker's face count changes, on every
    frame while a candidate is on its way to counting, and otherwise when
    ``people_interval`` seconds (frame time) have passed since its last run and the scene
    changed since then outside the faces the landmarker follows (`SceneWatch`), or
    `STILL_PEOPLE_INTERVAL` seconds have passed even though it did not; in between its last
    count is kept (nothing that moved, nothing it saw can have changed). The crop check runs
    only when the counter and the landmarker disagree (a face only one of them sees). On its
    runs the counter also looks closer (`FinePass`): at tiles of the frame where the scene
    changed, one at a time, and with a zoom at each face it follows that the whole frame no
    longer shows it; a face only that finer look sees must score `ZOOM_SCORE` on its zoom
    before the crop check looks at it, or else MTCNN's ONet must take it for a face (and
    where BlazeFace sees nothing on a tile or a zoom, MTCNN looks for faces there). With the
    default interval the counter runs on every third frame at 5 fps and on every frame at the agent's steady 2 fps, so a second person
    counts at most 0.6 + 0.4 s after they appear (the engine then waits its 2 s
    multiple-faces hold). ``people_interval=0`` runs it on every frame.

    ``tracking=True`` (a camera's stream, as the agent's vision process runs it) follows the
    faces from frame to frame in MediaPipe's VIDEO mode instead of searching each frame
    afresh (`FaceLandmarker`); frames must then come in time order. It follows one face
    (``max_faces`` defaults to 1 then, 2 otherwise): with two allowed, its face detector
    runs on every frame looking for a second one (about 3 ms), which the people counter
    looks for anyway. A face only the counter sees, `TAKEOVER` times wider than the one
    followed, makes it search the next frame afresh (the student back in her seat after it
    locked on to a neighbour behind). The default treats each frame on its own (single
    photos). Each `FrameSignals` says in ``pending_faces`` how many faces are on their way
    to counting, so that the next frame comes soon.
    """

    def __init__(
        self,
        *,
        max_faces: int | None = None,
        expressions: bool = True,
        count_people: bool = True,
        people_interval: float = PEOPLE_INTERVAL,
        tracking: bool = False,
    ) -> None:
        faces = max_faces if max_faces is not None else (1 if tracking else 2)
        self._landmarker = FaceLandmarker(max_faces=faces, tracking=tracking)
        self._check: FaceCheck | None = None
        self._fine: FinePass | None = None
        try:
            self._expression = ExpressionModel() if expressions else None
            self._counter = PeopleCounter(min_score=CANDIDATE_SCORE) if count_people else None
            if self._counter is not None:
                onet = OnetCheck()
                self._check = FaceCheck(onet=onet)
                self._fine = FinePass(self._counter, onet)
        except BaseException:
            self.close()
            raise
        self.people_interval = people_interval
        self._persistence = Persistence()
        self._marks = Marks()
        self._people: tuple[Detection, ...] = ()
        self._counted_at: float | None = None
        self._previous_marks = -1
        self._scene = SceneWatch()
        self._scene_marks: tuple[Box, ...] = ()
        #: How many frames the people counter has analysed.
        self.people_runs = 0
        self.timings = Timings()
        #: The faces behind the last frame's count.
        self.found = FoundFaces()
        #: The seat check (`SeatChecker`), when the agent turned it on; the result of the
        #: check on the last frame (None on frames where none ran) is `seat_check`, and is
        #: also that frame's `FrameSignals.seat`.
        self.seat_checker: SeatChecker | None = None
        self.seat_check: SeatCheck | None = None

    @property
    def check_loaded(self) -> bool:
        """Whether the crop check's landmarker is loaded (on its first use)."""
        return self._check is not None and self._check.loaded

    @property
    def confirmation_runs(self) -> int:
        """How many counter boxes a landmarker has checked on a crop."""
        return self._check.runs if self._check is not None else 0

    @property
    def second_opinion_runs(self) -> int:
        """How many counter boxes the Haar cascades checked (the landmarker found no face there)."""
        return self._check.cascade_runs if self._check is not None else 0

    @property
    def third_opinion_runs(self) -> int:
        """How many counter boxes ONet checked (neither the landmarker nor the cascades found a face)."""
        return self._check.onet_runs if self._check is not None else 0

    @property
    def mtcnn_runs(self) -> int:
        """How many regions (tiles, a whole frame, zooms) MTCNN has searched."""
        return self._fine.mtcnn.runs if self._fine is not None else 0

    def load_checks(self) -> None:
        """Load the crop check's models now rather than on the first face only one detector
        sees (a stream's process: no model load in the middle of a class)."""
        if self._check is not None:
            self._check.load()

    def reset(self) -> None:
        """Forget the faces followed so far and the counter's schedule (a new camera or clip)."""
        self._landmarker.forget()
        self._persistence.clear()
        self._marks.clear()
        self._people = ()
        self._counted_at = None
        self._previous_marks = -1
        self._scene.clear()
        if self._fine is not None:
            self._fine.reset()

    def _count_people(self, bgr: BGRImage, t: float, marked: tuple[Box, ...]) -> tuple[Box, ...]:
        """The confirmed faces only the counter sees (running it when it is due)."""
        if self._counter is None or self._check is None:
            return ()
        since = None if self._counted_at is None else t - self._counted_at
        due = (
            since is None
            or self.people_interval <= 0.0
            or len(marked) != self._previous_marks
            or self._persistence.unsettled
            or not 0.0 <= since < STILL_PEOPLE_INTERVAL
            or (since >= self.people_interval and self._scene.changed(bgr, marked + self._scene_marks))
        )
        self._previous_marks = len(marked)
        if due:
            people = self._counter.detect(bgr)
            fine = self._fine_look(bgr, t, marked, [d.box for d in people])
            self._people = tuple(people + fine)
            self._counted_at = t
            self._scene.keep(bgr)
            self._scene_marks = marked
            self.people_runs += 1
            confirmed: list[Box] = []
            # A face both see counts already: followed here too, it keeps counting on the
            # frames where the landmarker loses it (a three-quarter face it fits now and then).
            vouched = [
                d.box
                for d in self._people
                if d.score >= MIN_SCORE and any(same_face(d.box, m) for m in marked)
            ]
            if len(self._people) > len(marked):
                for detection, zoomed in [(d, False) for d in people] + [(d, True) for d in fine]:
                    box = detection.box
                    if any(same_face(box, mark) for mark in marked):
                        continue
                    if self._persistence.established(box) or self._confirms(bgr, detection, zoomed=zoomed):
                        confirmed.append(box)
            self._persistence.update(confirmed, marked, vouched)
        return tuple(b for b in self._persistence.counted if not any(same_face(b, m) for m in marked))

    def _confirms(self, bgr: BGRImage, detection: Detection, *, zoomed: bool) -> bool:
        """Whether a counter detection is confirmed as a face on this run.

        One from the whole-frame pass goes to the crop check; where that does not confirm
        it, the check looks again where a zoom places it (that pass puts the box of a
        three-quarter face a fifth of its width off). A face only the fine pass sees goes to
        the crop check when it scored `ZOOM_SCORE` on its zoom; below that only ONet may
        pass it, and as ONet is also the crop check's last word, its yes is the check's. One
        MTCNN found is confirmed already: ONet, its last stage, scored it a face.
        """
        assert self._check is not None and self._fine is not None
        box = detection.box
        if zoomed and detection.by_mtcnn:
            return True
        if zoomed and detection.score < ZOOM_SCORE:
            return self._fine.onet.confirms(bgr, box)
        if self._check.confirms(bgr, box, second_opinion=True):
            return True
        if zoomed:
            return False
        again = self._fine.zoom(bgr, box, mtcnn_under=None)
        return again is not None and self._check.confirms(bgr, again.box, second_opinion=True)

    def _fine_look(
        self, bgr: BGRImage, t: float, marked: tuple[Box, ...], seen: list[Box]
    ) -> list[Detection]:
        """What only `FinePass` sees: the tiles' new faces that hold up on a zoom (the best
        `MAX_ZOOMS`), then a zoom on each face followed that neither pass saw now."""
        if self._fine is None:
            return []
        seen = seen + list(marked)
        found: list[Detection] = []
        tiled = sorted(self._fine.sweep(bgr, t, marked, tuple(seen)), key=lambda d: -d.score)
        new = [d.box for d in tiled if not any(same_face(d.box, s) for s in seen)]
        for box in new[:MAX_ZOOMS] + list(self._persistence.boxes):
            if any(same_face(box, s) for s in seen):
                continue
            zoomed = self._fine.zoom(bgr, box, mtcnn_under=self._mtcnn_under(box))
            if zoomed is not None and not any(same_face(zoomed.box, s) for s in seen):
                found.append(zoomed)
                seen.append(zoomed.box)
        return found

    def _mtcnn_under(self, box: Box) -> float | None:
        """When a zoom on ``box`` asks MTCNN too: under `ZOOM_SCORE` for a face on its way
        to counting; for one that counts already (found again, not confirmed), only where
        BlazeFace finds none, and only if MTCNN found it last time (one BlazeFace no longer
        finds has left)."""
        if not self._persistence.established(box):
            return ZOOM_SCORE
        return 0.0 if any(d.by_mtcnn and same_face(d.box, box) for d in self._people) else None

    def analyze(self, bgr: BGRImage, t: float) -> FrameSignals:
        """The signals of one BGR frame taken at time ``t`` (seconds, caller's clock)."""
        check_bgr(bgr)
        height, width = bgr.shape[:2]
        start = time.perf_counter()
        marks = self._landmarker.detect(bgr, t)
        after_landmarks = time.perf_counter()
        runs = self.people_runs
        extents = tuple(mark.extent(width, height) for mark in marks)
        counted = self._count_people(bgr, t, extents)
        if self._counter is not None and self._check is not None:
            # The counter vouches for a mark at its own face score; below it (a dim face, or
            # lettering a tracking landmarker holds on to) its sighting is one confirmation.
            # So does a face it already counts (confirmed, or seen by both before).
            sure = tuple(d.box for d in self._people if d.score >= MIN_SCORE) + self._persistence.counted
            weak = tuple(d.box for d in self._people if d.score < MIN_SCORE)
            checked = [
                box
                for box in self._marks.pending(extents, sure)
                if any(same_face(box, w) for w in weak) or self._check.confirms(bgr, box)
            ]
            counts = self._marks.update(extents, sure, checked)
            marks = [mark for mark, ok in zip(marks, counts, strict=True) if ok]
            extents = tuple(box for box, ok in zip(extents, counts, strict=True) if ok)
        after_count = time.perf_counter()
        self.found = FoundFaces(extents, counted, self._people)
        if extents and self._landmarker.tracking:
            # The counter's box of the face followed, if it has one (its boxes run wider
            # than the landmarks' extent): someone much nearer the camera (the student back,
            # after it locked on to a neighbour) makes the next frame searched afresh.
            followed = next((d.box for d in self._people if same_face(d.box, extents[0])), extents[0])
            if any(box.width > TAKEOVER * followed.width for box in counted):
                self._landmarker.forget()
        self.seat_check = (
            None
            if self.seat_checker is None
            else self.seat_checker.observe(bgr, marks, t, others=len(counted))
        )
        expressions: tuple[float, ...] = ()
        if marks and self._expression is not None:
            expressions = self._expression.predict(bgr, extents[0])
        done = time.perf_counter()
        self.timings = Timings(
            landmarker_ms=(after_landmarks - start) * 1000,
            people_ms=(after_count - after_landmarks) * 1000 if self.people_runs > runs else 0.0,
            expression_ms=(done - after_count) * 1000,
        )
        pending = self._persistence.candidates + self._marks.waiting if self._check is not None else 0
        if not marks:
            return FrameSignals(
                t=t,
                camera=CameraStatus.OK,
                faces=self.found.count,
                pending_faces=pending,
                seat=self.seat_check,
            )
        signals = signals_from_face(t, self.found.count, marks[0], width, height, expressions)
        if pending or self.seat_check is not None:
            signals = msgspec.structs.replace(signals, pending_faces=pending, seat=self.seat_check)
        return signals

    def close(self) -> None:
        """Release the models. Idempotent."""
        self._landmarker.close()
        if self._check is not None:
            self._check.close()

    def __enter__(self) -> FrameAnalyzer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
