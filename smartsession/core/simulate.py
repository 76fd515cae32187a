"""Simulated students: believable, seeded `FrameSignals` for demos and tests.

A `SimulatedStudent` has a personal resting face (head pose, brows, smile) drawn from its
seed, slow head drift, per-frame noise and blinks, and a script of episodes drawn from the
seed too: glances, looking away, confusion, leaving the seat, a second person, the camera
failing, dozing off. The first episode of a profile starts 6-10 s after ``start`` (after a
clean calibration), later ones follow at seeded intervals, so a demo shows something
within 30 s and keeps doing so. Same profile, seed, start and times give the same frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smartsession.core.signals import EXPRESSIONS, CameraStatus, FrameSignals

#: The behaviours a simulated student can have.
PROFILES: tuple[str, ...] = (
    "attentive",
    "glancer",
    "distracted",
    "confused",
    "leaver",
    "crowd",
    "flaky_camera",
    "mixed",
)

#: Episode kinds that make a profile interesting, cycled in seeded order.
_MAIN_KINDS: dict[str, tuple[str, ...]] = {
    "attentive": (),
    "glancer": (),
    "distracted": ("away",),
    "confused": ("confused",),
    "leaver": ("leave",),
    "crowd": ("crowd",),
    "flaky_camera": ("camera",),
    "mixed": ("away", "confused", "leave", "crowd", "camera", "drowsy"),
}

#: How long each episode kind lasts, in seconds (uniform between the two).
_DURATIONS: dict[str, tuple[float, float]] = {
    "away": (6.0, 10.0),
    "confused": (6.0, 12.0),
    "leave": (8.0, 15.0),
    "crowd": (4.0, 8.0),
    "camera": (4.0, 8.0),
    "drowsy": (4.5, 7.0),
}

#: Background glances per profile: (gap before one, its length), each a uniform range in seconds.
_GLANCES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "attentive": ((6.0, 20.0), (0.5, 1.8)),
    "glancer": ((2.0, 6.0), (1.0, 2.5)),
}
_DEFAULT_GLANCES = ((8.0, 20.0), (0.5, 1.5))

#: Seconds from ``start`` without episodes, so calibration sees a resting face.
_QUIET_START = 4.0
#: When the first main episode starts, after ``start``.
_FIRST_MAIN = (6.0, 10.0)
#: Gap between the end of a main episode and the start of the next.
_MAIN_GAP = (8.0, 16.0)
#: How long a head turn takes at the start and end of a glance or a look away.
_TURN = 0.25
#: Probability that a frame catches a blink.
_BLINK = 0.04

# FER Dirichlet concentrations, in `EXPRESSIONS` order.
_CALM = np.array([0.3, 0.1, 0.2, 1.2, 0.5, 0.3, 7.0]) * 3.0
_UPSET = np.array([2.5, 1.0, 2.0, 0.2, 5.0, 1.0, 2.5]) * 3.0
assert len(_CALM) == len(EXPRESSIONS)


@dataclass(frozen=True)
class _Episode:
    kind: str
    start: float
    end: float
    ramp: float
    params: dict[str, float] = field(default_factory=dict)

    def level(self, t: float) -> float:
        """How strongly the episode shows at ``t``: 0 outside, 1 in the middle, eased ramps."""
        if t < self.start or t > self.end:
            return 0.0
        if self.ramp <= 0.0:
            return 1.0
        x = min(1.0, (t - self.start) / self.ramp, (self.end - t) / self.ramp)
        return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class _Persona:
    """A student's resting face and how it shows on their camera."""

    yaw: float
    pitch: float
    roll: float
    gaze_x: float
    gaze_y: float
    brow_down: float
    brow_inner_up: float
    eye_squint: float
    lip_press: float
    smile: float
    eye_closed: float
    jaw_open: float


