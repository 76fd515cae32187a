"""The roster keeps each student's effective analysis rate from the samples that carry it."""

from __future__ import annotations

from smartsession.core.protocol import Sample
from smartsession.core.roster import Roster, StudentChanged
from smartsession.core.states import State


def sample(seq: int, **fields: float) -> Sample:
    return Sample(
        seq=seq, ts=1000.0 + seq, state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1, **fields
    )


def test_the_latest_samples_rate_is_the_students_and_none_when_not_said() -> None:
    roster = Roster("physics")
    roster.join("pc-01", "Ada", "pc-01", 1000.0, vision="isolated")
    (changed,) = roster.apply("pc-01", sample(1, fps=2.0), 1001.0)
    assert isinstance(changed, StudentChanged) and changed.student.fps == 2.0
    (changed,) = roster.apply("pc-01", sample(2, fps=5.0), 1002.0)
    assert isinstance(changed, StudentChanged) and changed.student.fps == 5.0
    (changed,) = roster.apply("pc-01", sample(3), 1003.0)  # an agent from before the rate
    assert isinstance(changed, StudentChanged) and changed.student.fps is None
