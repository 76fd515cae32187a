"""Engagement settings: every weight and threshold of the engine, with defaults.

These are plain data, read from the ``[engagement]`` table of a config file.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0.0, le=3600.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)]
UnitFloat = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Degrees = Annotated[float, msgspec.Meta(gt=0.0, le=90.0)]
Weight = Annotated[float, msgspec.Meta(ge=0.0, le=10.0)]


class ConfusionWeights(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Weights of the normalised cues summed into the confusion score (normalised by their sum)."""

    brow_down: Weight = 0.35
    brow_inner_up: Weight = 0.10
    head_tilt: Weight = 0.10
    no_smile: Weight = 0.10
    lip_press: Weight = 0.10
    eye_squint: Weight = 0.10
    negative_expression: Weight = 0.15


class ConfusionScales(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How far above baseline a cue must rise to count fully (its value maps to 1.0)."""

    brow_down: Positive = 0.35
    brow_inner_up: Positive = 0.35
    head_tilt_deg: Degrees = 15.0
    lip_press: Positive = 0.35
    eye_squint: Positive = 0.35
    negative_expression: Positive = 0.6


class Timing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long a condition must hold before the state changes, in seconds."""

    no_face: Positive = 5.0
    multiple_faces: Positive = 2.0
    looking_away: Positive = 4.0
    eyes_closed: Positive = 3.0
    camera_unavailable: Positive = 1.0
    alert_clear: NonNegative = 1.0
    confused_enter: Positive = 3.0
    confused_leave: Positive = 2.0


class EngagementSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The engagement engine's whole configuration."""

    interval: Annotated[float, msgspec.Meta(ge=0.1, le=60.0)] = 1.0
    calibration_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=120.0)] = 3.0
    baseline_rate: UnitFloat = 0.02
    confused_enter: UnitFloat = 0.58
    confused_leave: UnitFloat = 0.45
    yaw_away_deg: Degrees = 30.0
    pitch_away_deg: Degrees = 25.0
    gaze_away: UnitFloat = 0.5
    eyes_closed: UnitFloat = 0.6
    #: Time constant (seconds) of the smoothing of FER's expression probabilities before they
    #: count towards confusion (FER is noisy frame to frame); 0 turns it off.
    expression_smoothing: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 1.5
    weights: ConfusionWeights = ConfusionWeights()
    scales: ConfusionScales = ConfusionScales()
    timing: Timing = Timing()

    def __post_init__(self) -> None:
        if self.confused_leave >= self.confused_enter:
            raise ValueError(
                f"confused_leave ({self.confused_leave}) must be below "
                f"confused_enter ({self.confused_enter}) for hysteresis"
            )
