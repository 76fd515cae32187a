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
reproducible and only one scene is in memory at a time. The two splits differ in seeds,
photos, faces (only the held-out split has the cameraman), words and fonts: OpenCV's Hershey fonts for ``tune`` and the TrueType
fonts matplotlib ships (through Pillow) for ``heldout``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.facephotos import (
    FacePhoto,
    Split,
    face_photos,
    non_face_patches,
    non_face_photos,
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
SEEDS: dict[Split, int] = {"tune": 20240501, "heldout": 77031}

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

#: Words of the lettering, by split.
WORDS: dict[Split, tuple[str, ...]] = {
    "tune": (
        "SMART",
        "SESSION",
        "HELLO",
        "CHAPTER 1",
        "WOW!",
        "OOPS",
        "GO GO",
        "BOOM",
        "LESSON",
        "QUIZ",
        "OK",
        "00",
        "BOO",
        "MOOD",
        "COOL",
        "PART 2",
        "YES",
        "ZOOM",
        "LOOK",
        "GOOD",
    ),
    "heldout": (
        "WELCOME",
        "EPISODE 3",
        "HOORAY",
        "SCIENCE",
        "OHHH",
        "DOODLE",
        "8 + 8",
        "BONUS",
        "OOO",
        "LOL",
        "HOLIDAY",
        "GOAL!",
        "MOON",
        "OWL",
        "BOOK",
        "Q&A",
        "SOON",
        "POW",
        "O_O",
        "IDEA",
    ),
}
HERSHEY = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
)
TRUETYPE = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "STIXGeneralBol.ttf",
    "cmb10.ttf",
    "DejaVuSerif-BoldItalic.ttf",
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


# Backgrounds -------------------------------------------------------------------------------


def _colour(rng: Rng, low: int = 0, high: int = 256) -> npt.NDArray[np.float32]:
    return rng.integers(low, high, 3).astype(np.float32)


def _gradient(rng: Rng) -> Canvas:
    """A linear gradient between two random colours at a random angle."""
    a, b = _colour(rng), _colour(rng)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0 : HEIGHT // 8, 0 : WIDTH // 8].astype(np.float32)
    t = xs * math.cos(angle) + ys * math.sin(angle)
    t = ((t - t.min()) / max(float(np.ptp(t)), 1e-6))[..., None]
    small = (a * (1 - t) + b * t).astype(np.float32)
    return np.asarray(cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), np.float32)


def _sky(rng: Rng) -> Canvas:
    """A blue sky, lighter toward the horizon, with soft white clouds."""
    top = np.array([rng.uniform(150, 235), rng.uniform(80, 170), rng.uniform(10, 90)], np.float32)
    bottom = np.array([rng.uniform(215, 255), rng.uniform(190, 245), rng.uniform(140, 230)], np.float32)
    t = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    sky = np.repeat(top * (1 - t) + bottom * t, WIDTH, axis=1)
    q = 4  # clouds are soft: drawn and blurred at a quarter of the size
    for _ in range(int(rng.integers(1, 7))):
        cx, cy = rng.uniform(-50, WIDTH + 50), rng.uniform(-30, HEIGHT)
        mask = np.zeros((HEIGHT // q, WIDTH // q), np.float32)
        for _ in range(int(rng.integers(3, 8))):
            centre = (round((cx + rng.uniform(-80, 80)) / q), round((cy + rng.uniform(-25, 25)) / q))
            axes = (round(rng.uniform(25, 100) / q), round(rng.uniform(18, 55) / q))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(3, 14)) / q), np.float32)
        big = np.asarray(cv2.resize(mask, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR))[..., None]
        sky = sky * (1 - big) + float(rng.uniform(235, 255)) * big
    return sky.astype(np.float32)


def _room(rng: Rng) -> Canvas:
    """A wall (a gradient) with a few flat shapes: a door, a window, a desk, a shelf."""
    room = _gradient(rng) * 0.6 + _colour(rng, 60, 200) * 0.4
    for _ in range(int(rng.integers(1, 5))):
        x0, y0 = int(rng.integers(0, WIDTH - 40)), int(rng.integers(0, HEIGHT - 40))
        x1, y1 = x0 + int(rng.integers(40, 300)), y0 + int(rng.integers(40, 260))
        cv2.rectangle(room, (x0, y0), (x1, y1), [float(v) for v in _colour(rng)], -1)
    return room.astype(np.float32)


