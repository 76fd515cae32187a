"""The real face network and the seat-check set, built once per test session."""

from __future__ import annotations

import pytest

from smartsession.vision.face_net import FaceNet
from smartsession.vision.identity_set import Descriptors, descriptors


@pytest.fixture(scope="session")
def net() -> FaceNet:
    return FaceNet.load()


@pytest.fixture(scope="session")
def people(net: FaceNet) -> list[Descriptors]:
    """Both portraits and all their altered copies, through landmarks, chip and network."""
    return descriptors(net)
