"""Real faces and real models, loaded once per test session (model loads are slow, and
mediapipe contacts its logging host on every create/close)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from smartsession.vision.expression import ExpressionModel
from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.people import PeopleCounter
from smartsession.vision.pipeline import FrameAnalyzer


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """matplotlib's sample portrait (neutral face), BGR 600x512."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (smiling face), converted to BGR 512x512."""
    import skimage.data

    return np.ascontiguousarray(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def landmarker() -> Iterator[FaceLandmarker]:
    with FaceLandmarker(max_faces=2) as marker:
        yield marker


@pytest.fixture(scope="session")
def expression_model() -> ExpressionModel:
    return ExpressionModel()


@pytest.fixture(scope="session")
def people_counter() -> PeopleCounter:
    return PeopleCounter()


@pytest.fixture(scope="session")
def analyzer() -> Iterator[FrameAnalyzer]:
    with FrameAnalyzer() as frame_analyzer:
        yield frame_analyzer
