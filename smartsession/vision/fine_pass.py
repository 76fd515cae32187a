"""The people counter's second, finer look: tiles of the frame, and a zoom on each face it follows.

The full-range detector sees a whole 640x480 frame at 192x144, so a face 100 px wide is 30
px to it. A frontal face with a person around it still scores well there; a three-quarter
face half hidden behind a camera, or a head cut off from its body, scores under 0.35 and
is never a candidate. Seen larger it scores 0.5-0.75. `FinePass` looks again:

* **Tiles.** Four overlapping squares, each `TILE_SHARE` of the frame's larger side (360 px
  of a 640x480 frame, so faces are 1.8 times larger to the detector). Every tile is swept
  on the first counter run after a reset. Later a tile is swept again when the scene
  changed inside it, outside the students the landmarker follows (their face and the body
  below it, `body_of`), at most every `FINE_INTERVAL` seconds, and one tile at a time (the
  one that changed most), at most one every `FINE_STEP` seconds: a still classroom costs
  nothing, a busy one at most one detector run (some 6 ms) every 1.5 s.
* **Zoom.** A face found only this way is followed by the detector run on a square
  `ZOOM_GROW` times its size around it (`zoom`), on every counter run: one detector run per
  such face, no sweep.

Lettering, coins and textures that the detector scores as faces on a tile do not stay
faces when zoomed in on, so a new face only the fine pass sees must score `ZOOM_SCORE` on
its zoom, or MTCNN's ONet must take it for a face (`onet.OnetCheck`), before the crop check
(`confirm.FaceCheck`) looks at it. On a tile the detector is heard from `TILE_SCORE` up (a
turned face of 50-90 px can score 0.2-0.35 there); a detection below the counter's own
floor is kept only when ONet takes it for a face.

* **A second detector.** Some turned, half-hidden faces BlazeFace does not score at all,
  on a tile or on a zoom. MTCNN (`mtcnn.Mtcnn`) searches the whole frame when every tile is
  swept, and after that a swept tile at most every `MTCNN_INTERVAL` seconds (some 20-30 ms
  a tile), for faces of 20 to `MTCNN_MAX_FACE` px that neither BlazeFace nor anyone already
  known shows there. Where a zoom's BlazeFace scores under `ZOOM_SCORE` (for a face that
  counts already and that MTCNN found: where it finds none), MTCNN searches the zoom for a
  face of that size.
  Its faces are kept only at ONet's `onet.MIN_SCORE` (ONet is its last stage), and are
  followed and counted like any other: on `confirm.PERSIST_RUNS` counter runs in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smartsession.vision.confirm import same_face
from smartsession.vision.images import BGRImage, Box
from smartsession.vision.mtcnn import Mtcnn
from smartsession.vision.onet import MIN_SCORE as ONET_SCORE
from smartsession.vision.onet import OnetCheck
from smartsession.vision.people import Detection, PeopleCounter
from smartsession.vision.scene_change import CHANGED_PIXELS, THUMBNAIL, moved, thumbnail

#: A tile's side, as a share of the frame's larger side.
TILE_SHARE = 0.5625
#: Seconds (frame time) at least between two sweeps of one tile.
FINE_INTERVAL = 2.0
#: Seconds (frame time) at least between two sweeps of any tiles, after the first.
FINE_STEP = 1.5
#: The zoom's side, as a multiple of the face box's larger side.
ZOOM_GROW = 3.0
#: What a new face seen only by the fine pass must score on its zoom to be checked.
ZOOM_SCORE = 0.5
#: The detector's floor on a tile; below the counter's own, ONet must agree.
TILE_SCORE = 0.2
#: The largest face MTCNN looks for on a tile, in px (BlazeFace sees larger ones).
MTCNN_MAX_FACE = 120.0
#: The faces MTCNN looks for on a zoom, as shares of the face box's larger side.
MTCNN_ZOOM_FACES = (0.5, 2.0)
#: Seconds (frame time) at least between two MTCNN searches of a swept tile, after the
#: first search of the whole frame.
MTCNN_INTERVAL = 30.0
#: A followed student's body, in widths of their face: this wide, from this far above the face's
#: top down to the frame's bottom.
BODY_WIDTHS = 3.0
BODY_ABOVE = 0.25


def tiles(width: int, height: int, share: float = TILE_SHARE) -> tuple[Box, ...]:
    """Overlapping squares covering a ``width`` x ``height`` frame, each ``share`` of its larger side."""
    side = round(share * max(width, height))
    xs = sorted({0, max(0, width - side)})
    ys = sorted({0, max(0, height - side)})
    return tuple(Box(x, y, min(width, x + side), min(height, y + side)) for y in ys for x in xs)


def zoom_region(box: Box, width: int, height: int, grow: float = ZOOM_GROW) -> Box:
    """A square ``grow`` times ``box``'s larger side centred on it, moved (not cut) to lie in
    the frame where it fits."""
    side = grow * max(box.width, box.height, 1.0)
    cx, cy = box.centre
    x0 = min(max(0.0, cx - side / 2), max(0.0, width - side))
    y0 = min(max(0.0, cy - side / 2), max(0.0, height - side))
    return Box(x0, y0, min(float(width), x0 + side), min(float(height), y0 + side))


def body_of(face: Box, height: int) -> Box:
    """The part of a frame ``height`` px high that a student with this ``face`` moves in."""
    cx = face.centre[0]
    half = BODY_WIDTHS * face.width / 2
    return Box(cx - half, face.y0 - BODY_ABOVE * face.height, cx + half, float(height))


@dataclass
class _Tile:
    box: Box
    swept_at: float | None = None
    reference: npt.NDArray[np.int16] | None = None


class FinePass:
    """Tiles swept when due and zooms on faces (see the module docstring); counts its detector runs."""

    def __init__(
        self,
        counter: PeopleCounter,
        onet: OnetCheck | None = None,
        interval: float = FINE_INTERVAL,
    ) -> None:
        self._counter = counter
        self.onet = onet if onet is not None else OnetCheck()
        self.mtcnn = Mtcnn(self.onet)
        self.interval = interval
        self._tiles: list[_Tile] = []
        self._size = (0, 0)
        self._last: float | None = None
        self._searched: float | None = None
        #: Detector runs on tiles and on zooms.
        self.tile_runs = 0
        self.zoom_runs = 0

    def reset(self) -> None:
        """Sweep every tile on the next call (a new camera or clip)."""
        self._tiles = []
        self._last = None
        self._searched = None

    def sweep(
        self, bgr: BGRImage, t: float, students: tuple[Box, ...] = (), known: tuple[Box, ...] = ()
    ) -> list[Detection]:
        """The detections on every tile after a reset; later, on the one due tile that changed
        most (changed outside the ``students``' bodies since its last sweep, at least
        `interval` seconds ago), at most one every `FINE_STEP` seconds. MTCNN looks on the
        same tiles (on the whole frame for them all) for faces BlazeFace did not see there
        nor were ``known``."""
        height, width = bgr.shape[:2]
        if (width, height) != self._size or not self._tiles:
            self._size = (width, height)
            self._tiles = [_Tile(box) for box in tiles(width, height)]
        fresh = [tile for tile in self._tiles if tile.reference is None]
        if fresh:
            return self._swept(bgr, t, thumbnail(bgr), fresh, known)
        if self._last is not None and 0.0 <= t - self._last < FINE_STEP:
            return []
        now = thumbnail(bgr)
        scale = (THUMBNAIL[0] / width, THUMBNAIL[1] / height)
        ignore = tuple(body_of(face, height) for face in students)
        best, most = None, CHANGED_PIXELS - 1
        for tile in self._tiles:
            if tile.swept_at is None or tile.reference is None or 0.0 <= t - tile.swept_at < self.interval:
                continue
            changes = moved(now, tile.reference, scale, ignore)
            x0, y0 = int(tile.box.x0 * scale[0]), int(tile.box.y0 * scale[1])
            x1, y1 = int(np.ceil(tile.box.x1 * scale[0])), int(np.ceil(tile.box.y1 * scale[1]))
            count = int(np.count_nonzero(changes[y0:y1, x0:x1]))
            if count > most:
                best, most = tile, count
        return [] if best is None else self._swept(bgr, t, now, [best], known)

    def _swept(
        self,
        bgr: BGRImage,
        t: float,
        now: npt.NDArray[np.int16],
        chosen: list[_Tile],
        known: tuple[Box, ...],
    ) -> list[Detection]:
        found: list[Detection] = []
        for tile in chosen:
            tile.swept_at, tile.reference = t, now
            self.tile_runs += 1
            found += [
                d
                for d in self._counter.detect(bgr, tile.box, min_score=TILE_SCORE)
                if d.score >= self._counter.min_score or self.onet.confirms(bgr, d.box)
            ]
        self._last = t
        if len(chosen) == 1 and self._searched is not None and 0.0 <= t - self._searched < MTCNN_INTERVAL:
            return found
        self._searched = t
        height, width = bgr.shape[:2]
        region = chosen[0].box if len(chosen) == 1 else Box(0.0, 0.0, float(width), float(height))
        seen = known + tuple(d.box for d in found)
        return found + [
            d
            for d in self.mtcnn.detect(bgr, region, max_face=MTCNN_MAX_FACE, known=seen)
            if d.score >= ONET_SCORE and not any(same_face(d.box, s) for s in seen)
        ]

    def zoom(self, bgr: BGRImage, box: Box, *, mtcnn_under: float | None = ZOOM_SCORE) -> Detection | None:
        """The detector's best face centred near ``box`` on a square around it, if any; where
        there is none, or it scores under ``mtcnn_under``, MTCNN's best there that ONet
        passes, if any (``None``: the detector's only)."""
        height, width = bgr.shape[:2]
        region = zoom_region(box, width, height)
        self.zoom_runs += 1
        near = [d for d in self._counter.detect(bgr, region) if same_face(d.box, box)]
        best = max(near, key=lambda d: d.score, default=None)
        if mtcnn_under is None or (best is not None and best.score >= mtcnn_under):
            return best
        side = max(box.width, box.height)
        low, high = MTCNN_ZOOM_FACES
        other = [
            d
            for d in self.mtcnn.detect(bgr, region, min_face=low * side, max_face=high * side)
            if d.score >= ONET_SCORE and same_face(d.box, box)
        ]
        return other[0] if other else best
