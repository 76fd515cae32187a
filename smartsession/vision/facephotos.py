"""The real photos behind the face-presence set (`faceset`): what installed packages ship.

Faces: matplotlib's ``grace_hopper.jpg``, scikit-image's ``astronaut`` and its ``camera`` (a
man behind a camera, in three-quarter view), each with its face box, checked by eye (the box
the landmarker or, for the cameraman, whom the landmarker does not see, the people counter
draws around the face). No faces: scikit-image's other pictures (a cat, a coffee cup, a
rocket, printed text, a page, coins, textures, microscope slides, ...) and the 100 non-face
patches of its ``lfw_subset`` (25x25 grey crops around Labeled Faces in the Wild photos).

The 100 face crops of ``lfw_subset`` are not used as faces: cut tight around the face (no
hair, no chin, no ears) and 25 px wide, pasted into a frame they are missed by both
detectors at any size (recall about 0.5 at 60-170 px), which says nothing about a face a
camera sees.

Everything is split in two, so the held-out split has photos that tuning never saw; the two
large portraits are the only sharp faces at hand, so both splits use them (the held-out one
with other seeds, crops and degradations) and only the held-out split has the cameraman.
The third split, ``check``, has the held-out split's photos (there are no others at hand).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from smartsession.vision.images import BGRImage, Box

Split = Literal["tune", "heldout", "check"]
SPLITS: tuple[Split, ...] = ("tune", "heldout", "check")

#: lfw_subset's non-face patches are its last 100 crops (the first 100 are faces); each split gets half.
LFW_NON_FACES = {"tune": range(100, 150), "heldout": range(150, 200), "check": range(150, 200)}

#: scikit-image pictures without a face, by split (``chelsea`` is a cat: a face, not a person's).
NON_FACE_PHOTOS: dict[Split, tuple[str, ...]] = {
    "tune": ("chelsea", "coffee", "rocket", "text", "coins", "brick", "grass", "horse", "logo", "clock"),
    "heldout": (
        "page",
        "moon",
        "gravel",
        "hubble_deep_field",
        "retina",
        "immunohistochemistry",
        "cell",
        "colorwheel",
        "microaneurysms",
        "motorcycle",
        "gift",
    ),
}
NON_FACE_PHOTOS["check"] = NON_FACE_PHOTOS["heldout"]


@dataclass(frozen=True)
class FacePhoto:
    """A photo with one face in it, and that face's box in the photo's pixels."""

    name: str
    image: BGRImage
    box: Box


def _bgr(image: Any) -> BGRImage:
    """A C-contiguous BGR uint8 copy of a scikit-image picture (grey, RGB, RGBA, bool or float)."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.clip(array * 255.0, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_GRAY2BGR))
    if array.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_RGBA2BGR))
    return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_RGB2BGR))


def _matplotlib_sample(name: str) -> BGRImage:
    import matplotlib.cbook

    path = Path(str(matplotlib.cbook.get_sample_data(name, asfileobj=False)))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"matplotlib sample {name} cannot be read")
    return np.ascontiguousarray(image, dtype=np.uint8)


@functools.cache
def _lfw() -> Any:
    import skimage.data

    return skimage.data.lfw_subset()  # type: ignore[no-untyped-call]


def _lfw_crop(index: int) -> BGRImage:
    grey = np.clip(np.asarray(_lfw()[index]) * 255.0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


@functools.cache
def portraits() -> tuple[FacePhoto, ...]:
    """The two large, sharp portraits (both splits)."""
    import skimage.data

    astronaut = _bgr(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    return (
        FacePhoto("grace_hopper", _matplotlib_sample("grace_hopper.jpg"), Box(170, 132, 355, 335)),
        FacePhoto("astronaut", astronaut, Box(181, 72, 270, 177)),
    )


@functools.cache
def face_photos(split: Split) -> tuple[FacePhoto, ...]:
    """Every face photo of ``split``: the portraits and (held out) the cameraman."""
    faces = list(portraits())
    if split != "tune":
        import skimage.data

        camera = _bgr(skimage.data.camera())  # type: ignore[no-untyped-call]
        faces.append(FacePhoto("cameraman", camera, Box(194, 122, 272, 200)))
    return tuple(faces)


def _non_face_photo(name: str) -> BGRImage:
    import skimage.data

    if name == "motorcycle":
        left, _, _ = skimage.data.stereo_motorcycle()  # type: ignore[no-untyped-call]
        return _bgr(left)
    if name == "gift":
        return _matplotlib_sample("Minduka_Present_Blue_Pack.png")
    return _bgr(getattr(skimage.data, name)())


@functools.cache
def non_face_photos(split: Split) -> tuple[tuple[str, BGRImage], ...]:
    """(name, picture) of every photo without a face in ``split``."""
    return tuple((name, _non_face_photo(name)) for name in NON_FACE_PHOTOS[split])


@functools.cache
def non_face_patches(split: Split) -> tuple[BGRImage, ...]:
    """lfw_subset's non-face patches of ``split`` (25x25, grey as BGR): its detectors' hard negatives."""
    return tuple(_lfw_crop(i) for i in LFW_NON_FACES[split])
