"""The engagement engine: analysed frames in, interval readings and discrete changes out.

Pure and sans-I/O: time is the frame's ``t``, never the clock. Feed every frame to
`EngagementEngine.update` in time order; it returns the `Change`s the frame caused and,
once per interval, a `Reading`. The agent numbers them and sends them as protocol
`Sample`s and `Event`s::

    for item in engine.update(frame):
        seq += 1
        fields = msgspec.structs.asdict(item)
        message = Sample(seq=seq, **fields) if isinstance(item, Reading) else Event(seq=seq, **fields)

How a state is reached (all numbers from `EngagementSettings`):

* Every timer runs per frame in frame time, from the first frame on which its condition
  held; one frame where it does not hold restarts it. A glance shorter than a threshold
  therefore never alerts, and a sustained one always does, whatever the interval
  boundaries.
* Calibration lasts until ``calibration_seconds`` of frames with exactly one face were
  seen; the baseline is the per-cue median of those frames. Until then the scores use the
  population baseline (`POPULATION_BASELINE`), so every frame with a face has a confusion
  and an attention score (`frame`), while the state stays Calibrating. Afterwards the
  baseline follows slowly (``baseline_rate`` per frame) on frames that are Focused, with
  one face, not looking away, eyes open and low confusion.
* The camera, no face, multiple faces and eyes closed alerts need no baseline, so they
  run during calibration too. Looking away (and looking down) is judged against the
  student's baseline and the Confused state needs it, so both start once calibration is
  done; the confusion score starts afresh then.
* Looking down (eyes lowered, ``eye_look_down`` at least ``looking_down``, and open, closure
  at most ``looking_down_eye_closed``: a keyboard, notes) is neither eyes closed nor
  looking away. It raises a "looking away" alert of its own after ``timing.looking_down``
  (0: never), a time the ``policy`` sets (lecture 60 s, lab never, exam 4 s).
* An alert clears once its condition has been false for ``timing.alert_clear``. When
  several alerts are active the state names the first of `ALERT_PRIORITY`.
* FER's expression probabilities are noisy frame to frame: they are smoothed (an
  exponential moving average over frame time, time constant ``expression_smoothing``)
  before the negative-expression cue feeds the confusion score, so one odd frame barely
  moves it while a sustained expression does. A frame without expressions (no face, no
  model) restarts the average.
* Confusion uses hysteresis: Confused after the smoothed score stays at or above
  ``confused_enter`` for ``timing.confused_enter`` with a face in view, back to Focused
  after it stays below ``confused_leave`` for ``timing.confused_leave``. A no face or
  camera alert forgets the confusion state (the student is back with a fresh score).
* The seat check (`smartsession.core.identity`): a frame may carry the result of a check
  the vision process ran on it (``FrameSignals.seat``). ``mismatch_checks`` mismatches in a
  row raise the "different person" alert (`MismatchHold`), which holds, whatever else the
  camera sees, until a check matches again; "not enrolled" changes nothing. It is a hint for
  a person to look at, never an identification.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from smartsession.core.baseline import POPULATION_BASELINE
from smartsession.core.gaze import Gaze, gaze_direction
from smartsession.core.identity import DEFAULT_MISMATCH_CHECKS, MismatchHold, SeatCheck, SeatResult
from smartsession.core.interval import COMPONENTS, Interval, clip
from smartsession.core.protocol import MAX_REASONS, Cues, EventKind, SeatStatus
from smartsession.core.settings import EngagementSettings
from smartsession.core.signals import EXPRESSIONS, NEGATIVE_EXPRESSIONS, CameraStatus, FrameSignals
from smartsession.core.states import AlertReason, State
from smartsession.core.timers import ALERT_PRIORITY, EPS, WATCHES, AlertTimers, Hold, Watch

#: Cues the calibration baseline removes, in the order of `EngagementEngine.baseline`.
BASELINE_CUES: tuple[str, ...] = (
    "brow_down",
    "brow_inner_up",
    "eye_squint",
    "lip_press",
    "pitch",
    "yaw",
    "roll",
    "gaze_x",
    "gaze_y",
)
_BROW_DOWN, _BROW_INNER_UP, _EYE_SQUINT, _LIP_PRESS, _PITCH, _YAW, _ROLL, _GAZE_X, _GAZE_Y = range(9)

#: Time constant of the confusion score's smoothing, in seconds.
CONFUSION_SMOOTHING = 1.0
#: Longest gap between frames that still counts towards calibration, in seconds.
_CALIBRATION_MAX_STEP = 1.0
#: Reasons are cut to this length so they fit a tile.
REASON_CHARS = 39
_SEAT = AlertReason.DIFFERENT_PERSON


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """One interval of engagement: the fields of a protocol `Sample` without ``seq``.

    ``attention`` and ``confusion`` are interval means. ``cues`` holds the raw interval
    means of what the camera saw (angles in degrees, ``gaze_away`` the gaze offset from
    straight ahead) over the frames with a face, plus ``face_share``, the fraction of
    frames with a face. ``reasons`` come main one first. ``fps`` is the frames the engine
    took in the interval per second of it: the agent's effective analysis rate. ``seat`` is
    the seat checks of the interval (unset when none ran in it).
    """

    ts: float
    state: State
    attention: float
    confusion: float
    faces: int
    alert: AlertReason | None
    reasons: tuple[str, ...]
    cues: Cues
    fps: float
    seat: SeatStatus | msgspec.UnsetType = msgspec.UNSET


class FrameScore(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine made of the last frame: its scores and where the student looked.

    ``confusion`` is the smoothed confusion score and ``gaze`` the `gaze_direction` word
    (None without a face); ``attention`` is 0 without a face. Before calibration both scores
    are against the population baseline.
    """

    attention: float = 0.0
    confusion: float | None = None
    gaze: Gaze | None = None
    looking_down: bool = False


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """A discrete change: the fields of a protocol `Event` without ``seq``.

    ``kind`` is STATE when the state changed, ALERT when an alert started and
    ALERT_CLEARED when one ended (each alert reason starts and ends on its own).
    ``state`` is the state after the frame.
    """

    ts: float
    kind: EventKind
    state: State
    reason: AlertReason | None
    detail: str


