"""A labelled face-presence set: short clips made from shipped photos and drawn frames, each
with its true faces, for ``smartsession bench vision`` and the vision tests.

Scenes, by kind:

* ``empty`` (no face): blank walls and gradients; noise; the non-face photos of
  `facephotos` (a cat, a coffee cup, a rocket, text, a page, ...) cropped, placed as
  posters, dimmed, blurred; large coloured cartoon lettering with outlines over skies with
  clouds or gradients, sharp or blurred and moving a little from frame to frame (a title
  animation); LFW's non-face patches blown up; poster walls mixing all of these;
* ``one``: one face pasted into a room, onto a photo or in front of lettering (a T-shirt,
  a poster), from 30 to 320 px wide, some rotated, dimmed or blurred;
* ``many``: a large face in front and one or two smaller ones beside or behind it (none
  covering another).

Any scene may be shrunk to 320x240 or pass through strong JPEG compression. Face sizes are
widths in pixels of the frame the pipeline sees (a face pasted 80 px wide into a scene then
shrunk to 320x240 is 40 px wide).

Each scene is a clip of `CLIP_FRAMES` frames 0.2 s apart (the agent's 5 fps): the same
picture with fresh sensor noise each frame, so the pipeline's persistence rule works as it
does on a camera. A scene is made from (split, index) alone, so every slice of the set is
reproducible and only one scene is in memory at a time. ``tune`` and ``heldout`` differ in
seeds, photos, faces (only ``heldout`` has the cameraman), words and fonts: OpenCV's Hershey
fonts for ``tune`` and the TrueType fonts matplotlib ships (through Pillow) for ``heldout``.
``check`` was added once ``heldout`` had been looked at too often to be unseen: it has
``heldout``'s photos, faces and fonts, with seeds and words of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision import drawn
from smartsession.vision.facephotos import (
    FacePhoto,
    Split,
    face_photos,
    portraits,
)
from smartsession.vision.images import BGRImage, Box

Kind = Literal["empty", "one", "many"]
Rng = np.random.Generator
Canvas = npt.NDArray[np.float32]

WIDTH, HEIGHT = 640, 480
#: Frames per scene, and seconds between them (5 analysed frames a second).
CLIP_FRAMES = 4
FRAME_STEP = 0.2
#: Seeds of the two splits' random choices.
SEEDS: dict[Split, int] = {"tune": 20240501, "heldout": 77031, "check": 3141592}

#: Scenes of each maker in a split, in order: (maker, kind, scenes, scenes in the quick slice).
PLAN: tuple[tuple[str, Kind, int, int], ...] = (
    ("blank", "empty", 40, 2),
    ("noise", "empty", 50, 2),
    ("photo", "empty", 170, 6),
    ("letters", "empty", 200, 10),
    ("patches", "empty", 40, 2),
    ("wall", "empty", 40, 2),
    ("one", "one", 420, 12),
    ("many", "many", 160, 6),
)


@dataclass(frozen=True)
class Scene:
    """One labelled clip: its frames (BGR, all the same size) and the true faces in them.

    ``faces`` are boxes in the frames' pixels; ``widths`` the same faces' widths in those
    pixels (as pasted, before any rotation: the size bands of the benchmark); ``people``
    the photos they came from.
    """

    name: str
    split: Split
    kind: Kind
    maker: str
    frames: tuple[BGRImage, ...]
    faces: tuple[Box, ...]
    widths: tuple[float, ...]
    people: tuple[str, ...]


def scenes(
    split: Split, *, quick: bool = False, kinds: tuple[Kind, ...] = ("empty", "one", "many")
) -> Iterator[Scene]:
    """Every scene of ``split`` (or of its quick slice, the first few of each maker), made one
    at a time."""
    index = 0
    for maker, kind, count, quick_count in PLAN:
        for number in range(count):
            if kind in kinds and (not quick or number < quick_count):
                yield make_scene(split, maker, kind, number, index)
            index += 1


def scene_named(name: str) -> Scene:
    """The scene called ``name`` (``split/maker/number``, as `Scene.name` and the benchmark say)."""
    split, maker, number = name.split("/")
    index = 0
    for planned, kind, count, _ in PLAN:
        if planned == maker and split in SEEDS and int(number) < count:
            return make_scene(split, maker, kind, int(number), index + int(number))
        index += count
    raise ValueError(f"no scene {name!r} in the face-presence set")


def make_scene(split: Split, maker: str, kind: Kind, number: int, index: int) -> Scene:
    """Scene ``number`` of ``maker`` in ``split`` (``index``: its place in the split, the seed)."""
    rng = np.random.default_rng((SEEDS[split], index))
    faces: list[tuple[Box, float]] = []
    people: list[str] = []
    if maker in ("one", "many"):
        frame = _background(split, rng)
        if maker == "one":
            wanted = [(_pick_face(split, rng), _face_width(rng))]
        else:
            main = portraits()[int(rng.integers(len(portraits())))]
            wanted = [(main, float(rng.uniform(120, 220)))]
            wanted += [
                (_pick_face(split, rng), float(rng.uniform(50, 130))) for _ in range(int(rng.integers(1, 3)))
            ]
        for photo, width in wanted:
            place = _free_place(photo.box, width, rng, faces)
            if place is not None:
                faces.append(_paste_face(frame, photo, width, place, rng))
                people.append(photo.name)
    else:
        frame = _EMPTY[maker](split, rng)
    clip = _clip(split, maker, frame, rng)
    scale = _finish_scale(rng)
    quality = int(rng.integers(12, 40)) if rng.random() < 0.2 else 0
    noise = rng.integers(-3, 4, (HEIGHT + CLIP_FRAMES, WIDTH + 2 * CLIP_FRAMES, 3), dtype=np.int8).astype(
        np.float32
    )
    frames = tuple(_finish(f, noise, i, scale, quality) for i, f in enumerate(clip))
    boxes = tuple(Box(b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale) for b, _ in faces)
    return Scene(
        name=f"{split}/{maker}/{number:03d}",
        split=split,
        kind=kind,
        maker=maker,
        frames=frames,
        faces=boxes,
        widths=tuple(width * scale for _, width in faces),
        people=tuple(people),
    )


# Clips and finishing ----------------------------------------------------------------------


def _clip(split: Split, maker: str, frame: Canvas, rng: Rng) -> list[Canvas]:
    """The scene's frames before noise: lettering moves (a title animation), the rest holds still."""
    if maker != "letters":
        return [frame] * CLIP_FRAMES
    dx, dy = float(rng.uniform(-10, 10)), float(rng.uniform(-4, 4))
    frames = []
    for i in range(CLIP_FRAMES):
        shift = np.array([[1.0, 0.0, dx * i], [0.0, 1.0, dy * i]])
        frames.append(
            np.asarray(
                cv2.warpAffine(frame, shift, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT), np.float32
            )
        )
    return frames


