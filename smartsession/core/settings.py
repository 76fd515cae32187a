"""Engagement settings: every weight and threshold of the engine, with defaults.

These are plain data, read from the ``[engagement]`` table of a config file. Its ``policy``
("lecture", "lab" or "exam") is a preset of alert timings (`POLICY_TIMING`) that
`with_policy` fills into ``[engagement.timing]`` wherever the file does not set a key itself:
each key written in the file overrides the preset. The defaults are the lecture preset.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any

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


class Policy(enum.StrEnum):
    """What a class is doing, which sets how the alerts are timed (`POLICY_TIMING`)."""

    #: Students follow a teacher: looking down (notes) alerts only after a minute.
    LECTURE = "lecture"
    #: Students work at the machine: looking down (keyboard, notes) is work, never an alert;
    #: looking around and a helper beside the student are normal for longer.
    LAB = "lab"
    #: An exam: the strict proctoring rules; looking down alerts like looking away.
    EXAM = "exam"


#: Each policy's alert timings in seconds (keys of `Timing`; looking_down 0 = never an alert).
POLICY_TIMING: dict[Policy, dict[str, float]] = {
    Policy.LECTURE: {
        "no_face": 5.0,
        "multiple_faces": 2.0,
        "looking_away": 4.0,
        "looking_down": 60.0,
        "eyes_closed": 3.0,
    },
    Policy.LAB: {
        "no_face": 5.0,
        "multiple_faces": 10.0,
        "looking_away": 10.0,
        "looking_down": 0.0,
        "eyes_closed": 3.0,
    },
    Policy.EXAM: {
        "no_face": 5.0,
        "multiple_faces": 2.0,
        "looking_away": 4.0,
        "looking_down": 4.0,
        "eyes_closed": 3.0,
    },
}


#: Whether each policy turns the seat check on where ``identity.enabled`` is not set.
POLICY_IDENTITY: dict[Policy, bool] = {Policy.LECTURE: False, Policy.LAB: False, Policy.EXAM: True}


def identity_with_policy(identity: Mapping[str, Any], engagement: Mapping[str, Any]) -> dict[str, Any]:
    """An ``[identity]`` table with ``enabled`` from the policy (`POLICY_IDENTITY`) when unset."""
    policy = Policy(engagement.get("policy", Policy.LECTURE))
    return {"enabled": POLICY_IDENTITY[policy], **identity}


def with_policy(engagement: Mapping[str, Any]) -> dict[str, Any]:
    """An ``[engagement]`` table (as read from TOML) with its policy's timings filled into
    ``timing`` where the table does not set them. Call it on a table already checked
    against `EngagementSettings` (a valid policy, ``timing`` a table)."""
    policy = Policy(engagement.get("policy", Policy.LECTURE))
    timing = {**POLICY_TIMING[policy], **engagement.get("timing", {})}
    return {**engagement, "timing": timing}


class Timing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How long a condition must hold before the state changes, in seconds."""

    no_face: Positive = 5.0
    multiple_faces: Positive = 2.0
    looking_away: Positive = 4.0
    #: Looking down (eyes lowered, open) before a "looking away" alert; 0 = never.
    looking_down: NonNegative = 60.0
    eyes_closed: Positive = 3.0
    camera_unavailable: Positive = 1.0
    alert_clear: NonNegative = 1.0
    confused_enter: Positive = 3.0
    confused_leave: Positive = 2.0


class EngagementSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The engagement engine's whole configuration.

    ``policy`` names the preset the timings came from (see `with_policy`, `for_policy`); it
    changes nothing by itself.
    """

    policy: Policy = Policy.LECTURE
    interval: Annotated[float, msgspec.Meta(ge=0.1, le=60.0)] = 1.0
    calibration_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=120.0)] = 3.0
    baseline_rate: UnitFloat = 0.02
    confused_enter: UnitFloat = 0.58
    confused_leave: UnitFloat = 0.45
    yaw_away_deg: Degrees = 30.0
    pitch_away_deg: Degrees = 25.0
    gaze_away: UnitFloat = 0.5
    eyes_closed: UnitFloat = 0.6
    #: MediaPipe's eyeLookDown (both eyes' mean) at or above which the eyes count as lowered:
    #: looking down at a keyboard or notes, not asleep.
    looking_down: UnitFloat = 0.4
    #: Eye closure up to which lowered eyes still count as open (the lids drop when one looks
    #: down, so eyeBlink rises to 0.5-0.8 with the eyes open); above it they are closed.
    looking_down_eye_closed: UnitFloat = 0.85
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
        if self.looking_down_eye_closed < self.eyes_closed:
            raise ValueError(
                f"looking_down_eye_closed ({self.looking_down_eye_closed}) must not be below "
                f"eyes_closed ({self.eyes_closed})"
            )

    @classmethod
    def for_policy(cls, policy: Policy, **changes: Any) -> EngagementSettings:
        """The settings of ``policy``'s preset, with ``changes`` (top-level keys) on top."""
        return msgspec.convert(with_policy({"policy": policy.value, **changes}), cls)