class EngagementEngine:
    """Turns a student's frames into readings and changes; one engine per student.

    Create it with the settings (and the seat check's ``mismatch_checks``,
    ``identity.mismatch_checks``), then call `update` with every frame, in time order.
    """

    def __init__(
        self, settings: EngagementSettings, *, mismatch_checks: int = DEFAULT_MISMATCH_CHECKS
    ) -> None:
        self._settings = settings
        self._seat = MismatchHold(mismatch_checks)
        #: The interval's seat checks: the latest one, how many, how many mismatched.
        self._seat_latest: SeatCheck | None = None
        self._seat_checks = 0
        self._seat_mismatches = 0
        raw: tuple[float, ...] = tuple(getattr(settings.weights, name) for name in COMPONENTS)
        total = sum(raw)
        self._weights = tuple(w / total for w in raw) if total > 0 else tuple(0.0 for _ in raw)
        thresholds = {
            Watch.CAMERA_UNAVAILABLE: settings.timing.camera_unavailable,
            Watch.NO_FACE: settings.timing.no_face,
            Watch.MULTIPLE_FACES: settings.timing.multiple_faces,
            Watch.EYES_CLOSED: settings.timing.eyes_closed,
            Watch.LOOKING_AWAY: settings.timing.looking_away,
            Watch.LOOKING_DOWN: settings.timing.looking_down,
        }
        self._alerts = AlertTimers(thresholds, settings.timing.alert_clear)
        self._state = State.CALIBRATING
        self._last_t: float | None = None
        # Calibration.
        self._calibrated = False
        self._calibration_time = 0.0
        self._calibration_frames: list[tuple[float, ...]] = []
        self._previous_single_face = False
        self._baseline: list[float] = [POPULATION_BASELINE[name] for name in BASELINE_CUES]
        # Confusion.
        self._score: float | None = None
        self._expressions: tuple[float, ...] = ()
        self._expressions_t = 0.0
        self._confused = False
        self._enter = Hold()
        self._leave = Hold()
        self._interval: Interval | None = None
        self._frame = FrameScore()
        self._conditions: frozenset[Watch] = frozenset()

    @property
    def state(self) -> State:
        """The state after the last frame."""
        return self._state

    def _active(self, reason: AlertReason) -> bool:
        if reason is AlertReason.DIFFERENT_PERSON:
            return self._seat.alerting
        return self._alerts.active(reason)

    @property
    def calibrated(self) -> bool:
        """True once the baseline is known."""
        return self._calibrated

    @property
    def baseline(self) -> dict[str, float]:
        """The current baseline of each cue in `BASELINE_CUES` (the population's until calibrated)."""
        return dict(zip(BASELINE_CUES, self._baseline, strict=True))

    @property
    def frame(self) -> FrameScore:
        """The scores of the last frame."""
        return self._frame

    @property
    def conditions(self) -> frozenset[Watch]:
        """The timed conditions that held on the last frame."""
        return self._conditions

    def deadline(self) -> float | None:
        """The earliest frame time at which a running timer changes something if what it
        times keeps holding: an alert fires or clears, Confused is entered or left, or the
        calibration ends. None while no timer runs (nothing would change by itself).

        A frame analysed at that time (or after it) makes the change; `smartsession.core.pacing`
        asks for one then.
        """
        timing = self._settings.timing
        times = [self._alerts.deadline()]
        if self._enter.since is not None:
            times.append(self._enter.since + timing.confused_enter)
        if self._leave.since is not None:
            times.append(self._leave.since + timing.confused_leave)
        if not self._calibrated and self._previous_single_face and self._last_t is not None:
            times.append(self._last_t + self._settings.calibration_seconds - self._calibration_time)
        return min((t for t in times if t is not None), default=None)

    @property
    def interval_end(self) -> float | None:
        """The frame time from which the next frame ends the interval (and makes a `Reading`)."""
        if self._interval is None:
            return None
        return self._interval.start + self._settings.interval

    def update(self, frame: FrameSignals) -> list[Reading | Change]:
        """Take one frame; return the changes it caused, then a `Reading` if an interval ended.

        ``frame.t`` must not decrease (a slightly earlier time is treated as the last one).
        """
        settings = self._settings
        t = frame.t if self._last_t is None else max(frame.t, self._last_t)
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        if self._interval is None:
            self._interval = Interval(t)
        camera_ok = frame.camera is CameraStatus.OK
        faces = min(max(frame.faces, 0), 64) if camera_ok else 0
        has_face = faces >= 1

        values = (
            clip(frame.brow_down),
            clip(frame.brow_inner_up),
            clip(frame.eye_squint),
            clip(frame.lip_press),
            clip(frame.pitch, -180.0, 180.0),
            clip(frame.yaw, -180.0, 180.0),
            clip(frame.roll, -180.0, 180.0),
            clip(frame.gaze_x, -1.0, 1.0),
            clip(frame.gaze_y, -1.0, 1.0),
        )
        if not self._calibrated:
            self._calibrate(values, faces == 1, dt)
        negative = self._smoothed_negative(frame, t) if has_face else self._smoothed_negative(None, t)

        # Per-frame conditions.
        base = self._baseline
        looking_away = eyes_closed = looking_down = False
        attention = 0.0
        raw_score = 0.0
        components: tuple[float, ...] = ()
        deltas: tuple[float, ...] = ()
        gaze: Gaze | None = None
        if has_face:
            eye_closed = clip(frame.eye_closed)
            looking_down = (
                clip(frame.eye_look_down) >= settings.looking_down
                and eye_closed <= settings.looking_down_eye_closed
            )
            eyes_closed = eye_closed > settings.eyes_closed and not looking_down
            across = abs(values[_YAW] - base[_YAW]) / settings.yaw_away_deg
            along = (values[_PITCH] - base[_PITCH]) / settings.pitch_away_deg
            gaze_x, gaze_y = values[_GAZE_X] - base[_GAZE_X], values[_GAZE_Y] - base[_GAZE_Y]
            scale = max(settings.gaze_away, EPS)
            off_screen = max(across, abs(along), math.hypot(gaze_x, gaze_y) / scale)
            # Looking down is not looking away: only the other directions count then.
            away = (
                max(across, -along, math.hypot(gaze_x, min(gaze_y, 0.0)) / scale)
                if looking_down
                else off_screen
            )
            looking_away = self._calibrated and away > 1.0
            openness = clip((1.0 - eye_closed) / max(1.0 - settings.eyes_closed, EPS))
            attention = clip(1.0 - 0.5 * off_screen * off_screen) * openness
            components, deltas = self._components(frame, values, negative)
            raw_score = clip(sum(w * c for w, c in zip(self._weights, components, strict=True)))
            if self._score is None:
                self._score = raw_score
            else:
                alpha = 1.0 - math.exp(-dt / CONFUSION_SMOOTHING)
                self._score += alpha * (raw_score - self._score)
            gaze = gaze_direction(
                values[_YAW],
                values[_PITCH],
                clip(math.hypot(values[_GAZE_X], values[_GAZE_Y])),
                baseline_yaw=base[_YAW],
                baseline_pitch=base[_PITCH],
                yaw_away_deg=settings.yaw_away_deg,
                pitch_away_deg=settings.pitch_away_deg,
                gaze_away_limit=settings.gaze_away,
            )
        self._frame = FrameScore(
            attention=attention,
            confusion=self._score if has_face else None,
            gaze=gaze,
            looking_down=looking_down,
        )

        conditions = {
            Watch.CAMERA_UNAVAILABLE: not camera_ok,
            Watch.NO_FACE: camera_ok and faces == 0,
            Watch.MULTIPLE_FACES: faces > 1,
            Watch.EYES_CLOSED: eyes_closed,
            Watch.LOOKING_AWAY: looking_away,
            Watch.LOOKING_DOWN: self._calibrated and looking_down,
        }
        self._conditions = frozenset(watch for watch, held in conditions.items() if held)
        active_before = {reason: self._alerts.active(reason) for reason in ALERT_PRIORITY}
        fired, stopped = self._alerts.update(conditions, t)
        seat_before = self._seat.alerting
        if frame.seat is not None:
            self._seat.update(frame.seat)
            self._seat_latest = frame.seat
            self._seat_checks += 1
            self._seat_mismatches += frame.seat.result is SeatResult.MISMATCH
        # A reason starts with its first watch and clears with its last.
        started = [w for w in fired if not active_before[w.reason]]
        cleared = [w for w in stopped if not self._alerts.active(w.reason)]
        if Watch.NO_FACE in started or Watch.CAMERA_UNAVAILABLE in started:
            self._forget_confusion()
        self._update_confusion(has_face, t)

        if (
            self._calibrated
            and self._state is State.FOCUSED
            and faces == 1
            and not looking_away
            and not looking_down
            and not eyes_closed
            and raw_score < settings.confused_leave
        ):
            rate = settings.baseline_rate
            self._baseline = [b + rate * (v - b) for b, v in zip(base, values, strict=True)]

        primary = next((reason for reason in ALERT_PRIORITY if self._active(reason)), None)
        if primary is not None:
            state = State.ALERT
        elif not self._calibrated:
            state = State.CALIBRATING
        elif self._confused:
            state = State.CONFUSED
        else:
            state = State.FOCUSED

        out: list[Reading | Change] = []
        for watch in cleared:
            lasted = t - self._alerts[watch].started
            detail = f"{watch.label} cleared after {lasted:.0f} s"
            out.append(
                Change(ts=t, kind=EventKind.ALERT_CLEARED, state=state, reason=watch.reason, detail=detail)
            )
        if seat_before and not self._seat.alerting:
            detail = self._seat.cleared_reason()
            out.append(Change(ts=t, kind=EventKind.ALERT_CLEARED, state=state, reason=_SEAT, detail=detail))
        for watch in started:
            held = t - (self._alerts[watch].on.since or t)
            what = f"{faces} faces" if watch is Watch.MULTIPLE_FACES else watch.label
            detail = f"{what} for {held:.0f} s"
            out.append(Change(ts=t, kind=EventKind.ALERT, state=state, reason=watch.reason, detail=detail))
        if self._seat.alerting and not seat_before:
            out.append(
                Change(ts=t, kind=EventKind.ALERT, state=state, reason=_SEAT, detail=self._seat.reason())
            )
        if state is not self._state:
            detail = f"{self._state} -> {state}"
            if primary is not None:
                detail += f": {primary.label}"
            out.append(Change(ts=t, kind=EventKind.STATE, state=state, reason=primary, detail=detail))
            self._state = state

        self._accumulate(frame, values, faces, attention, components, deltas)
        interval = self._interval
        if t - interval.start >= settings.interval - EPS:
            out.append(self._reading(t, state, primary))
            start = interval.start + settings.interval
            self._interval = Interval(start if t - start < settings.interval else t)
        return out

    # Calibration and scores ---------------------------------------------------------------

    def _calibrate(self, values: tuple[float, ...], single_face: bool, dt: float) -> None:
        if single_face:
            self._calibration_frames.append(values)
            if self._previous_single_face:
                self._calibration_time += min(dt, _CALIBRATION_MAX_STEP)
            if self._calibration_time >= self._settings.calibration_seconds - EPS:
                # The median shrugs off glances and blinks during calibration.
                self._baseline = [float(v) for v in np.median(np.array(self._calibration_frames), axis=0)]
                self._calibrated = True
                self._calibration_frames = []
                self._score = None  # scored afresh against the student's own baseline
        self._previous_single_face = single_face

    def _smoothed_negative(self, frame: FrameSignals | None, t: float) -> float:
        """The negative-expression cue from FER probabilities smoothed over frame time."""
        raw = frame.expressions if frame is not None else ()
        if len(raw) != len(EXPRESSIONS):
            self._expressions = ()
            return 0.0
        probs = tuple(clip(p) for p in raw)
        tau = self._settings.expression_smoothing
        if not self._expressions or tau <= 0.0:
            self._expressions = probs
        else:
            alpha = 1.0 - math.exp(-max(t - self._expressions_t, 0.0) / tau)
            self._expressions = tuple(
                s + alpha * (p - s) for s, p in zip(self._expressions, probs, strict=True)
            )
        self._expressions_t = t
        return clip(sum(self._expressions[EXPRESSIONS.index(name)] for name in NEGATIVE_EXPRESSIONS))

    def _components(
        self, frame: FrameSignals, values: tuple[float, ...], negative: float
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Normalised confusion components in [0, 1] and the raw deltas behind them."""
        scales = self._settings.scales
        base = self._baseline
        brow_down = max(0.0, values[_BROW_DOWN] - base[_BROW_DOWN])
        brow_inner_up = max(0.0, values[_BROW_INNER_UP] - base[_BROW_INNER_UP])
        tilt = min(abs(values[_ROLL] - base[_ROLL]), 180.0)
        no_smile = 1.0 - clip(frame.smile)
        lip_press = max(0.0, values[_LIP_PRESS] - base[_LIP_PRESS])
        eye_squint = max(0.0, values[_EYE_SQUINT] - base[_EYE_SQUINT])
        deltas = (brow_down, brow_inner_up, tilt, no_smile, lip_press, eye_squint, negative)
        components = (
            clip(brow_down / scales.brow_down),
            clip(brow_inner_up / scales.brow_inner_up),
            clip(tilt / scales.head_tilt_deg),
            no_smile,
            clip(lip_press / scales.lip_press),
            clip(eye_squint / scales.eye_squint),
            clip(negative / scales.negative_expression),
        )
        return components, deltas

    def _update_confusion(self, has_face: bool, t: float) -> None:
        settings = self._settings
        if not (self._calibrated and has_face and self._score is not None):
            self._enter.reset()
            self._leave.reset()
            return
        if not self._confused:
            held = self._enter.update(self._score >= settings.confused_enter, t)
            if held is not None and held >= settings.timing.confused_enter - EPS:
                self._confused = True
                self._enter.reset()
        else:
            held = self._leave.update(self._score < settings.confused_leave, t)
            if held is not None and held >= settings.timing.confused_leave - EPS:
                self._confused = False
                self._leave.reset()

    def _forget_confusion(self) -> None:
        self._confused = False
        self._score = None
        self._enter.reset()
        self._leave.reset()

    # Readings ------------------------------------------------------------------------------

    def _accumulate(
        self,
        frame: FrameSignals,
        values: tuple[float, ...],
        faces: int,
        attention: float,
        components: tuple[float, ...],
        deltas: tuple[float, ...],
    ) -> None:
        interval = self._interval
        assert interval is not None
        raw: tuple[float, ...] = ()
        if faces:
            raw = (
                values[_YAW],
                values[_PITCH],
                values[_ROLL],
                clip(math.hypot(values[_GAZE_X], values[_GAZE_Y])),
                values[_BROW_DOWN],
                values[_BROW_INNER_UP],
                values[_EYE_SQUINT],
                values[_LIP_PRESS],
                clip(frame.smile),
                clip(frame.eye_closed),
                clip(frame.jaw_open),
                clip(frame.negative_expression),
            )
        confusion = self._score if self._score is not None else 0.0
        interval.add(faces, attention, confusion, raw, components, deltas)

    def _reading(self, t: float, state: State, primary: AlertReason | None) -> Reading:
        interval = self._interval
        assert interval is not None
        n = max(interval.frames, 1)
        confusion = clip(interval.confusion / n)
        seat: SeatStatus | msgspec.UnsetType = msgspec.UNSET
        if self._seat_latest is not None:
            seat = SeatStatus(
                result=self._seat_latest.result,
                distance=self._seat_latest.distance,
                checks=self._seat_checks,
                mismatches=self._seat_mismatches,
            )
            self._seat_latest, self._seat_checks, self._seat_mismatches = None, 0, 0
        return Reading(
            ts=t,
            state=state,
            attention=clip(interval.attention / n),
            confusion=confusion,
            faces=interval.median_faces(),
            alert=primary,
            reasons=self._reasons(t, state, confusion, interval),
            cues=interval.cues(),
            fps=interval.frames / self._settings.interval,
            seat=seat,
        )

    def _reasons(self, t: float, state: State, confusion: float, interval: Interval) -> tuple[str, ...]:
        most_faces = max(interval.faces)
        reasons: list[str] = []
        for reason in ALERT_PRIORITY:
            if reason is _SEAT and self._seat.alerting:
                reasons.append(self._seat.short_reason())
            for watch in WATCHES:
                if watch.reason is reason and self._alerts[watch].active:
                    reasons.append(self._alert_text(watch, t, most_faces))
        if state is State.CALIBRATING:
            reasons.append(
                f"calibrating {self._calibration_time:.0f}/{self._settings.calibration_seconds:g} s"
            )
        cue_reasons = interval.cue_reasons(self._weights)
        if state is State.CONFUSED:
            reasons.extend(cue_reasons)
            reasons.append(f"confusion {confusion:.2f}")
        elif state is State.FOCUSED:
            reasons.append("focused")
        # Conditions on their way to an alert, so a tile can show a glance in progress.
        for watch in WATCHES:
            alert = self._alerts[watch]
            if not alert.active and alert.on.since is not None and t - alert.on.since >= 0.5:
                reasons.append(self._alert_text(watch, t, most_faces))
        if state is not State.CONFUSED and confusion >= self._settings.confused_leave:
            reasons.extend(cue_reasons)
        return tuple(reason[:REASON_CHARS] for reason in reasons[:MAX_REASONS])

    def _alert_text(self, watch: Watch, t: float, most_faces: int) -> str:
        if watch is Watch.CAMERA_UNAVAILABLE:
            return watch.label
        if watch is Watch.MULTIPLE_FACES:
            return f"{max(most_faces, 2)} faces"
        since = self._alerts[watch].on.since
        if since is None:
            return watch.label
        return f"{watch.label} {t - since:.0f} s"
