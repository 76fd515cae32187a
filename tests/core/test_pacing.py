"""The frame pacer: the steady rate while nothing changes, the full rate around changes and
before deadlines, and the engine's alerts as timely as at the full rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsession.core.engagement import Change, EngagementEngine
from smartsession.core.pacing import CUE_CHANGE, POSE_CHANGE, FramePacer, Pacing, changed
from smartsession.core.protocol import EventKind
from smartsession.core.settings import EngagementSettings, Policy
from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.core.states import AlertReason, State
from smartsession.core.timers import Watch

T0 = 1_700_000_000.0
PACING = Pacing(full_rate=5.0, steady_rate=2.0, burst_seconds=1.0)
STEADY = 1.0 / PACING.steady_rate
FULL = 1.0 / PACING.full_rate

World = Callable[[float], FrameSignals]


def sitting(t: float, **changes: object) -> FrameSignals:
    """A calm student facing the screen, with ``changes``."""
    values: dict[str, object] = {"pitch": 8.0, "smile": 0.3, "brow_down": 0.1, **changes}
    return FrameSignals(t=t, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Episode:
    """From ``start`` to ``end`` seconds into the clip the camera sees ``changes``."""

    start: float
    end: float
    changes: dict[str, object]


def scripted(episodes: list[Episode]) -> World:
    """What the camera sees at each moment: sitting, except during the episodes."""

    def world(t: float) -> FrameSignals:
        for episode in episodes:
            if episode.start <= t - T0 < episode.end:
                return sitting(t, **episode.changes)
        return sitting(t)

    return world


#: The bench's clip, as signals: sitting, a glance, leaving, a second person, back, eyes closed.
CLIP = [
    Episode(8.0, 10.0, {"yaw": 40.0}),  # a glance shorter than the hold: no alert
    Episode(14.0, 20.0, {"yaw": 45.0}),  # looking away long enough
    Episode(24.0, 33.0, {"faces": 0}),  # leaving
    Episode(38.0, 43.0, {"faces": 2}),  # a second person
    Episode(48.0, 53.0, {"eye_closed": 0.9}),
]
CLIP_SECONDS = 60.0


@dataclass
class Outcome:
    alerts: list[tuple[AlertReason | None, float]]
    cleared: list[tuple[AlertReason | None, float]]
    states: list[tuple[State, float]]
    frames: int


def run(world: World, seconds: float, pacing: Pacing | None, engine_settings: EngagementSettings) -> Outcome:
    """The engine fed ``world`` for ``seconds``: at the full rate (``pacing`` None) or paced."""
    engine = EngagementEngine(engine_settings)
    pacer = FramePacer(pacing) if pacing is not None else None
    out = Outcome([], [], [], 0)
    t = T0
    while t < T0 + seconds:
        frame = world(t)
        out.frames += 1
        for item in engine.update(frame):
            if isinstance(item, Change):
                moment = item.ts - T0
                if item.kind is EventKind.ALERT:
                    out.alerts.append((item.reason, moment))
                elif item.kind is EventKind.ALERT_CLEARED:
                    out.cleared.append((item.reason, moment))
                else:
                    out.states.append((item.state, moment))
        if pacer is None:
            t = T0 + out.frames * FULL
        else:
            t = pacer.after(frame, engine.conditions, engine.deadline(), engine.interval_end)
    return out


def check_as_timely(fixed: Outcome, paced: Outcome, steady: float = STEADY) -> None:
    """The same alerts, clears and states in the same order, each at most one steady period
    after the full-rate run's (and never more than a full-rate frame before it)."""
    for name in ("alerts", "cleared", "states"):
        a, b = getattr(fixed, name), getattr(paced, name)
        assert [what for what, _ in a] == [what for what, _ in b], name
        for (_, at_full), (_, at_paced) in zip(a, b, strict=True):
            assert -FULL - 1e-6 <= at_paced - at_full <= steady + 1e-6, (name, at_full, at_paced)


