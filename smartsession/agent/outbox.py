"""The agent's outbox: samples and events with sequence numbers, kept until the hub acks them.

Ordered by seq (which is also production order). Bounded by time span: when the newest
item is more than ``span`` seconds newer than the oldest, the oldest are dropped and
counted in `Outbox.dropped`. Pure (no clock, no I/O); in memory for now. A persistent
outbox would store ``items``, ``next_seq`` and ``sent_upto`` and reload them at start.

Use: ``outbox.add(make_item(outbox.next_seq))``; the link calls `Outbox.welcome` after a
successful join, sends `Outbox.pending_after` its cursor, calls `Outbox.mark_sent` and
`Outbox.ack` as acks arrive.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator

import msgspec

from smartsession.core.protocol import Item

logger = logging.getLogger(__name__)


class Outbox:
    """Unacknowledged items in seq order; see the module docstring for the life cycle."""

    def __init__(self, span: float) -> None:
        if span <= 0.0:
            raise ValueError(f"outbox span must be positive, got {span}")
        self.span = span
        #: The seq the next produced item must carry.
        self.next_seq = 1
        #: Highest seq the hub has acknowledged (or said it holds) on any connection.
        self.acked = 0
        #: Highest seq ever handed to a connection; items above it were never sent anywhere.
        self.sent_upto = 0
        #: How many unacknowledged items were dropped because the outbox spanned too long.
        self.dropped = 0
        #: Seq of the first and of the latest item added (0 before any), after any renumbering.
        self.first_seq = 0
        self.last_seq = 0
        self._items: deque[Item] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(tuple(self._items))

    @property
    def items(self) -> tuple[Item, ...]:
        """Every unacknowledged item, oldest first."""
        return tuple(self._items)

    def add(self, item: Item) -> None:
        """Append a new item; its seq must be at least `next_seq` (normally equal to it).

        Afterwards ``next_seq`` is ``item.seq + 1`` and items older than the span are dropped.
        """
        if item.seq < self.next_seq:
            raise ValueError(f"item seq {item.seq} is below next_seq {self.next_seq}")
        self._items.append(item)
        self.next_seq = item.seq + 1
        self.first_seq = self.first_seq or item.seq
        self.last_seq = item.seq
        self._trim(item.ts)

    def pending_after(self, seq: int) -> list[Item]:
        """The items with a seq above ``seq``, in order (what a connection still has to send)."""
        return [item for item in self._items if item.seq > seq]

    def mark_sent(self, seq: int) -> None:
        """Record that every item up to ``seq`` was handed to a connection."""
        self.sent_upto = max(self.sent_upto, seq)

    def ack(self, seq: int) -> int:
        """Drop every item up to and including ``seq``; return how many were dropped."""
        self.acked = max(self.acked, seq)
        count = 0
        while self._items and self._items[0].seq <= seq:
            self._items.popleft()
            count += 1
        return count

    def welcome(self, last_seq: int) -> None:
        """Apply a hub's ``Welcome.last_seq`` (the highest seq it holds for this student).

        Items the hub already holds are dropped, and ``next_seq`` becomes at least
        ``last_seq + 1``. Items never sent to any hub that collide with seqs the hub already
        holds (from an earlier run of this agent) are renumbered after ``last_seq``, in
        order, so nothing produced before the first connection is lost. After this, send
        ``pending_after(last_seq)``.
        """
        self.ack(min(last_seq, self.sent_upto))
        if self._items and self._items[0].seq <= last_seq:
            shift = last_seq + 1 - self._items[0].seq
            logger.info("hub already holds seq up to %d; renumbering %d unsent items", last_seq, len(self))
            self._items = deque(msgspec.structs.replace(item, seq=item.seq + shift) for item in self._items)
            self.next_seq += shift
            self.last_seq += shift
            if self.first_seq > self.sent_upto:
                self.first_seq += shift
        self.next_seq = max(self.next_seq, last_seq + 1)

    def _trim(self, newest_ts: float) -> None:
        before = len(self._items)
        while len(self._items) > 1 and newest_ts - self._items[0].ts > self.span:
            self._items.popleft()
        lost = before - len(self._items)
        if lost:
            if self.dropped == 0:
                logger.warning("outbox spans more than %.0f s; dropping the oldest items", self.span)
            self.dropped += lost
