"""The class-wide measures, pure: the attention index, the confusion spike, and the roster that feeds them."""

from __future__ import annotations

import math

import pytest

from smartsession.core.classwide import (
    AttentionIndex,
    ClassSettings,
    ClassTally,
    SpikeWatch,
    is_late,
)
from smartsession.core.identity import SeatResult
from smartsession.core.protocol import Sample, SeatStatus
from smartsession.core.roster import RestoredStudent, Roster
from smartsession.core.snapshots import ClassAlertChanged, ClassRestored, HubGap
from smartsession.core.states import State

T0 = 1_725_267_600.0


def test_the_index_is_an_ema_with_the_documented_time_constant() -> None:
    index = AttentionIndex(10.0)
    assert index.value(T0) is None
    index.update(T0, 0.2)
    assert index.value(T0 + 100) == pytest.approx(0.2)  # a constant class: the index is the class
    index.update(T0 + 100, 0.8)  # a step
    assert index.value(T0 + 100) == pytest.approx(0.2)  # no jump
    assert index.value(T0 + 110) == pytest.approx(0.2 + 0.6 * (1 - math.exp(-1)))  # 63 % in tau
    assert index.value(T0 + 130) == pytest.approx(0.8, abs=0.6 * 0.05)  # 95 % in 3 tau
    index.update(T0 + 130, None)  # nobody counted: it holds
    assert index.value(T0 + 500) == index.value(T0 + 130)


def test_the_tally_counts_present_students_only() -> None:
    tally = ClassTally()
    tally.set("a", State.FOCUSED, 0.9)
    tally.set("b", State.CONFUSED, 0.5)
    tally.set("c", State.PAUSED, 0.0)  # paused: not observed, not counted
    assert (tally.present, tally.confused, tally.mean_attention) == (2, {"b"}, pytest.approx(0.7))
    tally.set("b", State.FOCUSED, 0.7)
    tally.drop("a")
    assert (tally.present, tally.confused, tally.mean_attention) == (1, set(), pytest.approx(0.7))


def _tally(confused: int, present: int) -> ClassTally:
    tally = ClassTally()
    for i in range(present):
        tally.set(f"s{i}", State.CONFUSED if i < confused else State.FOCUSED, 0.5)
    return tally


def test_a_spike_needs_the_share_for_the_time_is_raised_once_and_clears_with_hysteresis() -> None:
    watch = SpikeWatch(0.4, 10.0)
    assert watch.update(T0, _tally(4, 5)) is None  # the share is there, not yet for 10 s
    assert watch.update(T0 + 9.9, _tally(4, 5)) is None
    raised = watch.update(T0 + 10, _tally(4, 5), segment=3)
    assert raised is not None and raised.ended_at is None
    assert (raised.confused, raised.present, raised.held, raised.segment) == (4, 5, 10.0, 3)
    assert raised.students == ("s0", "s1", "s2", "s3")
    for t in range(11, 40):  # it lasts: not raised again
        assert watch.update(T0 + t, _tally(5 if t == 20 else 4, 5)) is None
    assert watch.active is not None and watch.active.peak == 5
    # below the share but above three quarters of it: still on (hysteresis)
    assert watch.update(T0 + 40, _tally(8, 25)) is None and watch.update(T0 + 60, _tally(8, 25)) is None
    assert watch.update(T0 + 61, _tally(1, 5)) is None  # below: clears after half of spike_seconds
    cleared = watch.update(T0 + 66, _tally(1, 5))
    assert cleared is not None and cleared.index == 1 and cleared.ended_at == T0 + 61
    assert watch.active is None
    assert watch.update(T0 + 70, _tally(4, 5)) is None  # a new one needs its 10 s again
    again = watch.update(T0 + 80, _tally(4, 5))
    assert again is not None and again.index == 2


def test_a_dip_restarts_the_wait_and_one_confused_student_is_not_a_spike() -> None:
    watch = SpikeWatch(0.4, 10.0)
    assert watch.update(T0, _tally(3, 5)) is None
    assert watch.update(T0 + 5, _tally(1, 5)) is None  # the share fell: start again
    assert watch.update(T0 + 12, _tally(3, 5)) is None
    assert watch.update(T0 + 21, _tally(3, 5)) is None
    assert watch.update(T0 + 22, _tally(3, 5)) is not None
    alone = SpikeWatch(0.4, 10.0)
    assert all(alone.update(T0 + t, _tally(1, 1)) is None for t in range(0, 60, 5))


def _sample(state: State, attention: float = 0.8) -> Sample:
    return Sample(seq=1, ts=T0, state=state, attention=attention, confusion=0.5, faces=1)