def test_the_clip_alerts_as_at_the_full_rate_with_far_fewer_frames() -> None:
    world = scripted(CLIP)
    fixed = run(world, CLIP_SECONDS, None, EngagementSettings())
    paced = run(world, CLIP_SECONDS, PACING, EngagementSettings())
    assert [reason for reason, _ in fixed.alerts] == [
        AlertReason.LOOKING_AWAY,
        AlertReason.NO_FACE,
        AlertReason.MULTIPLE_FACES,
        AlertReason.EYES_CLOSED,
    ]
    check_as_timely(fixed, paced)
    timing = EngagementSettings().timing
    holds = [timing.looking_away, timing.no_face, timing.multiple_faces, timing.eyes_closed]
    onsets = [14.0, 24.0, 38.0, 48.0]
    for (_, moment), hold, onset in zip(paced.alerts, holds, onsets, strict=True):
        assert onset + hold - 1e-6 <= moment <= onset + hold + STEADY + 1e-6
    assert paced.frames < 0.6 * fixed.frames


def test_a_still_student_is_analysed_at_the_steady_rate() -> None:
    paced = run(scripted([]), 30.0, PACING, EngagementSettings())
    # Calibration (3 s) and its end are watched closely, then two frames a second.
    assert paced.frames <= 5 * 5 + 2 * 26
    assert paced.states == [(State.FOCUSED, pytest.approx(3.0))]


def test_equal_rates_keep_the_full_rate() -> None:
    world = scripted(CLIP)
    fixed = run(world, CLIP_SECONDS, None, EngagementSettings())
    same = run(world, CLIP_SECONDS, Pacing(full_rate=5.0, steady_rate=5.0), EngagementSettings())
    check_as_timely(fixed, same, steady=FULL)
    assert abs(same.frames - fixed.frames) <= 2