def _finish_scale(rng: Rng) -> float:
    """1.0, or 0.5 for a scene shown at 320x240."""
    return 0.5 if rng.random() < 0.15 else 1.0


def _finish(frame: Canvas, noise: Canvas, index: int, scale: float, quality: int) -> BGRImage:
    """Frame ``index`` of a clip as a camera gives it: sensor noise (a different window of
    ``noise`` per frame), then optional shrinking and JPEG."""
    window = noise[index : index + HEIGHT, 2 * index : 2 * index + WIDTH]
    out = np.asarray(cv2.convertScaleAbs(cv2.add(frame, window)), dtype=np.uint8)
    if scale != 1.0:
        out = np.asarray(
            cv2.resize(out, (round(WIDTH * scale), round(HEIGHT * scale)), interpolation=cv2.INTER_AREA)
        )
    if quality:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out = np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR))
    return np.ascontiguousarray(out, dtype=np.uint8)


_EMPTY = {
    "blank": drawn.blank,
    "noise": drawn.noise,
    "photo": drawn.photo,
    "letters": drawn.letters,
    "patches": drawn.patches,
    "wall": drawn.wall,
}


# Faces ----------------------------------------------------------------------------------------

#: Face widths of ``one`` scenes: a band is drawn uniformly, then a width within it.
_WIDTH_BANDS = ((30, 40), (40, 60), (60, 80), (80, 100), (100, 150), (150, 220), (220, 320))


def _face_width(rng: Rng) -> float:
    low, high = _WIDTH_BANDS[int(rng.integers(len(_WIDTH_BANDS)))]
    return float(rng.uniform(low, high))


def _pick_face(split: Split, rng: Rng) -> FacePhoto:
    """Any face photo of the split, each as likely."""
    photos = face_photos(split)
    return photos[int(rng.integers(len(photos)))]


