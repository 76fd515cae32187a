"""Simulated students: reproducible, well-formed, and each profile shows what it should."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pytest

from smartsession.core.engagement import Change, EngagementEngine, Reading
from smartsession.core.protocol import EventKind
from smartsession.core.settings import EngagementSettings
from smartsession.core.signals import EXPRESSIONS, CameraStatus
from smartsession.core.simulate import PROFILES, SimulatedStudent
from smartsession.core.states import AlertReason, State

START = 1_700_000_000.0
SEEDS = (0, 1, 2, 7, 1234)


@dataclass
class Watch:
    """What the engine said about a simulated student."""

    states: Counter[State] = field(default_factory=Counter)
    alerts: Counter[AlertReason] = field(default_factory=Counter)
    first: dict[State | AlertReason, float] = field(default_factory=dict)


def watch(profile: str, seed: int, seconds: float = 60.0, fps: float = 5.0) -> Watch:
    student = SimulatedStudent(profile, seed, START)
    engine = EngagementEngine(EngagementSettings())
    seen = Watch()
    for i in range(round(seconds * fps)):
        t = START + i / fps
        for item in engine.update(student.frame(t)):
            if isinstance(item, Reading):
                seen.states[item.state] += 1
                seen.first.setdefault(item.state, t - START)
            elif item.kind is EventKind.ALERT and item.reason is not None:
                seen.alerts[item.reason] += 1
                seen.first.setdefault(item.reason, t - START)
    return seen


def test_unknown_profile_lists_the_profiles() -> None:
    with pytest.raises(ValueError, match=r"sleepy.*attentive, glancer, distracted"):
        SimulatedStudent("sleepy", 1, START)


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_frames_and_other_seeds_differ(profile: str) -> None:
    times = [START + i * 0.2 + (0.05 if i % 7 == 0 else 0.0) for i in range(300)]
    assert _frames(profile, 42, times) == _frames(profile, 42, times)
    assert _frames(profile, 43, times) != _frames(profile, 42, times)


def _frames(profile: str, seed: int, times: list[float]) -> list[object]:
    student = SimulatedStudent(profile, seed, START)
    return [student.frame(t) for t in times]


@pytest.mark.parametrize("profile", PROFILES)
def test_frames_are_well_formed(profile: str) -> None:
    student = SimulatedStudent(profile, 3, START)
    for i in range(600):
        frame = student.frame(START + i * 0.2)
        assert frame.t == START + i * 0.2
        cues = (frame.brow_down, frame.brow_inner_up, frame.eye_squint, frame.lip_press)
        cues += (frame.smile, frame.eye_closed, frame.jaw_open)
        assert all(0.0 <= cue <= 1.0 for cue in cues)
        assert all(-1.0 <= g <= 1.0 for g in (frame.gaze_x, frame.gaze_y))
        assert all(-180.0 <= a <= 180.0 for a in (frame.yaw, frame.pitch, frame.roll))
        if frame.has_face:
            assert len(frame.expressions) == len(EXPRESSIONS)
            assert math.isclose(sum(frame.expressions), 1.0, abs_tol=1e-9)
            assert all(p >= 0.0 for p in frame.expressions)
        else:
            assert frame.expressions == ()
            assert frame.faces == 0
        if frame.camera is CameraStatus.UNAVAILABLE:
            assert profile in ("flaky_camera", "mixed")


def test_resting_faces_differ_by_seed() -> None:
    pitches = {round(SimulatedStudent("attentive", seed, START).frame(START).pitch) for seed in SEEDS}
    assert len(pitches) >= 3
    assert all(0.0 < p < 22.0 for p in pitches)


@pytest.mark.parametrize("seed", SEEDS)
def test_attentive_is_mostly_focused_and_never_alerts(seed: int) -> None:
    seen = watch("attentive", seed)
    assert not seen.alerts
    assert State.CONFUSED not in seen.states
    assert seen.states[State.FOCUSED] >= 0.9 * sum(seen.states.values())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("fps", [5.0, 15.0])
def test_glancer_glances_but_never_long_enough_to_alert(seed: int, fps: float) -> None:
    student = SimulatedStudent("glancer", seed, START)
    engine = EngagementEngine(EngagementSettings())
    glancing = 0
    for i in range(round(90 * fps)):
        frame = student.frame(START + i / fps)
        for item in engine.update(frame):
            assert not (isinstance(item, Change) and item.kind is EventKind.ALERT)
            if isinstance(item, Reading) and any(r.startswith("looking away") for r in item.reasons):
                glancing += 1
    assert glancing >= 5  # it does glance, visibly


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("distracted", AlertReason.LOOKING_AWAY),
        ("leaver", AlertReason.NO_FACE),
        ("crowd", AlertReason.MULTIPLE_FACES),
        ("flaky_camera", AlertReason.CAMERA_UNAVAILABLE),
    ],
)
def test_alerting_profiles_raise_their_alert_early_and_only_it(
    profile: str, expected: AlertReason, seed: int
) -> None:
    seen = watch(profile, seed)
    assert set(seen.alerts) == {expected}
    assert seen.alerts[expected] >= 2  # episodes repeat
    assert seen.first[expected] < 30.0
    assert State.CONFUSED not in seen.states
    assert seen.states[State.FOCUSED] > seen.states[State.ALERT]  # and the student comes back


@pytest.mark.parametrize("seed", SEEDS)
def test_confused_profile_gets_confused_without_alerts(seed: int) -> None:
    seen = watch("confused", seed)
    assert not seen.alerts
    assert seen.first[State.CONFUSED] < 30.0
    assert seen.states[State.CONFUSED] >= 8
    assert seen.states[State.FOCUSED] > seen.states[State.CONFUSED]


@pytest.mark.parametrize("seed", SEEDS)
def test_mixed_cycles_through_episode_kinds(seed: int) -> None:
    seen = watch("mixed", seed, seconds=150.0)
    kinds = set(seen.alerts) | ({State.CONFUSED} & set(seen.states))
    assert len(kinds) >= 4


def test_profiles_work_at_other_frame_rates() -> None:
    assert AlertReason.NO_FACE in watch("leaver", 5, fps=2.0).alerts
    assert AlertReason.LOOKING_AWAY in watch("distracted", 5, fps=30.0).alerts
    assert State.CONFUSED in watch("confused", 5, fps=12.0).states
