"""Per-frame signals: what the vision pipeline (or the simulator) sees in one frame.

A `FrameSignals` holds numbers only, never pixels. Both the camera pipeline and the
simulator produce it, and the engagement engine consumes it.
"""

from __future__ import annotations

import enum

import msgspec

from smartsession.core.identity import SeatCheck

#: The order of FER's seven expression probabilities.
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: FER expressions that count towards confusion.
NEGATIVE_EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "sad")


class CameraStatus(enum.StrEnum):
    """Whether the frame came from a working camera."""

    OK = "ok"
    UNAVAILABLE = "unavailable"


class FrameSignals(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the engine needs from one analysed frame.

    Angles are degrees. Gaze is the offset of the eyes' direction from straight ahead,
    in [-1, 1] per axis (0 = looking at the screen centre). Cues are in [0, 1].
    ``expressions`` holds FER probabilities in `EXPRESSIONS` order, or is empty when
    no expression model ran.
    """

    t: float
    camera: CameraStatus = CameraStatus.OK
    faces: int = 1
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    brow_down: float = 0.0
    brow_inner_up: float = 0.0
    eye_squint: float = 0.0
    lip_press: float = 0.0
    smile: float = 0.0
    eye_closed: float = 0.0
    jaw_open: float = 0.0
    #: MediaPipe's eyeLookDown, both eyes' mean: the eyes lowered (reading, typing).
    eye_look_down: float = 0.0
    expressions: tuple[float, ...] = ()
    #: Faces the vision saw but has not confirmed yet (not in ``faces``): it wants the next
    #: frame soon to settle them (`smartsession.core.pacing`). The engine ignores it.
    pending_faces: int = 0
    #: The seat check that ran on this frame, if one did (`smartsession.core.identity`): a
    #: word, a distance and a time, never the face's descriptor (`SeatCheck` has no field
    #: that could hold one). The engine turns a run of mismatches into an alert.
    seat: SeatCheck | None = None

    @property
    def has_face(self) -> bool:
        """True when the camera works and at least one face is in view."""
        return self.camera is CameraStatus.OK and self.faces >= 1

    def expression(self, name: str) -> float:
        """Probability of one FER expression, 0 when no expression model ran."""
        if not self.expressions:
            return 0.0
        return self.expressions[EXPRESSIONS.index(name)]

    @property
    def negative_expression(self) -> float:
        """Summed probability of the expressions in `NEGATIVE_EXPRESSIONS`."""
        if not self.expressions:
            return 0.0
        return min(1.0, sum(self.expression(name) for name in NEGATIVE_EXPRESSIONS))
