"""The seat check's rules, pure: when to compare, what a distance means, when to alert.

The vision process compares the face on screen with the template enrolled on that machine
and hands out only a `SeatCheck` (one of three words and a distance). `CheckSchedule` says
when a check is due (every ``interval`` seconds with a face, and at each return after no
face); `MismatchHold` turns a run of mismatches into the "different person" alert.
Time is passed in, never read.
"""

from __future__ import annotations

import enum

import msgspec

#: Distance below which a face counts as the enrolled student's. Chosen from the seat-check
#: set (docs/identity.md): the largest same-person distance there is 0.46 (a blurred copy),
#: the smallest between the two people 0.57; dlib's own 0.6 (LFW) would let them pass as
#: each other in some copies.
DEFAULT_THRESHOLD = 0.52
#: Seconds between checks while a face is on screen.
DEFAULT_INTERVAL = 30.0
#: Mismatches in a row before the "different person" alert.
DEFAULT_MISMATCH_CHECKS = 3


class SeatResult(enum.StrEnum):
    """What one check found; the only words that leave the vision process."""

    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_ENROLLED = "not_enrolled"

    @property
    def label(self) -> str:
        """The word for people ("not enrolled")."""
        return self.value.replace("_", " ")


class SeatCheck(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One check's result: the word, the distance (rounded to 0.01; None when not enrolled)
    and when. This is all that crosses the vision process's pipe about a face's identity."""

    result: SeatResult
    distance: float | None = None
    t: float


def seat_check(distance: float | None, t: float, threshold: float = DEFAULT_THRESHOLD) -> SeatCheck:
    """The result of a check at ``t`` that found ``distance`` (None: nobody is enrolled)."""
    if distance is None:
        return SeatCheck(result=SeatResult.NOT_ENROLLED, t=t)
    return SeatCheck(result=judge(distance, threshold), distance=round(distance, 2), t=t)


def judge(distance: float, threshold: float = DEFAULT_THRESHOLD) -> SeatResult:
    """MATCH below ``threshold``, else MISMATCH."""
    return SeatResult.MATCH if distance < threshold else SeatResult.MISMATCH


class CheckSchedule:
    """When the next check is due: every ``interval`` s with a face, and at each return.

    Call `due` with each analysed frame's time and whether one face is on screen; when it
    says True, run the check and call `done` with the same time.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._last: float | None = None
        self._face_before = False

    def due(self, t: float, face: bool) -> bool:
        """Whether a check should run on this frame."""
        returned = face and not self._face_before
        self._face_before = face
        if not face:
            return False
        return returned or self._last is None or t - self._last >= self.interval

    def done(self, t: float) -> None:
        """A check ran at ``t``."""
        self._last = t


class MismatchHold:
    """Counts mismatches in a row; the alert holds from the ``checks``-th until a match.

    "not enrolled" and checks that could not run change nothing.
    """

    def __init__(self, checks: int = DEFAULT_MISMATCH_CHECKS) -> None:
        if checks < 1:
            raise ValueError("checks must be at least 1")
        self.checks = checks
        self.streak = 0
        self.since: float | None = None
        self.last_distance: float | None = None

    def update(self, check: SeatCheck) -> bool:
        """Take one check; True while the alert holds."""
        if check.result is SeatResult.MISMATCH:
            if self.streak == 0:
                self.since = check.t
            self.streak += 1
            self.last_distance = check.distance
        elif check.result is SeatResult.MATCH:
            self.streak = 0
            self.since = None
            self.last_distance = check.distance
        return self.alerting

    @property
    def alerting(self) -> bool:
        """Whether the last ``checks`` checks were all mismatches."""
        return self.streak >= self.checks

    def reason(self) -> str:
        """The alert's reason in plain words, for a human to review (an event's detail)."""
        return (
            f"seat check: the face differs from the one enrolled here ({self.streak} checks in a row, "
            f"distance {self._distance()}); a human should look"
        )

    def short_reason(self) -> str:
        """The reason in a tile's few words (`smartsession.core.engagement.REASON_CHARS`)."""
        return f"seat check differs ({self._distance()})"

    def cleared_reason(self) -> str:
        """Why the alert ended: a check matched again."""
        return f"seat check: the face matches the one enrolled here again (distance {self._distance()})"

    def _distance(self) -> str:
        return f"{self.last_distance:.2f}" if self.last_distance is not None else "?"
