"""The documented population baseline is what the pipeline measures on the neutral faces at hand."""

from __future__ import annotations

import cv2
import numpy as np

from smartsession.core.baseline import POPULATION_BASELINE
from smartsession.core.signals import EXPRESSIONS
from smartsession.vision.pipeline import FrameAnalyzer

#: Cues measured here (yaw, roll and sideways gaze are 0 by symmetry, see core/baseline.py).
MEASURED = ("brow_down", "brow_inner_up", "eye_squint", "lip_press", "pitch", "gaze_y")


def test_population_baseline_matches_the_neutral_faces(grace_hopper: np.ndarray) -> None:
    import skimage.data

    crops = skimage.data.lfw_subset()[:100]  # its faces
    values: list[list[float]] = []
    with FrameAnalyzer(count_people=False) as analyzer:
        pictures = [grace_hopper]
        for crop in crops:
            grey = cv2.resize((crop * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
            pictures.append(
                cv2.cvtColor(
                    cv2.copyMakeBorder(grey, 100, 100, 100, 100, cv2.BORDER_REPLICATE), cv2.COLOR_GRAY2BGR
                )
            )
        for picture in pictures:
            signals = analyzer.analyze(np.ascontiguousarray(picture), 0.0)
            if not (signals.faces and signals.expressions):
                continue
            neutral = EXPRESSIONS[int(np.argmax(signals.expressions))] == "neutral"
            if neutral and signals.smile < 0.3:
                values.append([getattr(signals, name) for name in MEASURED])
    assert len(values) >= 20
    medians = dict(zip(MEASURED, np.median(np.array(values), axis=0), strict=True))
    for name in MEASURED:
        tolerance = 1.5 if name == "pitch" else 0.03
        assert abs(medians[name] - POPULATION_BASELINE[name]) <= tolerance, (name, medians[name])
