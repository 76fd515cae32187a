"""The seat check inside the vision process: the face on screen against the enrolled template.

`SeatChecker.observe` takes each analysed frame's landmarks; when `CheckSchedule` says a
check is due (every ``interval`` s with one face, and at each return after no face) it cuts
the chip, runs the network and compares with the template. It returns a `SeatCheck` (a word
and a distance) or None; the descriptor itself stays here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from smartsession.core.identity import (
    DEFAULT_INTERVAL,
    DEFAULT_THRESHOLD,
    CheckSchedule,
    SeatCheck,
    seat_check,
)
from smartsession.vision.face_chip import chip_from_landmarks
from smartsession.vision.face_net import FaceNet, distance
from smartsession.vision.images import BGRImage
from smartsession.vision.landmarks import FaceLandmarks


class SeatChecker:
    """Compares the one face on screen with ``template`` (None: this machine has no enrolment,
    and every check is "not enrolled"; ``net`` may then be None, the model is not needed)."""

    def __init__(
        self,
        net: FaceNet | None,
        template: Sequence[float] | None,
        *,
        interval: float = DEFAULT_INTERVAL,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if net is None and template is not None:
            raise ValueError("a template needs the face network to compare with")
        self._net = net
        self._template: npt.NDArray[np.float32] | None = (
            None if template is None else np.asarray(template, dtype=np.float32)
        )
        self._schedule = CheckSchedule(interval)
        self.threshold = threshold

    def observe(
        self, bgr: BGRImage, faces: Sequence[FaceLandmarks], t: float, *, others: int = 0
    ) -> SeatCheck | None:
        """A check's result when one was due on this frame, else None.

        Only a frame with exactly one face is checked: one in ``faces`` (the landmarker's)
        and no ``others`` (faces only the people counter sees). Several faces are the
        engine's "more than one face" alert, not a seat check.
        """
        if not self._schedule.due(t, len(faces) == 1 and others == 0):
            return None
        self._schedule.done(t)
        if self._template is None or self._net is None:
            return seat_check(None, t)
        found = self._net.descriptor(chip_from_landmarks(bgr, faces[0].landmarks))
        return seat_check(distance(found, self._template), t, self.threshold)
