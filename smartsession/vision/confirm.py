"""Faces only one detector sees: confirmed by a strict landmarker on a crop, then followed.

The full-range detector behind the people counter also scores lettering, cloud edges and
textures at 0.5-0.65, so a face that only it sees is a candidate, not a face:

1. `FaceCheck` runs a landmarker of its own (landmarks only, detection and face-presence
   confidence `MIN_CONFIDENCE` where the pipeline's uses 0.5) on an enlarged crop around the
   counter's box, resized so that a 50 px face becomes about 130 px, where the landmarker's
   detector and its presence score work; the candidate is confirmed when it finds a face
   there, centred on the box and of about its size. At 0.5 it also took some bold lettering
   and coins for faces. Where it finds nothing, opinions of other kinds may confirm the
   candidate: OpenCV's Haar cascades, frontal and profile
   (`smartsession.vision.cascades.CascadeCheck`), then MTCNN's output network on the box
   itself (`smartsession.vision.onet.OnetCheck`): a three-quarter face half hidden behind a
   camera is seen by the counter, and often by one of these, but the landmarker cannot fit
   its mesh to it.
2. `Persistence` follows the confirmed candidates from one counter run to the next; one
   counts once it was confirmed (or marked by the landmarker) on `PERSIST_RUNS` runs in a
   row, and a counted face survives `MAX_MISSES` run without a sighting (one missed
   detection does not restart the engine's multiple-faces timer). It also follows the faces both
   detectors see, counting at once: when the landmarker loses one of them on a later frame
   (it fits a three-quarter face now and then), the counter's sightings keep it; once
   neither sees it, it stops counting at once (a student who leaves is gone on that frame).

The landmarker, too, takes bold lettering, a blown-up texture or a colour wheel for a face
now and then, and in VIDEO mode it holds on to what it once marked. `Marks` follows its
faces from frame to frame: one counts at once when the people counter sees it too at the
counter's own face score (0.5; the counter runs whenever the landmarker's count changes, so
a real face is seen by both on its first frame), else once it was confirmed on
`PERSIST_RUNS` frames in a row, by `FaceCheck` or by a sighting of the counter below that
score; once counting it counts for as long as it stays marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartsession.vision.cascades import CascadeCheck
from smartsession.vision.images import BGRImage, Box, crop_around
from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.onet import OnetCheck

#: The crop's side, as a multiple of the counter box's larger side.
CROP_GROW = 3.0
#: Pixels the crop is resized to (its side) before the landmarker looks at it.
CROP_SIZE = 384
#: The checking landmarker's face detection and presence confidence.
MIN_CONFIDENCE = 0.7
#: How far the landmarker's face may lie from the box: its centre within this share of the
#: box's side from the box's centre, its width between these multiples of the box's width.
CENTRE_TOLERANCE = 0.35
WIDTH_RANGE = (0.5, 2.0)
#: Consecutive counter runs that must confirm a candidate before it counts as a face.
PERSIST_RUNS = 3
#: Counter runs a counted face may go unseen before it stops counting.
MAX_MISSES = 1


def same_face(a: Box, b: Box) -> bool:
    """True when the centre of either box lies inside the other (two views of one face)."""

    def inside(point: tuple[float, float], box: Box) -> bool:
        return box.x0 <= point[0] <= box.x1 and box.y0 <= point[1] <= box.y1

    return inside(a.centre, b) or inside(b.centre, a)


class FaceCheck:
    """Confirms a counter box with a landmarker on an enlarged crop; counts its runs.

    Its own landmarker (about 0.1 s to load, some 35 MB) and the cascades are loaded the
    first time a box is checked, or by `load` (the agent's vision process, so that the first
    second person costs no model load mid-class). `close` it when done. ``onet``: the
    `OnetCheck` to ask last (shared with the fine pass); one of its own by default.
    """

    def __init__(
        self,
        grow: float = CROP_GROW,
        size: int = CROP_SIZE,
        min_confidence: float = MIN_CONFIDENCE,
        onet: OnetCheck | None = None,
    ) -> None:
        self._landmarker: FaceLandmarker | None = None
        self._cascades: CascadeCheck | None = None
        self._onet = onet
        self.min_confidence = min_confidence
        self.grow = grow
        self.size = size
        #: How many crops the landmarker has looked at, and how many boxes ONet was asked
        #: about after both the landmarker and the cascades found nothing.
        self.runs = 0
        self.onet_runs = 0

    @property
    def loaded(self) -> bool:
        """Whether the checking landmarker has been loaded (some box was checked)."""
        return self._landmarker is not None

    def load(self) -> tuple[FaceLandmarker, CascadeCheck, OnetCheck]:
        """The landmarker, the cascades and ONet, loaded now if they were not (idempotent)."""
        if self._landmarker is None:
            self._landmarker = FaceLandmarker(max_faces=1, min_confidence=self.min_confidence, details=False)
        if self._cascades is None:
            self._cascades = CascadeCheck()
        if self._onet is None:
            self._onet = OnetCheck()
        return self._landmarker, self._cascades, self._onet

    def close(self) -> None:
        """Release the landmarker. Idempotent."""
        if self._landmarker is not None:
            self._landmarker.close()

    def confirms(self, bgr: BGRImage, box: Box, *, second_opinion: bool = False) -> bool:
        """True when the landmarker finds a face of about ``box``'s size centred on it, or,
        with ``second_opinion`` (a box of the people counter), when `CascadeCheck` or else
        `OnetCheck` does."""
        if self._finds(bgr, box):
            return True
        if not second_opinion:
            return False
        _, cascades, onet = self.load()
        if cascades.confirms(bgr, box):
            return True
        self.onet_runs += 1
        return onet.confirms(bgr, box)

    @property
    def cascade_runs(self) -> int:
        """How many crops the second opinion has looked at."""
        return self._cascades.runs if self._cascades is not None else 0

    def _finds(self, bgr: BGRImage, box: Box) -> bool:
        landmarker, _, _ = self.load()
        self.runs += 1
        crop = crop_around(bgr, box, self.grow, self.size)
        expected = self.size / self.grow * box.width / max(box.width, box.height, 1.0)
        centre = self.size / 2
        reach = CENTRE_TOLERANCE * self.size / self.grow
        for face in landmarker.detect(crop):
            extent = face.extent(self.size, self.size)
            fx, fy = extent.centre
            if (
                abs(fx - centre) <= reach
                and abs(fy - centre) <= reach
                and WIDTH_RANGE[0] * expected <= extent.width <= WIDTH_RANGE[1] * expected
            ):
                return True
        return False


@dataclass
class _Track:
    box: Box
    hits: int = 1
    misses: int = 0
    #: Seen by both detectors once: it counted from the start and gets no missed run.
    vouched: bool = False


class Persistence:
    """Confirmed candidates followed over counter runs; see the module docstring.

    Call `update` after every counter run with that run's confirmed boxes; `counted` are the
    boxes that count as faces, `unsettled` says whether the next frame should run the
    counter again (a candidate on its way, or a counted face just missed).
    """

    def __init__(self, runs: int = PERSIST_RUNS, max_misses: int = MAX_MISSES) -> None:
        self.runs = runs
        self.max_misses = max_misses
        self._tracks: list[_Track] = []

    def established(self, box: Box) -> bool:
        """True when ``box`` is a face that already counts (no need to confirm it again)."""
        return any(t.hits >= self.runs and same_face(t.box, box) for t in self._tracks)

    def update(
        self, confirmed: list[Box], marked: tuple[Box, ...] = (), vouched: list[Box] | None = None
    ) -> None:
        """Take one counter run's confirmed candidates, and the landmarker's faces of that frame
        (a candidate the landmarker marks this time is seen, not missed); ``vouched`` are the
        counter's boxes of faces the landmarker marks too, which count at once."""
        kept: list[_Track] = []
        unmatched = list(confirmed)
        sure = list(vouched or ())
        for track in self._tracks:
            both = next((box for box in sure if same_face(track.box, box)), None)
            match = next((box for box in unmatched if same_face(track.box, box)), None)
            if both is not None:
                sure.remove(both)
                kept.append(_Track(both, max(track.hits + 1, self.runs), 0, vouched=True))
            elif match is not None:
                unmatched.remove(match)
                kept.append(_Track(match, track.hits + 1, 0, track.vouched))
            elif any(same_face(track.box, box) for box in marked):
                kept.append(_Track(track.box, track.hits + 1, 0, track.vouched))
            elif track.hits >= self.runs and track.misses < self.max_misses and not track.vouched:
                kept.append(_Track(track.box, track.hits, track.misses + 1))
        kept += [_Track(box, self.runs, vouched=True) for box in sure]
        kept += [_Track(box) for box in unmatched if not any(same_face(box, t.box) for t in kept)]
        self._tracks = kept

    @property
    def boxes(self) -> tuple[Box, ...]:
        """Every face followed: candidates and faces that count."""
        return tuple(t.box for t in self._tracks)

    @property
    def counted(self) -> tuple[Box, ...]:
        """The faces that count: confirmed on enough runs in a row."""
        return tuple(t.box for t in self._tracks if t.hits >= self.runs)

    @property
    def candidates(self) -> int:
        """How many confirmed candidates are not counting yet."""
        return sum(t.hits < self.runs for t in self._tracks)

    @property
    def unsettled(self) -> bool:
        """True while a candidate is on its way to counting or a counted face was just missed."""
        return any(t.hits < self.runs or t.misses > 0 for t in self._tracks)

    def clear(self) -> None:
        """Forget every candidate and face."""
        self._tracks = []


