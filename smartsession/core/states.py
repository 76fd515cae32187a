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
    #: The seat check: the face at the machine differed from the one enrolled on it in
    #: ``identity.mismatch_checks`` checks in a row. A hint for a person to look, never an
    #: identification (it came after protocol 2's release: docs/protocol.md, "Telemetry").
    DIFFERENT_PERSON = "different_person"

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
    AlertReason.DIFFERENT_PERSON: "different person",
}


class NoticeKind(enum.StrEnum):
    """Why the hub tells the teacher about a student's connection (not an attention alert)."""

    TAKEOVER = "takeover"
    OUT_OF_RANGE = "out_of_range"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"

    @property
    def label(self) -> str:
        """Short words for a tile, a toast or the alerts screen."""
        return _NOTICE_LABELS[self]


_NOTICE_LABELS = {
    NoticeKind.TAKEOVER: "connected again from elsewhere",
    NoticeKind.OUT_OF_RANGE: "sent impossible times or numbers",
    NoticeKind.RATE_LIMITED: "sent too much too fast",
    NoticeKind.QUOTA_EXCEEDED: "storage quota reached",
}