def _cover(image: BGRImage, rng: Rng, min_share: float = 0.5) -> Canvas:
    """A random crop of ``image`` (at least ``min_share`` of each side) resized to fill the frame."""
    h, w = image.shape[:2]
    share = rng.uniform(min_share, 1.0)
    cw, ch = max(8, round(w * share)), max(8, round(h * share))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = image[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.asarray(
        cv2.resize(np.ascontiguousarray(crop), (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), np.float32
    )


def _place(canvas: Canvas, image: BGRImage, width: int, rng: Rng) -> None:
    """Paste ``image`` scaled to ``width`` px at a random place (a poster on the wall)."""
    h, w = image.shape[:2]
    height = max(4, round(width * h / w))
    width, height = min(width, WIDTH), min(height, HEIGHT)
    poster = cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    )
    x, y = int(rng.integers(0, WIDTH - width + 1)), int(rng.integers(0, HEIGHT - height + 1))
    canvas[y : y + height, x : x + width] = poster


def _photo(split: Split, rng: Rng) -> Canvas:
    photos = non_face_photos(split)
    _, image = photos[int(rng.integers(len(photos)))]
    if rng.random() < 0.6:
        canvas = _cover(image, rng)
    else:
        canvas = _room(rng)
        _place(canvas, image, int(rng.integers(160, 600)), rng)
    return _adjust(canvas, rng)


def _adjust(canvas: Canvas, rng: Rng) -> Canvas:
    """Random brightness/contrast and sometimes blur, as a camera in another room would see it."""
    gain = float(rng.uniform(0.35, 1.25)) if rng.random() < 0.5 else 1.0
    out: Canvas = np.clip(canvas * gain + float(rng.uniform(-20, 20)), 0, 255).astype(np.float32)
    if rng.random() < 0.3:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.8, 3.0))), np.float32)
    return out


# Face-free makers --------------------------------------------------------------------------


def _blank(split: Split, rng: Rng) -> Canvas:
    choice = rng.random()
    if choice < 0.3:
        return np.full((HEIGHT, WIDTH, 3), _colour(rng), np.float32)
    if choice < 0.6:
        return _gradient(rng)
    return _room(rng)


