"""What a proven agent may say: the hub's bounds on time, sequence numbers, rate and volume (pure).

A machine key proves who is speaking, not that what it says is sane: a lab machine in a
student's hands can send any valid frame. The hub holds every student, per session, to:

* **time**: each item's ``ts`` within [session start - skew, hub now + skew];
* **sequence**: each seq at most `Bounds.seq_window` above the highest one accepted from
  that student this session (seqs restart at 1 in every session, so a jump cannot outlive
  the session);
* **rate**: items per second through a token bucket that belongs to the student, not to
  the connection (reconnecting does not refill it);
* **volume**: at most `Bounds.quota` new items per student and session;
* **seat check**: a sample's ``seat`` in range and consistent (`protocol.seat_problem`):
  checks counted, mismatches among them, a distance only with an enrolment.

`Allowance.admit` raises `ProtocolError` with the close code to use (4422, 4429, 4507).
Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from smartsession.core.protocol import CloseCode, Item, ProtocolError, Sample, seat_problem


class TokenBucket:
    """Tokens refilled at ``rate`` per second up to ``burst``; `take` spends them.

    Pure: the caller passes the time (monotonic seconds).
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float, count: int = 1) -> bool:
        """Spend ``count`` tokens if there are that many; False (nothing spent) otherwise."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True


@dataclass(frozen=True)
class Bounds:
    """The limits of one session (see the module docstring)."""

    session_started: float
    max_skew: float
    seq_window: int
    quota: int
    items_per_second: float
    item_burst: int


class Allowance:
    """One student's standing in the session: highest seq and items accepted, and its bucket."""

    def __init__(self, bounds: Bounds, last_seq: int, stored: int, now: float) -> None:
        self.bounds = bounds
        #: Highest seq accepted from this student this session (stored or queued for storage).
        self.last_seq = last_seq
        #: Items accepted this session (the quota counts these).
        self.items = stored
        self.bucket = TokenBucket(bounds.items_per_second, bounds.item_burst, now)

    @property
    def exhausted(self) -> bool:
        """True once the session's quota is used up (a new join is refused with 4507)."""
        return self.items >= self.bounds.quota

    def admit(self, items: Sequence[Item], wall: float, monotonic: float) -> None:
        """Check one frame's items; on success count them. ``wall``: the hub's clock now.

        Raises `ProtocolError` (4429 rate, 4422 out of range, 4507 quota) and counts nothing then.
        """
        bounds = self.bounds
        if not self.bucket.take(monotonic, len(items)):
            raise ProtocolError(
                CloseCode.RATE_LIMITED,
                f"more than {bounds.items_per_second:g} items/s (burst {bounds.item_burst})",
            )
        earliest, latest = bounds.session_started - bounds.max_skew, wall + bounds.max_skew
        ceiling = self.last_seq + bounds.seq_window
        top, new = self.last_seq, 0
        for item in items:
            if not earliest <= item.ts <= latest:
                raise ProtocolError(
                    CloseCode.OUT_OF_RANGE,
                    f"item {item.seq}: timestamp {item.ts:.0f} is outside this session "
                    f"({earliest:.0f}..{latest:.0f} on the hub's clock); is this machine's clock right?",
                )
            if item.seq > ceiling:
                raise ProtocolError(
                    CloseCode.OUT_OF_RANGE,
                    f"item {item.seq}: seq more than {bounds.seq_window} ahead of {self.last_seq}",
                )
            if isinstance(item, Sample) and item.seat is not msgspec.UNSET:
                problem = seat_problem(item.seat)
                if problem is not None:
                    raise ProtocolError(CloseCode.OUT_OF_RANGE, f"item {item.seq}: {problem}")
            if item.seq > top:
                top = item.seq
                new += 1
        if self.items + new > bounds.quota:
            raise ProtocolError(
                CloseCode.QUOTA_EXCEEDED, f"storage quota of {bounds.quota} items for this session reached"
            )
        self.items += new
        self.last_seq = top
