"""The engine's "different person" alert from the seat check (pure: frames with results in)."""

from __future__ import annotations

from smartsession.core.engagement import Change, EngagementEngine, Reading
from smartsession.core.identity import seat_check
from smartsession.core.protocol import EventKind
from smartsession.core.settings import EngagementSettings
from smartsession.core.signals import FrameSignals
from smartsession.core.states import AlertReason, State

T0 = 1_700_000_000.0


class Seat:
    """An engine fed a calm face at 5 fps, with a seat-check result every ``every`` seconds."""

    def __init__(self, mismatch_checks: int = 3, every: float = 30.0) -> None:
        self.engine = EngagementEngine(EngagementSettings(), mismatch_checks=mismatch_checks)
        self.every = every
        self.t = T0
        self.next_check = T0
        self.items: list[Reading | Change] = []

    def run(self, seconds: float, distance: float | None, *, faces: int = 1) -> list[Reading | Change]:
        out: list[Reading | Change] = []
        end = self.t + seconds
        while self.t < end - 1e-9:
            seat = None
            if faces == 1 and self.t >= self.next_check - 1e-9:
                seat = seat_check(distance, self.t)
                self.next_check = self.t + self.every
            frame = FrameSignals(t=self.t, faces=faces, pitch=8.0, smile=0.3, seat=seat)
            out += self.engine.update(frame)
            self.t = round(self.t + 0.2, 6)
        self.items += out
        return out


def _changes(
    items: list[Reading | Change], reason: AlertReason = AlertReason.DIFFERENT_PERSON
) -> list[Change]:
    return [
        i for i in items if isinstance(i, Change) and i.reason is reason and i.kind is not EventKind.STATE
    ]


def test_mismatches_held_over_the_checks_alert_and_a_match_clears() -> None:
    run = Seat(mismatch_checks=3)
    run.run(10, 0.2)  # calibrated, matching
    assert run.engine.state is State.FOCUSED and not _changes(run.items)
    run.run(61, 0.71)  # two mismatches (at 30 and 60 s): not yet
    assert run.engine.state is State.FOCUSED and not _changes(run.items)
    out = run.run(30, 0.71)  # the third
    (alert,) = _changes(out)
    assert alert.kind is EventKind.ALERT and alert.state is State.ALERT
    assert alert.detail == (
        "seat check: the face differs from the one enrolled here (3 checks in a row, distance 0.71); "
        "a human should look"
    )
    states = [c for c in out if isinstance(c, Change) and c.kind is EventKind.STATE]
    assert states[-1].state is State.ALERT and states[-1].detail.endswith("different person")
    readings = [r for r in out if isinstance(r, Reading)]
    assert readings[-1].alert is AlertReason.DIFFERENT_PERSON
    assert readings[-1].reasons[0] == "seat check differs (0.71)"
    # It holds between checks, whatever the face does meanwhile, until a check matches.
    run.run(28, 0.71)  # another mismatch at 120 s
    assert run.engine.state is State.ALERT and len(_changes(run.items)) == 1
    out = run.run(22, 0.25)  # the check at 150 s matches
    (cleared,) = _changes(out)
    assert cleared.kind is EventKind.ALERT_CLEARED and cleared.state is State.FOCUSED
    assert cleared.detail == "seat check: the face matches the one enrolled here again (distance 0.25)"
    assert run.engine.state is State.FOCUSED


def test_not_enrolled_never_alerts_and_a_match_restarts_the_count() -> None:
    run = Seat(mismatch_checks=2, every=5)
    run.run(60, None)
    assert run.engine.state is State.FOCUSED and not _changes(run.items)
    run.run(5, 0.8)  # one mismatch
    run.run(5, 0.3)  # a match: the streak starts again
    run.run(5, 0.8)
    assert run.engine.state is State.FOCUSED and not _changes(run.items)
    run.run(5, 0.8)
    assert run.engine.state is State.ALERT and len(_changes(run.items)) == 1


def test_a_timed_alert_ranks_above_it_and_both_clear_on_their_own() -> None:
    run = Seat(mismatch_checks=1, every=5)
    run.run(10, 0.2)
    run.run(5, 0.9)
    assert run.engine.state is State.ALERT
    out = run.run(8, 0.9, faces=2)  # a second face: the multiple faces alert ranks first
    readings = [r for r in out if isinstance(r, Reading)]
    assert readings[-1].alert is AlertReason.MULTIPLE_FACES
    assert readings[-1].reasons[:2] == ("2 faces", "seat check differs (0.90)")
    run.run(5, 0.9)  # one face again (still a mismatch): the seat alert is what remains
    assert [r for r in run.items if isinstance(r, Reading)][-1].alert is AlertReason.DIFFERENT_PERSON
    assert len(_changes(run.items, AlertReason.MULTIPLE_FACES)) == 2  # raised and cleared
    assert len(_changes(run.items)) == 1  # raised once, still on
    run.run(5, 0.1)
    assert run.engine.state is State.FOCUSED