@pytest.mark.parametrize("policy", list(Policy))
def test_every_policy_alerts_as_at_the_full_rate(policy: Policy) -> None:
    engine_settings = EngagementSettings.for_policy(policy)
    episodes = [*CLIP, Episode(70.0, 140.0, {"eye_look_down": 0.7, "eye_closed": 0.5})]
    world = scripted(episodes)
    check_as_timely(run(world, 150.0, None, engine_settings), run(world, 150.0, PACING, engine_settings))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 1.0),
            st.floats(0.0, 12.0),
            st.sampled_from([{"yaw": 50.0}, {"faces": 0}, {"faces": 2}, {"eye_closed": 0.95}]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_conditions_that_outlast_their_hold_alert_as_at_the_full_rate(
    plan: list[tuple[float, float, dict[str, object]]],
) -> None:
    # Episodes 15 s apart (every alert cleared between them), lasting anything from a
    # glance to well past their hold; the phase of each onset between frames varies.
    episodes = [
        Episode(5.0 + 15.0 * i + phase, 5.0 + 15.0 * i + phase + length, changes)
        for i, (phase, length, changes) in enumerate(plan)
    ]
    seconds = 5.0 + 15.0 * len(plan) + 3.0
    timing = EngagementSettings().timing
    holds = {"yaw": timing.looking_away, "eye_closed": timing.eyes_closed}
    fixed = run(scripted(episodes), seconds, None, EngagementSettings())
    paced = run(scripted(episodes), seconds, PACING, EngagementSettings())
    # A condition lasting its hold plus a steady period and a frame alerts in both runs.
    for episode in episodes:
        key = next(iter(episode.changes))
        hold = holds.get(key, timing.no_face if episode.changes[key] == 0 else timing.multiple_faces)
        if episode.end - episode.start >= hold + STEADY + FULL:
            for outcome in (fixed, paced):
                assert any(
                    episode.start + hold - 1e-6 <= moment <= episode.start + hold + STEADY + 1e-6
                    for _, moment in outcome.alerts
                ), (episode, outcome.alerts)
    # Whatever alerts at the full rate alerts paced, within a steady period.
    for reason, at_full in fixed.alerts:
        assert any(
            r is reason and -FULL - 1e-6 <= at - at_full <= STEADY + 1e-6 for r, at in paced.alerts
        ) or any(  # a condition that just made it at the full rate may just miss it paced
            episode.end - episode.start < timing.no_face + STEADY + FULL for episode in episodes
        ), (reason, at_full, paced.alerts)


# The pacer's own rules ------------------------------------------------------------------------


def test_a_change_brings_the_full_rate_for_burst_seconds_then_the_steady_rate() -> None:
    pacer = FramePacer(PACING)
    t = T0
    frames = []
    while t < T0 + 6.0:
        frames.append(round(t - T0, 3))
        t = pacer.after(sitting(t, faces=2 if t >= T0 + 3.0 else 1), frozenset(), None)
    # The first frame is a change (nothing to compare it with): 1 s of full rate, then
    # steady; a second face at 3 s: full rate until 4 s, then steady again.
    assert frames == [
        0.0,
        0.2,
        0.4,
        0.6,
        0.8,
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        3.2,
        3.4,
        3.6,
        3.8,
        4.0,
        4.5,
        5.0,
        5.5,
    ]


def test_a_deadline_gets_its_own_frame_and_the_second_before_it_the_full_rate() -> None:
    pacer = FramePacer(PACING)
    calm = sitting(T0)
    pacer.after(calm, frozenset(), None)
    later = sitting(T0 + 3.0)
    assert pacer.after(later, frozenset(), None) == T0 + 3.0 + STEADY
    assert pacer.after(sitting(T0 + 3.5), frozenset(), T0 + 3.8) == pytest.approx(T0 + 3.8)
    assert pacer.bursting
    assert pacer.after(sitting(T0 + 4.0), frozenset(), T0 + 6.0) == T0 + 4.0 + STEADY
    assert not pacer.bursting
    assert pacer.after(sitting(T0 + 5.0), frozenset(), T0 + 6.0) == T0 + 5.0 + FULL
    assert pacer.after(sitting(T0 + 7.0), frozenset(), None, T0 + 7.3) == T0 + 7.3


def test_conditions_and_pending_faces_are_changes() -> None:
    pacer = FramePacer(PACING)
    pacer.after(sitting(T0), frozenset(), None)
    assert pacer.after(sitting(T0 + 2.0), frozenset(), None) == T0 + 2.0 + STEADY
    looking = frozenset({Watch.LOOKING_AWAY})
    assert pacer.after(sitting(T0 + 3.0), looking, None) == T0 + 3.0 + FULL
    assert pacer.after(sitting(T0 + 5.0), looking, None) == T0 + 5.0 + STEADY
    assert pacer.after(sitting(T0 + 6.0), frozenset(), None) == T0 + 6.0 + FULL
    assert pacer.after(sitting(T0 + 8.0), frozenset(), None) == T0 + 8.0 + STEADY
    pending = sitting(T0 + 9.0, pending_faces=1)
    assert pacer.after(pending, frozenset(), None) == T0 + 9.0 + FULL


def test_what_counts_as_a_change() -> None:
    base = sitting(T0, yaw=5.0, eye_closed=0.1)
    assert not changed(base, sitting(T0, yaw=5.0 + POSE_CHANGE / 2, eye_closed=0.1 + CUE_CHANGE / 2))
    assert changed(base, sitting(T0, yaw=5.0 + POSE_CHANGE, eye_closed=0.1))
    assert changed(base, sitting(T0, yaw=5.0, eye_closed=0.1 + CUE_CHANGE))
    assert changed(base, sitting(T0, yaw=5.0, eye_closed=0.1, gaze_x=0.25))
    assert changed(base, sitting(T0, yaw=5.0, eye_closed=0.1, faces=2))
    assert changed(base, FrameSignals(t=T0, camera=CameraStatus.UNAVAILABLE, faces=0))
    empty = FrameSignals(t=T0, faces=0)
    assert not changed(empty, FrameSignals(t=T0 + 1, faces=0, yaw=30.0))


def test_pacing_refuses_rates_that_make_no_sense() -> None:
    with pytest.raises(ValueError, match="steady_rate"):
        Pacing(full_rate=2.0, steady_rate=5.0)
    with pytest.raises(ValueError, match="steady_rate"):
        Pacing(steady_rate=0.0)
    with pytest.raises(ValueError, match="burst_seconds"):
        Pacing(burst_seconds=-1.0)