class SimulatedStudent:
    """One simulated student; call `frame` with nondecreasing times to watch them."""

    def __init__(self, profile: str, seed: int, start: float) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
        self.profile = profile
        self.seed = seed
        self.start = start
        entropy = seed % 2**63
        persona = np.random.default_rng([entropy, 0])
        self._schedule = np.random.default_rng([entropy, 1])
        self._noise = np.random.default_rng([entropy, 2])
        u = persona.uniform
        self._persona = _Persona(
            yaw=u(-6.0, 6.0),
            pitch=u(5.0, 15.0),
            roll=u(-4.0, 4.0),
            gaze_x=u(-0.08, 0.08),
            gaze_y=u(-0.08, 0.08),
            brow_down=u(0.03, 0.2),
            brow_inner_up=u(0.03, 0.15),
            eye_squint=u(0.05, 0.2),
            lip_press=u(0.03, 0.15),
            smile=u(0.05, 0.3),
            eye_closed=u(0.03, 0.15),
            jaw_open=u(0.02, 0.1),
        )
        self._glance_gap, self._glance_length = _GLANCES.get(profile, _DEFAULT_GLANCES)
        kinds = _MAIN_KINDS[profile]
        self._kinds = kinds
        self._queue: list[str] = []
        self._episodes: list[_Episode] = []
        self._cursor = start + _QUIET_START
        self._next_main = start + self._uniform(_FIRST_MAIN) if kinds else math.inf
        self._last_t = start
        self._drift = np.zeros(5)  # yaw, pitch, roll, gaze_x, gaze_y

    def frame(self, t: float) -> FrameSignals:
        """The student's signals at ``t`` (epoch seconds, >= ``start``, nondecreasing)."""
        t = max(t, self._last_t)
        dt = t - self._last_t
        self._last_t = t
        self._extend(t + 1.0)
        while self._episodes and self._episodes[0].end < t:
            self._episodes.pop(0)
        episode = self._episodes[0] if self._episodes and self._episodes[0].start <= t else None
        kind = episode.kind if episode is not None else ""
        level = episode.level(t) if episode is not None else 0.0
        params = episode.params if episode is not None else {}

        # The same draws every frame, whatever happens, so frames depend on times only.
        rng = self._noise
        decay = math.exp(-dt / 4.0)
        spread = np.array([3.0, 2.0, 1.5, 0.04, 0.03])
        self._drift = self._drift * decay + spread * math.sqrt(1.0 - decay * decay) * rng.normal(size=5)
        n = rng.normal(size=12)
        blink = rng.random() < _BLINK
        blink_depth = rng.uniform(0.7, 0.95)
        calm = rng.dirichlet(_CALM)
        upset = rng.dirichlet(_UPSET)

        if kind == "camera":
            return FrameSignals(t=t, camera=CameraStatus.UNAVAILABLE, faces=0)
        if kind == "leave":
            return FrameSignals(t=t, faces=0)

        p = self._persona
        d = self._drift
        away = level if kind in ("glance", "away") else 0.0
        confused = level if kind == "confused" else 0.0
        drowsy = level if kind == "drowsy" else 0.0
        eye_closed = p.eye_closed + 0.03 * n[10]
        if blink:
            eye_closed = blink_depth
        eye_closed = max(eye_closed, drowsy * (0.8 + 0.05 * n[10]))
        expressions = (1.0 - confused) * calm + confused * upset
        return FrameSignals(
            t=t,
            faces=2 if kind == "crowd" else 1,
            yaw=float(p.yaw + d[0] + away * params.get("yaw", 0.0) + 1.2 * n[0]),
            pitch=float(p.pitch + d[1] + away * params.get("pitch", 0.0) + drowsy * 12.0 + 1.0 * n[1]),
            roll=float(p.roll + d[2] + confused * params.get("tilt", 0.0) + 0.8 * n[2]),
            gaze_x=_unit(p.gaze_x + d[3] + away * params.get("gaze_x", 0.0) + 0.03 * n[3], -1.0),
            gaze_y=_unit(p.gaze_y + d[4] + away * params.get("gaze_y", 0.0) + 0.03 * n[4], -1.0),
            brow_down=_unit(p.brow_down + confused * params.get("brow_down", 0.0) + 0.025 * n[5]),
            brow_inner_up=_unit(p.brow_inner_up + confused * params.get("brow_inner_up", 0.0) + 0.02 * n[6]),
            eye_squint=_unit(p.eye_squint + confused * params.get("eye_squint", 0.0) + 0.025 * n[7]),
            lip_press=_unit(p.lip_press + confused * params.get("lip_press", 0.0) + 0.025 * n[8]),
            smile=_unit(p.smile * (1.0 - confused) + 0.03 * n[9]),
            eye_closed=_unit(eye_closed),
            jaw_open=_unit(p.jaw_open + 0.02 * n[11]),
            expressions=tuple(float(x) for x in expressions),
        )

    # The script ----------------------------------------------------------------------------

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return float(self._schedule.uniform(*bounds))

    def _extend(self, until: float) -> None:
        """Script episodes until the cursor passes ``until``; episodes never overlap."""
        while self._cursor < until:
            if self._cursor >= self._next_main:
                kind = self._next_kind()
                end = self._cursor + self._uniform(_DURATIONS[kind])
                self._episodes.append(self._episode(kind, self._cursor, end))
                self._next_main = end + self._uniform(_MAIN_GAP)
                self._cursor = end + self._uniform((1.5, 3.0))
                continue
            begin = self._cursor + self._uniform(self._glance_gap)
            end = begin + self._uniform(self._glance_length)
            if end + 1.0 >= self._next_main:
                self._cursor = self._next_main
                continue
            self._episodes.append(self._episode("glance", begin, end))
            self._cursor = end + self._uniform((1.0, 2.0))

    def _next_kind(self) -> str:
        if not self._queue:
            order = self._schedule.permutation(len(self._kinds))
            self._queue = [self._kinds[int(i)] for i in order]
        return self._queue.pop(0)

    def _episode(self, kind: str, start: float, end: float) -> _Episode:
        u = self._uniform
        side = 1.0 if self._schedule.random() < 0.5 else -1.0
        if kind in ("glance", "away"):
            far = kind == "away"
            if self._schedule.random() < 0.65:  # to the side: a neighbour, a window
                params = {
                    "yaw": side * u((38.0, 60.0) if far else (35.0, 50.0)),
                    "gaze_x": side * u((0.6, 0.9) if far else (0.55, 0.8)),
                }
            else:  # down: a phone, notes
                params = {
                    "pitch": u((32.0, 45.0) if far else (30.0, 40.0)),
                    "gaze_y": u((0.6, 0.9) if far else (0.55, 0.8)),
                }
            return _Episode(kind, start, end, _TURN, params)
        if kind == "confused":
            params = {
                "brow_down": u((0.3, 0.45)),
                "brow_inner_up": u((0.05, 0.15)),
                "eye_squint": u((0.12, 0.22)),
                "lip_press": u((0.22, 0.35)),
                "tilt": side * u((9.0, 15.0)),
            }
            return _Episode(kind, start, end, 1.0, params)
        if kind == "drowsy":
            return _Episode(kind, start, end, 0.5)
        return _Episode(kind, start, end, 0.0)


def _unit(value: float, low: float = 0.0) -> float:
    """``value`` within [low, 1], as a Python float."""
    return float(min(1.0, max(low, value)))
