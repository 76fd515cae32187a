"""What BlazeFace sees of a frame in the fine pass's terms, for the vision tests."""

from __future__ import annotations

import numpy as np

from smartsession.vision.fine_pass import tiles
from smartsession.vision.images import Box
from smartsession.vision.people import PeopleCounter


def blazeface_boxes(counter: PeopleCounter, frame: np.ndarray, min_score: float | None = None) -> list[Box]:
    """Every box the full-range detector finds at ``min_score`` (default: the counter's own) on
    the whole frame and on each of the fine pass's tiles."""
    height, width = frame.shape[:2]
    regions: list[Box | None] = [None, *tiles(width, height)]
    return [d.box for region in regions for d in counter.detect(frame, region, min_score=min_score)]
