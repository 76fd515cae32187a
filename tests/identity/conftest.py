"""The real face network and the seat-check set, built once per test session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from smartsession.vision.face_net import FaceNet
from smartsession.vision.facephotos import portraits
from smartsession.vision.identity_set import Descriptors, describe, descriptors
from smartsession.vision.landmarks import FaceLandmarker


@pytest.fixture(scope="session")
def net() -> FaceNet:
    return FaceNet.load()


@pytest.fixture(scope="session")
def people(net: FaceNet) -> list[Descriptors]:
    """Both portraits and all their altered copies, through landmarks, chip and network."""
    return descriptors(net)


def write_clip(path: Path, image: np.ndarray, frames: int = 20, fps: int = 10) -> Path:
    """A 640x480 MJPG clip of ``image`` (a portrait kept in shape, as a camera would frame it)."""
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    width = round(image.shape[1] * 480 / image.shape[0])
    left = (640 - width) // 2
    frame[:, left : left + width] = cv2.resize(image, (width, 480), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))  # type: ignore[attr-defined]
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def portrait_descriptors(net: FaceNet) -> dict[str, np.ndarray]:
    """Each portrait's descriptor (the agent's way: FaceMesh, chip, network)."""
    with FaceLandmarker(max_faces=1, details=False) as landmarker:
        found = {p.name: describe(p.image, landmarker, net) for p in portraits()}
    assert all(d is not None for d in found.values())
    return {name: d for name, d in found.items() if d is not None}


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A camera clip of each portrait (Grace Hopper, the astronaut)."""
    folder = tmp_path_factory.mktemp("clips")
    return {p.name: write_clip(folder / f"{p.name}.avi", p.image) for p in portraits()}