def _background(split: Split, rng: Rng) -> Canvas:
    """Behind a face: a room, a face-free photo, or lettering (a poster, a T-shirt)."""
    choice = rng.random()
    if choice < 0.45:
        return drawn.room(rng)
    if choice < 0.75:
        return drawn.photo(split, rng)
    return drawn.letters(split, rng)


def _free_place(
    box: Box, width: float, rng: Rng, taken: list[tuple[Box, float]]
) -> tuple[float, float, float] | None:
    """A centre and an angle for a face ``width`` px wide whose oval (hair, neck) keeps clear
    of every face in ``taken``; None when 100 tries found no such place."""
    scale = width / box.width
    angle = float(rng.uniform(-30, 30)) if rng.random() < 0.3 else float(rng.uniform(-6, 6))
    half_w, half_h = width * 0.75, box.height * scale * 0.8
    for _ in range(100):
        cx = float(rng.uniform(half_w, WIDTH - half_w)) if 2 * half_w < WIDTH else WIDTH / 2
        cy = float(rng.uniform(half_h, HEIGHT - half_h)) if 2 * half_h < HEIGHT else HEIGHT / 2
        oval = Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        if all(not _overlap(oval, other, margin=0.25 * other.width) for other, _ in taken):
            return cx, cy, angle
    return None


def _paste_face(
    canvas: Canvas, photo: FacePhoto, width: float, place: tuple[float, float, float], rng: Rng
) -> tuple[Box, float]:
    """Paste ``photo``'s face ``width`` px wide centred at ``place`` (x, y, angle); returns its
    box and width. The face keeps some of its surroundings (hair, neck) inside a feathered
    oval, and may be dimmed or blurred."""
    box = photo.box
    scale = width / box.width
    cx, cy, angle = place
    found = _face_box(box, scale, angle, cx, cy)
    bx, by = box.centre
    mask = np.zeros(photo.image.shape[:2], np.float32)
    axes = (box.width * 0.8, box.height * 0.85)
    centre = (bx, by + 0.05 * box.height)
    cv2.ellipse(
        mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])), 0, 0, 360, 1.0, -1
    )
    region = Box(centre[0] - axes[0], centre[1] - axes[1], centre[0] + axes[0], centre[1] + axes[1])
    # Work in the part of the frame the face can reach (plus the feathering), not the whole frame.
    sigma = max(0.6, 0.05 * width)
    reach = _face_box(region, scale, angle, cx, cy)
    x0, y0 = max(0, int(reach.x0 - 3 * sigma)), max(0, int(reach.y0 - 3 * sigma))
    x1, y1 = min(WIDTH, int(reach.x1 + 3 * sigma) + 1), min(HEIGHT, int(reach.y1 + 3 * sigma) + 1)
    if x1 <= x0 or y1 <= y0:
        return found, width
    matrix = cv2.getRotationMatrix2D((bx, by), angle, scale)
    matrix[:, 2] += np.array([cx - bx - x0, cy - by - y0])
    size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    face = np.asarray(cv2.warpAffine(photo.image, matrix, size, flags=flags), np.float32)
    alpha = np.asarray(cv2.warpAffine(mask, matrix, size), np.float32)
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), sigma), np.float32)[..., None]
    if rng.random() < 0.2:
        face *= float(rng.uniform(0.3, 0.6))  # in shadow
    if rng.random() < 0.2:
        face = np.asarray(cv2.GaussianBlur(face, (0, 0), float(rng.uniform(0.6, 2.0))), np.float32)
    roi = canvas[y0:y1, x0:x1]
    roi[:] = roi * (1 - alpha) + face * alpha
    return found, width


def _face_box(box: Box, scale: float, angle: float, cx: float, cy: float) -> Box:
    """The axis-aligned box around ``box`` turned by ``angle`` and scaled about its centre to (cx, cy)."""
    bx, by = box.centre
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs, ys = [], []
    for x, y in ((box.x0, box.y0), (box.x1, box.y0), (box.x0, box.y1), (box.x1, box.y1)):
        dx, dy = (x - bx) * scale, (y - by) * scale
        xs.append(cx + dx * cos + dy * sin)
        ys.append(cy - dx * sin + dy * cos)
    return Box(min(xs), min(ys), max(xs), max(ys))


def _overlap(a: Box, b: Box, margin: float) -> bool:
    return not (a.x1 + margin < b.x0 or b.x1 + margin < a.x0 or a.y1 + margin < b.y0 or b.y1 + margin < a.y0)
