"""The engagement engine: calibration, timing rules, hysteresis, alerts and wire-safe output."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsession.core.baseline import POPULATION_BASELINE
from smartsession.core.engagement import Change, EngagementEngine, FrameScore, Reading
from smartsession.core.gaze import Gaze
from smartsession.core.protocol import Event, EventKind, Sample, decode_agent_message, encode
from smartsession.core.settings import ConfusionScales, ConfusionWeights, EngagementSettings, Policy
from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.core.states import AlertReason, State

T0 = 1_700_000_000.0
DEFAULTS = EngagementSettings()
#: Only the brow counts, one to one: the confusion score equals the brow's rise over baseline.
BROW_ONLY = EngagementSettings(
    weights=ConfusionWeights(
        brow_down=1.0,
        brow_inner_up=0.0,
        head_tilt=0.0,
        no_smile=0.0,
        lip_press=0.0,
        eye_squint=0.0,
        negative_expression=0.0,
    ),
    scales=ConfusionScales(brow_down=1.0),
)


def face(t: float, **cues: object) -> FrameSignals:
    """A calm, centred face with ``cues`` changed."""
    values: dict[str, object] = {"pitch": 8.0, "smile": 0.3, "brow_down": 0.1, **cues}
    return FrameSignals(t=t, **values)  # type: ignore[arg-type]


class Run:
    """An engine fed frames at a steady or jittered cadence, remembering everything it said."""

    def __init__(self, engine_settings: EngagementSettings = DEFAULTS, steps: Iterable[float] = (0.2,)):
        self.engine = EngagementEngine(engine_settings)
        self.steps: Iterator[float] = itertools.cycle(tuple(steps))
        self.t = T0
        self.items: list[Reading | Change] = []
        self.started = False

    def feed(self, seconds: float, **cues: object) -> list[Reading | Change]:
        """Frames with ``cues`` for ``seconds`` (the first frame at the current time)."""
        out: list[Reading | Change] = []
        end = self.t + seconds
        while self.t < end - 1e-9:
            out.extend(self.step(**cues))
        return out

    def step(self, **cues: object) -> list[Reading | Change]:
        if self.started:
            self.t += next(self.steps)
        self.started = True
        items = self.engine.update(face(self.t, **cues))
        self.items.extend(items)
        return items

    def calibrate(self) -> None:
        self.feed(DEFAULTS.calibration_seconds + 1.5)
        assert self.engine.state is State.FOCUSED


def readings(items: Iterable[Reading | Change]) -> list[Reading]:
    return [item for item in items if isinstance(item, Reading)]


def changes(items: Iterable[Reading | Change], kind: EventKind | None = None) -> list[Change]:
    return [item for item in items if isinstance(item, Change) and kind in (None, item.kind)]


def alerts(items: Iterable[Reading | Change]) -> list[AlertReason | None]:
    return [change.reason for change in changes(items, EventKind.ALERT)]


# Calibration and readings -------------------------------------------------------------------


def test_calibrating_then_focused_with_a_neutral_face() -> None:
    run = Run()
    run.feed(2.5)
    first = readings(run.items)
    assert first and all(r.state is State.CALIBRATING for r in first)
    assert first[0].reasons[0].startswith("calibrating ") and first[0].reasons[0].endswith("/3 s")
    run.feed(3.0)
    last = readings(run.items)[-1]
    assert last.state is State.FOCUSED
    assert last.reasons[0] == "focused"
    assert last.alert is None
    assert last.attention > 0.9
    assert last.confusion < DEFAULTS.confused_leave
    assert last.cues.face_share == 1.0
    assert last.faces == 1
    (change,) = changes(run.items, EventKind.STATE)
    assert change.state is State.FOCUSED
    assert change.detail == "calibrating -> focused"
    assert run.engine.baseline["pitch"] == pytest.approx(8.0)


def test_calibration_needs_one_face() -> None:
    run = Run()
    run.feed(4.0, faces=2)
    assert run.engine.state is State.ALERT  # multiple faces alerts during calibration
    assert not run.engine.calibrated
    run.feed(5.0)
    assert run.engine.calibrated
    assert run.engine.state is State.FOCUSED


@pytest.mark.parametrize("step", [1 / 30, 0.2, 0.5])
def test_one_reading_per_interval_at_any_frame_rate(step: float) -> None:
    run = Run(steps=(step,))
    run.feed(20.0)
    stamps = [r.ts - T0 for r in readings(run.items)]
    assert len(stamps) in (19, 20)
    assert all(0.95 <= b - a <= 1.0 + step + 1e-6 for a, b in itertools.pairwise(stamps))


def test_changes_come_before_the_reading_of_the_same_frame() -> None:
    run = Run()
    for _ in range(100):
        items = run.step()
        kinds = [isinstance(item, Reading) for item in items]
        assert kinds == sorted(kinds)
        assert kinds.count(True) <= 1


# Looking away: timing is per frame and independent of interval boundaries ------------------

steps_strategy = st.lists(st.floats(0.02, 0.4), min_size=1, max_size=6)
direction = st.sampled_from([{"yaw": 50.0}, {"yaw": -45.0}, {"pitch": 45.0}, {"gaze_x": 0.8, "gaze_y": 0.3}])


@settings(max_examples=60, deadline=None)
@given(
    steps=steps_strategy,
    share=st.floats(0.0, 0.999),
    offset=st.floats(0.0, 1.0),
    away=direction,
)
def test_a_glance_shorter_than_the_threshold_never_alerts(
    steps: list[float], share: float, offset: float, away: dict[str, float]
) -> None:
    run = Run(steps=steps)
    run.calibrate()
    run.feed(offset)
    limit = DEFAULTS.timing.looking_away
    run.step(**away)
    start = run.t
    # Stop while even the longest next step would keep the glance under the threshold.
    while run.t + max(steps) - start < limit and run.t - start < share * limit:
        run.step(**away)
    run.feed(8.0)
    assert alerts(run.items) == []
    assert all(r.state is State.FOCUSED for r in readings(run.items)[-6:])


@settings(max_examples=60, deadline=None)
@given(steps=steps_strategy, extra=st.floats(0.0, 5.0), offset=st.floats(0.0, 1.0), away=direction)
def test_a_sustained_look_away_always_alerts_within_threshold_plus_a_frame(
    steps: list[float], extra: float, offset: float, away: dict[str, float]
) -> None:
    run = Run(steps=steps)
    run.calibrate()
    run.feed(offset)
    run.step(**away)
    start = run.t
    limit = DEFAULTS.timing.looking_away
    run.feed(limit + max(steps) + extra + 1.5, **away)
    (alert,) = changes(run.items, EventKind.ALERT)
    assert alert.reason is AlertReason.LOOKING_AWAY
    assert limit - 1e-6 <= alert.ts - start <= limit + max(steps) + 1e-6
    assert alert.detail.startswith("looking away for ")
    late = [r for r in readings(run.items) if r.ts >= alert.ts]
    assert late, "a reading follows the alert"
    assert all(r.state is State.ALERT and r.alert is AlertReason.LOOKING_AWAY for r in late)
    assert all(r.reasons[0].startswith("looking away") for r in late)
    assert all(r.attention < 0.5 for r in late)


def test_a_glance_in_progress_is_a_secondary_reason() -> None:
    run = Run()
    run.calibrate()
    items = run.feed(2.5, yaw=50.0)
    last = readings(items)[-1]
    assert last.state is State.FOCUSED
    assert last.reasons[0] == "focused"
    assert last.reasons[1] in ("looking away 1 s", "looking away 2 s")


# Confusion and hysteresis -----------------------------------------------------------------

band = st.floats(BROW_ONLY.confused_leave + 0.005, BROW_ONLY.confused_enter - 0.005)


@settings(max_examples=60, deadline=None)
@given(noise=st.lists(band, min_size=10, max_size=120), confused_first=st.booleans())
def test_confusion_noise_between_the_thresholds_never_flips_the_state(
    noise: list[float], confused_first: bool
) -> None:
    run = Run(BROW_ONLY)
    run.feed(4.0, brow_down=0.0)
    expected = State.FOCUSED
    if confused_first:
        run.feed(6.0, brow_down=0.9)
        expected = State.CONFUSED
    assert run.engine.state is expected
    before = len(changes(run.items))
    for value in noise:
        run.step(brow_down=value)
        assert run.engine.state is expected
    assert len(changes(run.items)) == before


def test_confused_enters_and_leaves_after_the_minimum_durations() -> None:
    run = Run(BROW_ONLY)
    run.feed(4.0, brow_down=0.0)
    run.feed(2.0, brow_down=0.9)
    assert run.engine.state is State.FOCUSED  # not yet 3 s above confused_enter
    run.feed(3.0, brow_down=0.9)
    assert run.engine.state is State.CONFUSED
    (change,) = changes(run.items, EventKind.STATE)[-1:]
    assert change.state is State.CONFUSED and change.reason is None
    reading = readings(run.feed(1.0, brow_down=0.9))[-1]
    assert reading.state is State.CONFUSED
    assert reading.reasons[0] == "brow lowered 0.90"
    assert reading.confusion > 0.8
    run.feed(1.5, brow_down=0.0)
    assert run.engine.state is State.CONFUSED  # smoothing plus 2 s below confused_leave
    run.feed(3.0, brow_down=0.0)
    assert run.engine.state is State.FOCUSED


def test_default_weights_score_a_confused_face() -> None:
    run = Run()
    run.calibrate()
    confused = {
        "brow_down": 0.45,
        "lip_press": 0.3,
        "eye_squint": 0.25,
        "roll": 12.0,
        "smile": 0.0,
        "expressions": (0.2, 0.05, 0.1, 0.0, 0.35, 0.05, 0.25),
    }
    items = run.feed(6.0, **confused)
    assert run.engine.state is State.CONFUSED
    reading = readings(items)[-1]
    assert reading.reasons[0].startswith("brow lowered 0.3")
    assert "head tilt 12°" in reading.reasons
    assert "no smile" in reading.reasons
    assert 0.58 <= reading.confusion <= 1.0


def test_one_noisy_frame_does_not_decide() -> None:
    run = Run(BROW_ONLY)
    run.feed(4.0, brow_down=0.0)
    for _ in range(10):
        run.step(brow_down=1.0)
        run.feed(1.0, brow_down=0.0)
    assert changes(run.items, EventKind.STATE)[-1].state is State.FOCUSED
    assert all(r.confusion < 0.5 for r in readings(run.items))


# Alerts ----------------------------------------------------------------------------------


def test_no_face_for_five_seconds_alerts_then_clears() -> None:
    run = Run()
    run.calibrate()
    run.feed(4.8, faces=0)
    assert alerts(run.items) == []
    run.feed(2.0, faces=0)
    (alert,) = changes(run.items, EventKind.ALERT)
    assert alert.reason is AlertReason.NO_FACE and alert.state is State.ALERT
    assert alert.detail == "no face for 5 s"
    reading = readings(run.items)[-1]
    assert reading.alert is AlertReason.NO_FACE
    assert reading.reasons[0].startswith("no face ") and reading.reasons[0].endswith(" s")
    assert reading.attention == 0.0
    assert reading.faces == 0 and reading.cues.face_share == 0.0
    run.feed(0.8)
    assert run.engine.state is State.ALERT  # alert_clear is 1 s
    run.feed(1.0)
    assert run.engine.state is State.FOCUSED
    (cleared,) = changes(run.items, EventKind.ALERT_CLEARED)
    assert cleared.reason is AlertReason.NO_FACE and cleared.state is State.FOCUSED
    states = [c.state for c in changes(run.items, EventKind.STATE)]
    assert states == [State.FOCUSED, State.ALERT, State.FOCUSED]


def test_multiple_faces() -> None:
    run = Run()
    run.calibrate()
    run.feed(1.8, faces=2)
    assert run.engine.state is State.FOCUSED
    run.feed(1.5, faces=2)
    assert alerts(run.items) == [AlertReason.MULTIPLE_FACES]
    reading = readings(run.items)[-1]
    assert reading.reasons[0] == "2 faces" and reading.faces == 2


def test_camera_unavailable_alerts_even_while_calibrating() -> None:
    engine = EngagementEngine(DEFAULTS)
    items = []
    for i in range(10):
        items += engine.update(FrameSignals(t=T0 + i * 0.2, camera=CameraStatus.UNAVAILABLE, faces=0))
    assert alerts(items) == [AlertReason.CAMERA_UNAVAILABLE]  # not also no face
    assert engine.state is State.ALERT
    reading = readings(items)[-1]
    assert reading.reasons[0] == "camera unavailable"
    assert reading.alert is AlertReason.CAMERA_UNAVAILABLE


def test_eyes_closed_alerts_but_blinks_do_not() -> None:
    run = Run()
    run.calibrate()
    for _ in range(20):
        run.step(eye_closed=0.9)
        run.feed(1.0)
    assert alerts(run.items) == []
    run.feed(3.5, eye_closed=0.9)
    assert alerts(run.items) == [AlertReason.EYES_CLOSED]
    assert readings(run.items)[-1].reasons[0].startswith("eyes closed ")


def test_priority_when_several_alerts_hold() -> None:
    run = Run()
    run.calibrate()
    run.feed(6.0, eye_closed=0.9, yaw=60.0, faces=2)
    assert set(alerts(run.items)) == {
        AlertReason.EYES_CLOSED,
        AlertReason.LOOKING_AWAY,
        AlertReason.MULTIPLE_FACES,
    }
    reading = readings(run.items)[-1]
    assert reading.alert is AlertReason.MULTIPLE_FACES
    assert reading.reasons[0] == "2 faces"
    assert reading.reasons[1].startswith("eyes closed ")
    assert reading.reasons[2].startswith("looking away ")
    run.feed(3.0, eye_closed=0.9, yaw=60.0)
    assert readings(run.items)[-1].alert is AlertReason.EYES_CLOSED
    assert changes(run.items, EventKind.ALERT_CLEARED)[-1].reason is AlertReason.MULTIPLE_FACES


# Wire safety -----------------------------------------------------------------------------

wild = st.floats(allow_nan=True, allow_infinity=True)
frames = st.tuples(
    st.floats(0.0, 2.0),
    st.sampled_from(list(CameraStatus)),
    st.integers(-1, 100),
    st.lists(wild, min_size=13, max_size=13),
    st.one_of(st.just(()), st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7).map(tuple)),
)
_FIELDS = (
    "yaw",
    "pitch",
    "roll",
    "gaze_x",
    "gaze_y",
    "brow_down",
    "brow_inner_up",
    "eye_squint",
    "lip_press",
    "smile",
    "eye_closed",
    "jaw_open",
)


@settings(max_examples=60, deadline=None)
@given(script=st.lists(frames, min_size=1, max_size=80))
def test_every_output_survives_the_protocol(
    script: list[tuple[float, CameraStatus, int, list[float], tuple[float, ...]]],
) -> None:
    engine = EngagementEngine(EngagementSettings(calibration_seconds=0.5, interval=0.5))
    t = T0
    for seq, (dt, camera, faces, values, expressions) in enumerate(script, start=1):
        t += dt
        cues = dict(zip(_FIELDS, values, strict=False))
        frame = FrameSignals(t=t, camera=camera, faces=faces, expressions=expressions, **cues)
        for item in engine.update(frame):
            fields = msgspec.structs.asdict(item)
            message = Sample(seq=seq, **fields) if isinstance(item, Reading) else Event(seq=seq, **fields)
            assert decode_agent_message(encode(message)) == message
            if isinstance(item, Reading):
                assert item.reasons and all(len(reason) < 40 for reason in item.reasons)
                assert all(math.isfinite(x) for x in (item.attention, item.confusion))


# Expression smoothing --------------------------------------------------------------------

#: Only FER's negative expressions count, one to one.
NEGATIVE_ONLY = EngagementSettings(
    weights=ConfusionWeights(
        brow_down=0.0,
        brow_inner_up=0.0,
        head_tilt=0.0,
        no_smile=0.0,
        lip_press=0.0,
        eye_squint=0.0,
        negative_expression=1.0,
    ),
    scales=ConfusionScales(negative_expression=1.0),
)
NEUTRAL = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
ANGRY = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def spike_then_sustained(engine_settings: EngagementSettings) -> tuple[float, Run]:
    """Highest reading confusion after a one-frame angry spike, and the run afterwards."""
    run = Run(engine_settings)
    run.feed(5.0, expressions=NEUTRAL)
    assert run.engine.state is State.FOCUSED
    before = len(run.items)
    run.step(expressions=ANGRY)
    run.feed(4.0, expressions=NEUTRAL)
    return max(r.confusion for r in readings(run.items[before:])), run


def test_a_one_frame_expression_spike_barely_moves_confusion_a_sustained_one_does() -> None:
    smoothed, run = spike_then_sustained(NEGATIVE_ONLY)
    raw, _ = spike_then_sustained(msgspec.structs.replace(NEGATIVE_ONLY, expression_smoothing=0.0))
    assert smoothed < 0.06 and raw > 2 * smoothed  # one frame of "angry": at most 0.06 of 1.0
    assert run.engine.state is State.FOCUSED
    items = run.feed(8.0, expressions=ANGRY)
    assert run.engine.state is State.CONFUSED
    assert readings(items)[-1].confusion > 0.9
    assert "negative expression" in " ".join(readings(items)[-1].reasons)


# Scores before calibration (the population baseline) ----------------------------------------


def test_every_face_frame_has_scores_before_calibration() -> None:
    engine = EngagementEngine(DEFAULTS)
    assert engine.baseline == POPULATION_BASELINE
    engine.update(face(T0))
    assert engine.state is State.CALIBRATING and not engine.calibrated
    score = engine.frame
    assert score.confusion is not None and 0.0 <= score.confusion <= 1.0
    assert 0.9 < score.attention <= 1.0
    assert score.gaze is Gaze.CENTER and not score.looking_down
    engine.update(FrameSignals(t=T0 + 0.2, faces=0))
    assert engine.frame == FrameScore()  # no face: attention 0, no confusion, no gaze


def test_calibration_replaces_the_population_baseline() -> None:
    run = Run()
    run.feed(1.0, brow_down=0.3)
    before = run.engine.frame.confusion
    assert before is not None and before > 0.2  # brow 0.3 against the population's 0.07
    run.feed(4.0, brow_down=0.3)
    assert run.engine.calibrated and run.engine.baseline["brow_down"] == pytest.approx(0.3)
    after = run.engine.frame.confusion
    assert after is not None and after < before  # this student's resting brow
    assert run.engine.frame.gaze is Gaze.CENTER


# Looking down is not sleeping -----------------------------------------------------------------

#: Head pitched down past the looking-away limit, eyes lowered (eyeLookDown) and half-lidded.
LOOKING_DOWN = {"pitch": 38.0, "gaze_y": 0.6, "eye_look_down": 0.7, "eye_closed": 0.7}


@pytest.mark.parametrize(
    ("policy", "alert_after"), [(Policy.LECTURE, 60.0), (Policy.LAB, None), (Policy.EXAM, 4.0)]
)
def test_looking_down_alerts_only_as_the_policy_says(policy: Policy, alert_after: float | None) -> None:
    run = Run(EngagementSettings.for_policy(policy))
    run.calibrate()
    start = run.t + 0.2
    run.feed(70.0, **LOOKING_DOWN)
    assert run.engine.frame.looking_down and run.engine.frame.gaze is Gaze.DOWN
    raised = changes(run.items, EventKind.ALERT)
    assert AlertReason.EYES_CLOSED not in [c.reason for c in raised]
    last = readings(run.items)[-1]
    if alert_after is None:
        assert raised == []
        assert all(r.state is State.FOCUSED for r in readings(run.items) if r.ts >= start)
        assert last.reasons[0] == "focused" and last.reasons[1].startswith("looking down 6")
    else:
        (alert,) = raised
        assert alert.reason is AlertReason.LOOKING_AWAY
        assert alert.detail == f"looking down for {alert_after:.0f} s"
        assert alert_after - 1e-6 <= alert.ts - start <= alert_after + 0.2 + 1e-6
        assert last.alert is AlertReason.LOOKING_AWAY and last.reasons[0].startswith("looking down 6")
    run.feed(3.0)
    assert run.engine.state is State.FOCUSED and not run.engine.frame.looking_down


@pytest.mark.parametrize("policy", list(Policy))
def test_shut_eyes_are_closed_even_when_looking_down(policy: Policy) -> None:
    run = Run(EngagementSettings.for_policy(policy))
    run.calibrate()
    run.feed(4.0, pitch=30.0, eye_look_down=0.6, eye_closed=0.95)
    assert alerts(run.items) == [AlertReason.EYES_CLOSED]


def test_looking_down_and_sideways_is_looking_away() -> None:
    run = Run()
    run.calibrate()
    run.feed(5.0, yaw=50.0, **LOOKING_DOWN)
    (alert,) = changes(run.items, EventKind.ALERT)
    assert alert.reason is AlertReason.LOOKING_AWAY and alert.detail.startswith("looking away for 4")