def test_the_roster_raises_a_spike_even_headless_and_counts_only_present_students() -> None:
    roster = Roster("cs101", settings=ClassSettings(spike_share=0.5, spike_seconds=10.0))
    roster.begin(T0)
    for sid in ("a", "b", "c", "d"):
        roster.join(sid, sid, "pc", T0)
    roster.mark_segment("recursion", T0)
    events = []
    for t in range(0, 12):
        for sid in ("a", "b", "c", "d"):
            state = State.CONFUSED if sid in "abc" and t >= 1 else State.FOCUSED
            events += roster.apply(sid, _sample(state), T0 + t, report=False)  # nobody listens
    (raised,) = [e.spike for e in events if isinstance(e, ClassAlertChanged)]
    assert (raised.confused, raised.present, raised.segment, raised.raised_at) == (3, 4, 1, T0 + 11)
    assert roster.pulse(T0 + 11).spike == raised
    for sid in ("a", "b", "c"):
        roster.leave(sid, T0 + 12)
    (cleared,) = [e.spike for e in roster.tick(T0 + 18) if isinstance(e, ClassAlertChanged)]
    assert cleared.ended_at == T0 + 12 and roster.class_alerts() == [cleared]
    assert roster.pulse(T0 + 18).present == 1


def test_expected_students_are_absent_until_they_join_then_late_if_late() -> None:
    roster = Roster("cs101", expected={"pc-01": "Ann One", "pc-02": "Ben Two"}, settings=ClassSettings())
    roster.begin(T0)
    absent = {s.student_id: s for s in roster.students()}
    assert absent["pc-01"].absent and absent["pc-01"].name == "Ann One" and not absent["pc-01"].connected
    roster.join("pc-02", "st2", "pc", T0 + 60)  # on time
    roster.join("pc-01", "st1", "pc", T0 + 7 * 60)  # late (more than 5 minutes)
    roster.join("pc-09", "Zed", "pc", T0 + 10)  # not on the roster: its own name
    students = {s.student_id: s for s in roster.students()}
    assert [s.student_id for s in roster.students()] == ["pc-02", "pc-01", "pc-09"]
    assert students["pc-01"].name == "Ann One" and students["pc-01"].late_by == pytest.approx(7.0)
    assert students["pc-02"].name == "Ben Two" and students["pc-02"].late_by is None
    assert students["pc-09"].name == "Zed" and not students["pc-09"].expected
    assert not any(s.absent for s in students.values())
    assert is_late(T0 + 301, T0, 5.0) and not is_late(T0 + 300, T0, 5.0)


def test_a_restored_roster_has_timelines_and_the_hub_gap() -> None:
    roster = Roster("cs101")
    roster.begin(T0)
    gap = HubGap(T0 + 30, T0 + 41, ("a",))
    restored = RestoredStudent(
        "a", "Ann", "pc", T0, ((T0, T0 + 30),), ((T0 + 1, State.FOCUSED), (T0 + 20, State.CONFUSED))
    )
    (event,) = roster.restore([restored], [], [], [gap])
    assert isinstance(event, ClassRestored)
    (ann,) = roster.students()
    assert not ann.connected and ann.hub_gaps == (gap,) and roster.hub_gaps() == [gap]
    assert [state for _, state in ann.timeline] == [
        State.CALIBRATING,
        State.FOCUSED,
        State.CONFUSED,
        State.OFFLINE,
    ]
    assert ann.durations(T0 + 41)[State.CONFUSED] == pytest.approx(10.0)
    roster.join("a", "Ann", "pc", T0 + 42)  # reconnects after the resume
    (ann,) = roster.students()
    assert ann.connections == ((T0, T0 + 30), (T0 + 42, None)) and ann.joined_at == T0


def test_a_restored_roster_has_the_seat_checks_of_the_session_so_far() -> None:
    roster = Roster("cs101")
    roster.begin(T0)
    checks = (
        (T0 + 10, SeatStatus(result=SeatResult.MATCH, distance=0.2)),
        (T0 + 40, SeatStatus(result=SeatResult.MISMATCH, distance=0.7, checks=2, mismatches=2)),
    )
    restored = RestoredStudent("a", "Ann", "pc", T0, ((T0, T0 + 50),), ((T0 + 1, State.FOCUSED),), checks)
    roster.restore([restored], [], [], [])
    (ann,) = roster.students()
    assert ann.seat is not None
    assert ann.seat.result is SeatResult.MISMATCH and ann.seat.checks == 3 and ann.seat.mismatches == 2
    assert ann.seat.mismatch_times == ((T0 + 40, 0.7),)