def _noise(split: Split, rng: Rng) -> Canvas:
    """Uniform noise, or noise blurred into blobs of some size, grey or coloured."""
    cells = int(rng.choice([1, 2, 4, 8, 16, 32]))
    channels = 3 if rng.random() < 0.6 else 1
    small = rng.uniform(0, 255, (HEIGHT // cells + 1, WIDTH // cells + 1, channels)).astype(np.float32)
    big = cv2.resize(
        small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC if cells > 1 else cv2.INTER_NEAREST
    )
    big = np.asarray(big, np.float32).reshape(HEIGHT, WIDTH, channels)
    return np.clip(np.repeat(big, 3 // channels, axis=2), 0, 255).astype(np.float32)


def _letters(split: Split, rng: Rng) -> Canvas:
    """Cartoon lettering: large coloured type with a dark outline over a sky or a gradient."""
    canvas = _sky(rng) if rng.random() < 0.6 else _gradient(rng)
    for _ in range(int(rng.integers(1, 4))):
        word = WORDS[split][int(rng.integers(len(WORDS[split])))]
        fill = _lettering_colour(rng)
        outline = [float(v) for v in _colour(rng, 0, 90)]
        if split == "tune":
            canvas = _hershey(canvas, word, fill, outline, rng)
        else:
            _truetype(canvas, word, fill, outline, rng)
    if rng.random() < 0.45:
        canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(0.7, 4.0))))
    return canvas


def _lettering_colour(rng: Rng) -> list[float]:
    """Mostly oranges and yellows (as in title cards), sometimes any colour (BGR)."""
    if rng.random() < 0.6:
        return [float(rng.uniform(0, 70)), float(rng.uniform(90, 200)), float(rng.uniform(215, 255))]
    return [float(v) for v in _colour(rng)]


def _hershey(canvas: Canvas, word: str, fill: list[float], outline: list[float], rng: Rng) -> Canvas:
    """``canvas`` with ``word`` drawn in a Hershey font (OpenCV draws text on 8-bit images only)."""
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    font = HERSHEY[int(rng.integers(len(HERSHEY)))]
    scale = float(rng.uniform(1.8, 6.0))
    thickness = int(rng.integers(4, 22))
    (width, height), _ = cv2.getTextSize(word, font, scale, thickness)
    x = int(rng.integers(-width // 4, max(1, WIDTH - 3 * width // 4)))
    y = int(rng.integers(height // 2, HEIGHT + height // 3))
    if rng.random() < 0.5:
        cv2.putText(
            image, word, (x + 6, y + 6), font, scale, [v * 0.5 for v in outline], thickness + 6, cv2.LINE_AA
        )
    cv2.putText(image, word, (x, y), font, scale, outline, thickness + int(rng.integers(4, 12)), cv2.LINE_AA)
    cv2.putText(image, word, (x, y), font, scale, fill, thickness, cv2.LINE_AA)
    return image.astype(np.float32)


@functools.cache
def _font(name: str, size: int) -> object:
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _truetype(canvas: Canvas, word: str, fill: list[float], outline: list[float], rng: Rng) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = _font(TRUETYPE[int(rng.integers(len(TRUETYPE)))], int(rng.integers(60, 200)))
    assert isinstance(font, ImageFont.FreeTypeFont)
    layer = Image.new("L", (WIDTH, HEIGHT), 0)
    edge = Image.new("L", (WIDTH, HEIGHT), 0)
    left, top, right, bottom = (int(v) for v in font.getbbox(word))
    x = int(rng.integers(-(right - left) // 4, max(1, WIDTH - 3 * (right - left) // 4)))
    y = int(rng.integers(-top - (bottom - top) // 4, max(1, HEIGHT - 3 * (bottom - top) // 4)))
    stroke = int(rng.integers(3, 12))
    ImageDraw.Draw(edge).text((x, y), word, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    ImageDraw.Draw(layer).text((x, y), word, font=font, fill=255)
    for mask, colour in ((edge, outline), (layer, fill)):
        alpha = (np.asarray(mask, np.float32) / 255.0)[..., None]
        canvas[:] = canvas * (1 - alpha) + np.array(colour, np.float32) * alpha


def _patches(split: Split, rng: Rng) -> Canvas:
    """A few of LFW's non-face patches blown up on a plain background."""
    canvas = _blank(split, rng)
    patches = non_face_patches(split)
    for _ in range(int(rng.integers(1, 5))):
        patch = patches[int(rng.integers(len(patches)))]
        _place(
            canvas,
            np.asarray(cv2.resize(patch, (100, 100), interpolation=cv2.INTER_CUBIC), np.uint8),
            int(rng.integers(60, 260)),
            rng,
        )
    return canvas


def _wall(split: Split, rng: Rng) -> Canvas:
    """A wall of posters: photo crops, blown-up patches and a sheet of lettering."""
    canvas = _room(rng)
    photos = non_face_photos(split)
    for _ in range(int(rng.integers(2, 5))):
        _, image = photos[int(rng.integers(len(photos)))]
        _place(canvas, image, int(rng.integers(80, 280)), rng)
    sheet = _letters(split, rng)
    x0, y0 = int(rng.integers(0, WIDTH // 2)), int(rng.integers(0, HEIGHT // 2))
    x1, y1 = x0 + int(rng.integers(120, WIDTH // 2)), y0 + int(rng.integers(100, HEIGHT // 2))
    canvas[y0:y1, x0:x1] = cv2.resize(sheet, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return _adjust(canvas, rng)


_EMPTY = {
    "blank": _blank,
    "noise": _noise,
    "photo": _photo,
    "letters": _letters,
    "patches": _patches,
    "wall": _wall,
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
        return _room(rng)
    if choice < 0.75:
        return _photo(split, rng)
    return _letters(split, rng)


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
