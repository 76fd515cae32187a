"""The class as a whole: who counts, the smoothed attention index, the confusion spike (pure).

Time is passed in. The hub's `smartsession.core.roster.Roster` feeds these live; the
report replays the stored samples through the same classes, so the header, the report's
class chart and its JSON show the same numbers.

- *Counted*: a connected student whose latest sample is in one of `COUNTED_STATES` (not
  Paused, not Offline, not absent). The attention index and the spike share are over them.
- *Class attention index* (`AttentionIndex`): the mean attention of the counted students is
  a step function of time (it moves when a sample arrives or a student leaves); the index
  is its exponential moving average in continuous time with time constant
  ``tui.attention_smoothing`` (τ, default 10 s): after a step it has covered 63 % of the
  way in τ, 95 % in 3τ. It holds its value while nobody is counted.
- *Confusion spike* (`SpikeWatch`): raised when at least ``tui.spike_share`` of the counted
  students (and at least `SPIKE_MIN_STUDENTS` of them) have been Confused for
  ``tui.spike_seconds``; it lasts until the share has stayed below `CLEAR_RATIO` of
  ``spike_share`` for half of ``spike_seconds`` (it ends when the share fell below), and is
  raised once however long it lasts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from smartsession.core.states import State

#: States whose students count in the class measures.
COUNTED_STATES = frozenset({State.CALIBRATING, State.FOCUSED, State.CONFUSED, State.ALERT})
#: Fewest Confused students that make a spike (one student's state is that student's alert).
SPIKE_MIN_STUDENTS = 2
#: A spike clears once the share is below this fraction of ``spike_share`` ...
CLEAR_RATIO = 0.75
#: ... for this fraction of ``spike_seconds``.
CLEAR_HOLD = 0.5


@dataclass(frozen=True)
class ClassSettings:
    """How the class-wide measures are made (``[tui]`` and ``[report]`` keys of the teacher config)."""

    spike_share: float = 0.4
    spike_seconds: float = 10.0
    attention_smoothing: float = 10.0
    late_after_minutes: float = 5.0


def is_late(first_seen: float, session_started: float, late_after_minutes: float) -> bool:
    """Whether a student first seen at ``first_seen`` is late (the class view and reports agree)."""
    return first_seen - session_started > late_after_minutes * 60.0


def late_minutes(first_seen: float, session_started: float) -> float:
    """Minutes after the session started that a student was first seen (0 when before)."""
    return max(0.0, (first_seen - session_started) / 60.0)


class ClassTally:
    """The counted students now: their latest attention, and which of them are Confused."""

    def __init__(self) -> None:
        self._attention: dict[str, float] = {}
        self._sum = 0.0
        self.confused: set[str] = set()

    @property
    def present(self) -> int:
        """Students counted now."""
        return len(self._attention)

    @property
    def mean_attention(self) -> float | None:
        """Mean attention of the counted students (None when nobody is counted)."""
        if not self._attention:
            return None
        return min(1.0, max(0.0, self._sum / len(self._attention)))

    def set(self, student_id: str, state: State, attention: float) -> None:
        """A student's latest sample: counted with this attention, or not counted (`COUNTED_STATES`)."""
        self.drop(student_id)
        if state in COUNTED_STATES:
            self._attention[student_id] = attention
            self._sum += attention
            if state is State.CONFUSED:
                self.confused.add(student_id)

    def drop(self, student_id: str) -> None:
        """The student no longer counts (left, paused)."""
        attention = self._attention.pop(student_id, None)
        if attention is not None:
            self._sum -= attention
            if not self._attention:
                self._sum = 0.0
        self.confused.discard(student_id)


class AttentionIndex:
    """The class attention index: a continuous-time EMA of the class's mean attention (module docstring)."""

    def __init__(self, smoothing: float) -> None:
        if smoothing <= 0.0:
            raise ValueError(f"smoothing must be positive, got {smoothing}")
        self.smoothing = smoothing
        self._value: float | None = None
        self._mean: float | None = None
        self._at = 0.0

    def update(self, now: float, mean: float | None) -> None:
        """From ``now`` on the class mean is ``mean`` (None: nobody counted); call at every change."""
        self._value = self.value(now)
        self._mean, self._at = mean, max(now, self._at)
        if self._value is None:
            self._value = mean

    def value(self, now: float) -> float | None:
        """The index at ``now`` (None until someone was counted)."""
        if self._value is None or self._mean is None:
            return self._value
        decay = math.exp(-max(0.0, now - self._at) / self.smoothing)
        return self._mean + (self._value - self._mean) * decay


@dataclass(frozen=True)
class Spike:
    """A confusion spike: when it began and was raised, how big, and when it cleared."""

    #: 1, 2, ... in a session.
    index: int
    #: When the share first reached ``spike_share`` (the spike is raised ``spike_seconds`` later).
    onset: float
    raised_at: float
    #: The Confused students when it was raised, and how many were counted then.
    students: tuple[str, ...]
    present: int
    #: Most Confused students at once while it lasted.
    peak: int
    #: The lecture segment under way when it was raised (None before the first mark).
    segment: int | None = None
    ended_at: float | None = None

    @property
    def confused(self) -> int:
        """How many were Confused when it was raised."""
        return len(self.students)

    @property
    def held(self) -> float:
        """Seconds the share had held before the spike was raised."""
        return self.raised_at - self.onset


class SpikeWatch:
    """Raises and clears `Spike`s from the counts; call `update` whenever they may have changed."""

    def __init__(self, share: float, seconds: float, *, first_index: int = 1) -> None:
        self.share = share
        self.seconds = seconds
        self._next = first_index
        self._over_since: float | None = None
        self._under_since: float | None = None
        self.active: Spike | None = None

    def update(self, now: float, tally: ClassTally, segment: int | None = None) -> Spike | None:
        """Look at the counts at ``now``; returns a spike just raised or just cleared, else None."""
        present, confused = tally.present, len(tally.confused)
        share = confused / present if present else 0.0
        active = self.active
        if active is None:
            if share < self.share or confused < SPIKE_MIN_STUDENTS:
                self._over_since = None
                return None
            if self._over_since is None:
                self._over_since = now
            if now - self._over_since < self.seconds:
                return None
            spike = Spike(
                index=self._next,
                onset=self._over_since,
                raised_at=now,
                students=tuple(sorted(tally.confused)),
                present=present,
                peak=confused,
                segment=segment,
            )
            self._next += 1
            self.active, self._under_since = spike, None
            return spike
        if confused > active.peak:
            active = self.active = dataclasses.replace(active, peak=confused)
        if share >= self.share * CLEAR_RATIO:
            self._under_since = None
            return None
        if self._under_since is None:
            self._under_since = now
        if now - self._under_since < self.seconds * CLEAR_HOLD:
            return None
        ended_at, self.active, self._over_since = self._under_since, None, None
        return dataclasses.replace(active, ended_at=ended_at)
