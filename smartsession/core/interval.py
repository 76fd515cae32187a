"""One interval of a student's frames: running sums, then the interval's cues and cue reasons.

Pure: the engagement engine adds each frame's numbers with `Interval.add` and, when the
interval ends, reads the means back (`Interval.cues`, `Interval.cue_reasons`).
"""

from __future__ import annotations

import math

from smartsession.core.protocol import Cues

#: Confusion components, in the order the engine scores them (and weighs them).
COMPONENTS: tuple[str, ...] = (
    "brow_down",
    "brow_inner_up",
    "head_tilt",
    "no_smile",
    "lip_press",
    "eye_squint",
    "negative_expression",
)
#: A normalised component must reach this (interval mean) to be named in a reading's reasons.
CUE_REASON_MIN = 0.3
#: How a component is named in a reason, given the mean raw delta behind it.
_CUE_TEXTS = {
    "brow_down": "brow lowered {:.2f}",
    "brow_inner_up": "inner brow raised {:.2f}",
    "head_tilt": "head tilt {:.0f}°",
    "no_smile": "no smile",
    "lip_press": "lips pressed {:.2f}",
    "eye_squint": "eyes squinted {:.2f}",
    "negative_expression": "negative expression {:.2f}",
}


def clip(value: float, low: float = 0.0, high: float = 1.0) -> float:
    """``value`` within [low, high]; a non-finite value counts as 0."""
    if not math.isfinite(value):
        value = 0.0
    return low if value < low else high if value > high else value


class Interval:
    """Sums over the frames of the interval being collected."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.frames = 0
        self.face_frames = 0
        self.attention = 0.0
        self.confusion = 0.0
        self.faces: list[int] = []
        # Raw cues over face frames, in `Cues` field order (without face_share).
        self._cues = [0.0] * 12
        # Normalised confusion components and their raw deltas over calibrated face frames.
        self._scored_frames = 0
        self._components = [0.0] * len(COMPONENTS)
        self._deltas = [0.0] * len(COMPONENTS)

    def add(
        self,
        faces: int,
        attention: float,
        confusion: float,
        raw_cues: tuple[float, ...],
        components: tuple[float, ...],
        deltas: tuple[float, ...],
    ) -> None:
        """Count one frame: ``raw_cues`` only when it had a face, ``components`` only when scored."""
        self.frames += 1
        self.faces.append(faces)
        self.attention += attention
        self.confusion += confusion
        if faces == 0:
            return
        self.face_frames += 1
        self._cues = [s + v for s, v in zip(self._cues, raw_cues, strict=True)]
        if components:
            self._scored_frames += 1
            self._components = [s + c for s, c in zip(self._components, components, strict=True)]
            self._deltas = [s + d for s, d in zip(self._deltas, deltas, strict=True)]

    def median_faces(self) -> int:
        """The number of faces seen in most of the interval's frames (the median)."""
        return sorted(self.faces)[len(self.faces) // 2]

    def cues(self) -> Cues:
        """Means of the raw cues over the frames with a face, and the share of such frames."""
        if not self.face_frames:
            return Cues()
        m = [s / self.face_frames for s in self._cues]
        return Cues(
            yaw=clip(m[0], -180.0, 180.0),
            pitch=clip(m[1], -180.0, 180.0),
            roll=clip(m[2], -180.0, 180.0),
            gaze_away=clip(m[3]),
            brow_down=clip(m[4]),
            brow_inner_up=clip(m[5]),
            eye_squint=clip(m[6]),
            lip_press=clip(m[7]),
            smile=clip(m[8]),
            eye_closed=clip(m[9]),
            jaw_open=clip(m[10]),
            negative_expression=clip(m[11]),
            face_share=clip(self.face_frames / max(self.frames, 1)),
        )

    def cue_reasons(self, weights: tuple[float, ...]) -> list[str]:
        """The confusion cues that stood out over the interval, strongest contribution first."""
        if not self._scored_frames:
            return []
        n = self._scored_frames
        found: list[tuple[float, str]] = []
        for i, name in enumerate(COMPONENTS):
            level = self._components[i] / n
            if weights[i] <= 0.0 or level < CUE_REASON_MIN:
                continue
            found.append((weights[i] * level, _CUE_TEXTS[name].format(self._deltas[i] / n)))
        found.sort(key=lambda item: -item[0])
        return [text for _, text in found]