@dataclass
class _Mark:
    box: Box
    frames: int
    counts: bool


class Marks:
    """The landmarker's faces followed frame to frame; see the module docstring.

    Call `pending` with a frame's marked boxes and the counter's latest detections: it names
    the marks that need `FaceCheck` on this frame. Then call `update` with the check's
    answers (in the same order) to learn which marks count.
    """

    def __init__(self, runs: int = PERSIST_RUNS) -> None:
        self.runs = runs
        self._marks: list[_Mark] = []

    def _before(self, box: Box) -> _Mark | None:
        return next((m for m in self._marks if same_face(m.box, box)), None)

    def pending(self, marked: tuple[Box, ...], people: tuple[Box, ...]) -> list[Box]:
        """The marks neither counting already nor seen by the counter: they need the check."""
        out = []
        for box in marked:
            before = self._before(box)
            if (before is None or not before.counts) and not any(same_face(box, p) for p in people):
                out.append(box)
        return out

    def update(
        self, marked: tuple[Box, ...], people: tuple[Box, ...], checked: list[Box]
    ) -> tuple[bool, ...]:
        """Whether each of this frame's ``marked`` faces counts, in order; ``checked`` are the
        pending marks that `FaceCheck` confirmed on this frame."""
        previous = list(self._marks)
        current: list[_Mark] = []
        for box in marked:
            before = next((m for m in previous if same_face(m.box, box)), None)
            if before is not None:
                previous.remove(before)
            if (before is not None and before.counts) or any(same_face(box, p) for p in people):
                current.append(_Mark(box, (before.frames if before else 0) + 1, True))
            elif box in checked:
                frames = (before.frames if before else 0) + 1
                current.append(_Mark(box, frames, frames >= self.runs))
            else:
                current.append(_Mark(box, 0, False))
        self._marks = current
        return tuple(m.counts for m in current)

    @property
    def waiting(self) -> int:
        """How many of the last frame's marks are not counting yet."""
        return sum(not m.counts for m in self._marks)

    def clear(self) -> None:
        """Forget every face."""
        self._marks = []
