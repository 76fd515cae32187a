"""The seat-check set: the two shipped portraits and altered copies of each, for the tests and
``smartsession bench identity``.

Each portrait (Grace Hopper; the astronaut Eileen Collins) is altered the ways a lab camera
alters a face: darker and brighter light, a colour cast, blur, sensor noise, in-plane tilt,
a small turn of the head (a perspective warp standing in for yaw), a mirror image, a smaller
face, strong JPEG, and a mix. `altered` makes them; `descriptors` runs each through the same
path as the agent (FaceMesh landmarks, the dlib chip, the network). Same person: a copy
against its own portrait; different people: every copy of one against every copy of the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.vision.face_chip import chip_from_landmarks
from smartsession.vision.face_net import FaceNet, distance
from smartsession.vision.facephotos import portraits
from smartsession.vision.images import BGRImage
from smartsession.vision.landmarks import FaceLandmarker

Alteration = Callable[[BGRImage], BGRImage]


def _to_uint8(values: npt.NDArray[np.floating[Any]]) -> BGRImage:
    return np.ascontiguousarray(np.clip(values, 0, 255), dtype=np.uint8)


def _scale_light(gain: float, offset: float) -> Alteration:
    def alter(image: BGRImage) -> BGRImage:
        return _to_uint8(image.astype(np.float32) * gain + offset)

    return alter


def _cast(image: BGRImage) -> BGRImage:
    """Warm indoor light: more red, less blue."""
    return _to_uint8(image.astype(np.float32) * np.array([0.8, 1.0, 1.15], dtype=np.float32))


def _blur(sigma: float) -> Alteration:
    def alter(image: BGRImage) -> BGRImage:
        return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), sigma))

    return alter


def _noise(image: BGRImage) -> BGRImage:
    rng = np.random.default_rng(7)
    noisy = image.astype(np.float32) + rng.normal(0.0, 10.0, image.shape)
    return _to_uint8(noisy)


def _tilt(degrees: float) -> Alteration:
    def alter(image: BGRImage) -> BGRImage:
        height, width = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
        return np.ascontiguousarray(
            cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        )

    return alter


def _turn(amount: float) -> Alteration:
    """A head turned a little: one side of the picture narrower than the other."""

    def alter(image: BGRImage) -> BGRImage:
        height, width = image.shape[:2]
        dy = amount * height
        src = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float32)
        dst = np.array([(0, 0), (width, dy), (width, height - dy), (0, height)], dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(src, dst)
        return np.ascontiguousarray(
            cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        )

    return alter


def _mirror(image: BGRImage) -> BGRImage:
    return np.ascontiguousarray(image[:, ::-1])


def _smaller(factor: float) -> Alteration:
    def alter(image: BGRImage) -> BGRImage:
        return np.ascontiguousarray(
            cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        )

    return alter


def _jpeg(quality: int) -> Alteration:
    def alter(image: BGRImage) -> BGRImage:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR))

    return alter


def _mix(image: BGRImage) -> BGRImage:
    return _jpeg(30)(_blur(1.5)(_scale_light(0.65, 0.0)(_tilt(-5.0)(image))))


#: The alterations, by name, in the set's order.
ALTERATIONS: tuple[tuple[str, Alteration], ...] = (
    ("darker", _scale_light(0.55, 0.0)),
    ("brighter", _scale_light(1.25, 25.0)),
    ("warm light", _cast),
    ("blur 1.5", _blur(1.5)),
    ("blur 3", _blur(3.0)),
    ("noise", _noise),
    ("tilt +10", _tilt(10.0)),
    ("tilt -10", _tilt(-10.0)),
    ("turn left", _turn(0.08)),
    ("turn right", _turn(-0.08)),
    ("mirror", _mirror),
    ("half size", _smaller(0.5)),
    ("jpeg 20", _jpeg(20)),
    ("jpeg 8", _jpeg(8)),
    ("mix", _mix),
)

#: A quick slice for tests of the bench command.
QUICK = ("darker", "blur 1.5", "tilt +10", "jpeg 20")


def altered(image: BGRImage, quick: bool = False) -> Iterator[tuple[str, BGRImage]]:
    """(name, copy) for every alteration of ``image`` (the quick slice with ``quick``)."""
    for name, alter in ALTERATIONS:
        if not quick or name in QUICK:
            yield name, alter(image)


@dataclass(frozen=True)
class Descriptors:
    """One portrait's descriptor and those of its altered copies (by alteration name)."""

    person: str
    original: npt.NDArray[np.float32]
    copies: dict[str, npt.NDArray[np.float32]]


def describe(image: BGRImage, landmarker: FaceLandmarker, net: FaceNet) -> npt.NDArray[np.float32] | None:
    """The descriptor of the largest face in ``image``, or None when no face is found."""
    faces = landmarker.detect(image)
    if not faces:
        return None
    return net.descriptor(chip_from_landmarks(image, faces[0].landmarks))


def descriptors(net: FaceNet, quick: bool = False) -> list[Descriptors]:
    """Every portrait's descriptors (a copy whose face is not found is left out)."""
    people = []
    with FaceLandmarker(max_faces=1, details=False) as landmarker:
        for photo in portraits():
            original = describe(photo.image, landmarker, net)
            if original is None:
                raise RuntimeError(f"no face found in the portrait {photo.name}")
            copies = {}
            for name, copy in altered(photo.image, quick):
                found = describe(copy, landmarker, net)
                if found is not None:
                    copies[name] = found
            people.append(Descriptors(photo.name, original, copies))
    return people


def same_distances(people: list[Descriptors]) -> dict[str, dict[str, float]]:
    """Per person, each copy's distance to its own portrait."""
    return {p.person: {name: distance(p.original, d) for name, d in p.copies.items()} for p in people}


def different_distances(people: list[Descriptors]) -> list[float]:
    """Distances between every picture (portrait or copy) of one person and every one of another."""
    out = []
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            for da in (a.original, *a.copies.values()):
                for db in (b.original, *b.copies.values()):
                    out.append(distance(da, db))
    return out
