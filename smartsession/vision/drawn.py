"""Drawn frames for the face-presence set (`faceset`): walls, skies, noise, photos hung as
posters, cartoon lettering. None has a face; `faceset` pastes faces onto some of them.

Each public maker takes the split (its photos, words and fonts) and a random generator
(`room` only the generator) and returns a 640x480 float32 BGR canvas (values 0-255). Lettering uses OpenCV's Hershey fonts
for ``tune`` and the TrueType fonts matplotlib ships (through Pillow) for ``heldout`` and ``check``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.facephotos import Split, non_face_patches, non_face_photos
from smartsession.vision.images import BGRImage

Rng = np.random.Generator
Canvas = npt.NDArray[np.float32]
WIDTH, HEIGHT = 640, 480

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
    "check": (
        "GOOD MORNING",
        "LEVEL 4",
        "WOOHOO",
        "HISTORY",
        "OH NO",
        "COOKIE",
        "9 x 9",
        "EXTRA",
        "OOPSIE",
        "OMG",
        "SCHOOL",
        "TOP 10",
        "MOO",
        "ROBOT",
        "LOOP",
        "PIZZA",
        "NOON",
        "BAM",
        "o.o",
        "QUEST",
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


def room(rng: Rng) -> Canvas:
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


def photo(split: Split, rng: Rng) -> Canvas:
    photos = non_face_photos(split)
    _, image = photos[int(rng.integers(len(photos)))]
    if rng.random() < 0.6:
        canvas = _cover(image, rng)
    else:
        canvas = room(rng)
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


def blank(split: Split, rng: Rng) -> Canvas:
    choice = rng.random()
    if choice < 0.3:
        return np.full((HEIGHT, WIDTH, 3), _colour(rng), np.float32)
    if choice < 0.6:
        return _gradient(rng)
    return room(rng)


def noise(split: Split, rng: Rng) -> Canvas:
    """Uniform noise, or noise blurred into blobs of some size, grey or coloured."""
    cells = int(rng.choice([1, 2, 4, 8, 16, 32]))
    channels = 3 if rng.random() < 0.6 else 1
    small = rng.uniform(0, 255, (HEIGHT // cells + 1, WIDTH // cells + 1, channels)).astype(np.float32)
    big = cv2.resize(
        small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC if cells > 1 else cv2.INTER_NEAREST
    )
    big = np.asarray(big, np.float32).reshape(HEIGHT, WIDTH, channels)
    return np.clip(np.repeat(big, 3 // channels, axis=2), 0, 255).astype(np.float32)


def letters(split: Split, rng: Rng) -> Canvas:
    """Cartoon lettering: large coloured type with a dark outline over a sky or a gradient."""
    canvas = _sky(rng) if rng.random() < 0.6 else _gradient(rng)
    for _ in range(int(rng.integers(1, 4))):
        word = WORDS[split][int(rng.integers(len(WORDS[split])))]
        fill = _lettering_colour(rng)
        outline = [float(v) for v in _colour(rng, 0, 90)]
        if split == "tune":  # the other splits: TrueType
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
def _truetype_font(name: str, size: int) -> object:
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _truetype(canvas: Canvas, word: str, fill: list[float], outline: list[float], rng: Rng) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = _truetype_font(TRUETYPE[int(rng.integers(len(TRUETYPE)))], int(rng.integers(60, 200)))
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


def patches(split: Split, rng: Rng) -> Canvas:
    """A few of LFW's non-face patches blown up on a plain background."""
    canvas = blank(split, rng)
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


def wall(split: Split, rng: Rng) -> Canvas:
    """A wall of posters: photo crops, blown-up patches and a sheet of lettering."""
    canvas = room(rng)
    photos = non_face_photos(split)
    for _ in range(int(rng.integers(2, 5))):
        _, image = photos[int(rng.integers(len(photos)))]
        _place(canvas, image, int(rng.integers(80, 280)), rng)
    sheet = letters(split, rng)
    x0, y0 = int(rng.integers(0, WIDTH // 2)), int(rng.integers(0, HEIGHT // 2))
    x1, y1 = x0 + int(rng.integers(120, WIDTH // 2)), y0 + int(rng.integers(100, HEIGHT // 2))
    canvas[y0:y1, x0:x1] = cv2.resize(sheet, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return _adjust(canvas, rng)
