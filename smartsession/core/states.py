"""Student states and alert reasons shared by the engine, the protocol, the hub and the TUI."""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    """What a tile shows for a student."""

    CALIBRATING = "calibrating"
    FOCUSED = "focused"
    CONFUSED = "confused"
    ALERT = "alert"
    PAUSED = "paused"
    OFFLINE = "offline"

    @property
    def severity(self) -> int:
        """Sort key: higher needs the teacher's eyes sooner."""
        return _SEVERITY[self]


_SEVERITY = {
    State.ALERT: 5,
    State.CONFUSED: 4,
    State.OFFLINE: 3,
    State.CALIBRATING: 2,
    State.PAUSED: 1,
    State.FOCUSED: 0,
}


class AlertReason(enum.StrEnum):
    """Why a student is in the Alert state."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOOKING_AWAY = "looking_away"
    EYES_CLOSED = "eyes_closed"
    CAMERA_UNAVAILABLE = "camera_unavailable"

    @property
    def label(self) -> str:
        """Short words for a tile or a report."""
        return _REASON_LABELS[self]


_REASON_LABELS = {
    AlertReason.NO_FACE: "no face",
    AlertReason.MULTIPLE_FACES: "more than one face",
    AlertReason.LOOKING_AWAY: "looking away",
    AlertReason.EYES_CLOSED: "eyes closed",
    AlertReason.CAMERA_UNAVAILABLE: "camera unavailable",
}
