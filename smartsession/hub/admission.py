"""Who is waiting to join the hub, per source address: the bookkeeping behind its limits.

Pure: the caller passes the time (monotonic seconds) and does every I/O. A connection gets a
`Ticket` from `Admission.open` when it is accepted and hands it back with `Admission.release`
once it joined, failed or was closed. Before joining it goes through two stages:

- **pending** (TCP accepted, TLS and WebSocket handshakes not finished): at most
  ``pending_per_address`` from one address (more are refused at once) and ``pending`` in all;
  to make room one is dropped: an address's second before anyone's only one, one that sent
  nothing before one that spoke, the one idle longest first (`progressed`: it sent its
  ClientHello, finished TLS), see `Admission.drop_one`. Each has ``handshake_timeout``
  seconds from accept (`expired`).
  TLS handshakes cost the hub CPU, so one address may start ``handshake_rate`` per second
  (bursts of ``pending_per_address``); more wait their turn (`handshake_delay`).
- **unauthenticated** (handshaken, waiting for its ``join``; `promote`): at most
  ``unauthenticated_per_address`` from one address and ``unauthenticated`` in all, of which
  the last `Limits.reserved` go only to addresses with no other connection waiting. A lab
  machine opens one connection at a time, so a few flooding addresses can hold all the other
  slots and an honest agent still finds one.

An IPv6 address counts by its /64 network (one machine can hold a whole /64), an
IPv4-mapped one as the IPv4 address: see `address_key`.
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


def address_key(host: str) -> str:
    """What the per-address limits count by: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Stage(enum.Enum):
    """Where a ticket is in its life."""

    PENDING = "pending"
    UNAUTHENTICATED = "unauthenticated"
    DONE = "done"


@dataclass(eq=False)
class Ticket:
    """One accepted connection's place: its address key, when it was accepted, its stage."""

    address: str
    opened: float
    stage: Stage = Stage.PENDING


@dataclass(frozen=True)
class Limits:
    """The caps `Admission` enforces (``hub.*`` in the config, where the defaults are)."""

    pending_per_address: int
    pending: int
    handshake_timeout: float
    handshake_rate: float
    unauthenticated_per_address: int
    unauthenticated: int

    @property
    def reserved(self) -> int:
        """Unauthenticated slots kept for addresses with no other connection waiting: a tenth, at least 1."""
        return max(1, self.unauthenticated // 10)


@dataclass
class _Counts:
    pending: int = 0
    unauthenticated: int = 0


@dataclass
class _Turns:
    """An address's handshake budget: a token bucket that may go negative (turns booked ahead)."""

    tokens: float
    stamp: float


@dataclass
class FloodWatch:
    """Says once when a flood is over: ``shed`` connections were refused or dropped, then the
    number waiting fell to ``low`` or below.

    The hub then gives the memory the flood used back to the operating system. Counting what
    was shed, not what was waiting, keeps a whole class joining at once (which sheds nothing)
    from counting as a flood.
    """

    shed: int = 64
    low: int = 8
    _count: int = field(default=0, init=False)

    def shedding(self, count: int = 1) -> None:
        """``count`` connections were refused or dropped."""
        self._count += count

    def update(self, waiting: int) -> bool:
        """Record the number of connections waiting now; True when a flood just ended."""
        if self._count >= self.shed and waiting <= self.low:
            self._count = 0
            return True
        return False


@dataclass
class Throttle:
    """At most one report per ``interval`` seconds: `hit` counts what happened and says when to tell."""

    interval: float = 1.0
    _last: float = field(default=float("-inf"), init=False)
    _count: int = field(default=0, init=False)

    def hit(self, now: float, count: int = 1) -> int:
        """Count ``count`` occurrences; returns how many to report now (these included), or 0 to stay quiet."""
        self._count += count
        if now - self._last < self.interval:
            return 0
        count, self._count, self._last = self._count, 0, now
        return count


#: Addresses whose handshake budget is kept before the whole ones are forgotten.
_TURNS_KEPT = 1024
#: Pending tickets `Admission.drop_one` looks through for a second connection of an address.
_SCAN = 16


class Admission:
    """Pending and unauthenticated connections per address, oldest first.

    ``on_flood_over``, when set, is called (synchronously) each time a flood of waiting
    connections ended (see `FloodWatch`).
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # Pending tickets in the order they were opened; those that never progressed, in the
        # same order; those that did, in the order of their last progress (`progressed`).
        self._pending: dict[Ticket, None] = {}
        self._silent: dict[Ticket, None] = {}
        self._idle: dict[Ticket, None] = {}
        self._by_address: dict[str, _Counts] = {}
        self._turns: dict[str, _Turns] = {}
        self._unauthenticated = 0
        self._watch = FloodWatch()
        self.on_flood_over: Callable[[], None] | None = None

    @property
    def pending(self) -> int:
        """Connections in their TLS or WebSocket handshake now."""
        return len(self._pending)

    @property
    def unauthenticated(self) -> int:
        """Connections handshaken and waiting for their join now."""
        return self._unauthenticated

    def waiting_from(self, address: str) -> int:
        """Connections from ``address`` (a key from `address_key`) pending or unauthenticated now."""
        counts = self._by_address.get(address)
        return 0 if counts is None else counts.pending + counts.unauthenticated

    def open(self, address: str, now: float) -> tuple[Ticket | None, list[Ticket]]:
        """A connection from ``address`` was accepted: its ticket, or None when it must be refused.

        Also returns the tickets dropped to make room (see `drop_one`): close those connections.
        Refused: ``address`` has ``pending_per_address`` handshakes going on, or already as
        many unauthenticated connections as it may have.
        """
        counts = self._by_address.get(address)
        if counts is not None and (
            counts.pending >= self.limits.pending_per_address
            or counts.unauthenticated >= self.limits.unauthenticated_per_address
        ):
            self._watch.shedding()
            return None, []
        dropped: list[Ticket] = []
        while len(self._pending) >= self.limits.pending:
            victim = self.drop_one()
            assert victim is not None
            dropped.append(victim)
        ticket = Ticket(address=address, opened=now)
        self._pending[ticket] = None
        self._silent[ticket] = None
        self._by_address.setdefault(address, _Counts()).pending += 1
        return ticket, dropped

    def shed(self) -> None:
        """A connection was turned away before it got a ticket (the hub had no descriptor for it)."""
        self._watch.shedding()

    def progressed(self, ticket: Ticket) -> None:
        """A step of the ticket's handshakes is done: it goes last in the order of dropping."""
        if ticket.stage is Stage.PENDING:
            self._silent.pop(ticket, None)
            self._idle.pop(ticket, None)
            self._idle[ticket] = None

    def handshake_delay(self, ticket: Ticket, now: float) -> float | None:
        """Book the ticket's TLS handshake: seconds to wait before starting it (0: now).

        None when its turn would come after its handshake time is up: drop it (it is taken out).
        """
        limits = self.limits
        burst = float(limits.pending_per_address)
        turns = self._turns.get(ticket.address)
        if turns is None:
            if len(self._turns) >= _TURNS_KEPT:
                self._forget_turns(now)
            turns = self._turns[ticket.address] = _Turns(tokens=burst, stamp=now)
        turns.tokens = min(burst, turns.tokens + (now - turns.stamp) * limits.handshake_rate)
        turns.stamp = now
        delay = max(0.0, (1.0 - turns.tokens) / limits.handshake_rate)
        if now + delay >= ticket.opened + limits.handshake_timeout:
            if ticket.stage is Stage.PENDING:
                self._forget(ticket)
                self._watch.shedding()
                self._settled()
            return None
        turns.tokens -= 1.0
        return delay

    def _forget_turns(self, now: float) -> None:
        """Forget the addresses whose budget is whole again (keeps `_turns` small)."""
        burst, rate = self.limits.pending_per_address, self.limits.handshake_rate
        self._turns = {a: t for a, t in self._turns.items() if t.tokens + (now - t.stamp) * rate < burst}

    def promote(self, ticket: Ticket) -> bool:
        """The ticket's handshakes are done; True if it may wait for its join, else refuse it (4503).

        A refused ticket is released.
        """
        if ticket.stage is not Stage.PENDING:
            return False
        self._forget(ticket)
        counts = self._by_address.setdefault(ticket.address, _Counts())
        limits = self.limits
        others = counts.pending + counts.unauthenticated
        allowed = (
            counts.unauthenticated < limits.unauthenticated_per_address
            and self._unauthenticated < limits.unauthenticated
            and (others == 0 or self._unauthenticated < limits.unauthenticated - limits.reserved)
        )
        if not allowed:
            self._tidy(ticket.address, counts)
            self._watch.shedding()
            self._settled()
            return False
        ticket.stage = Stage.UNAUTHENTICATED
        counts.unauthenticated += 1
        self._unauthenticated += 1
        return True

    def release(self, ticket: Ticket) -> None:
        """The connection joined, failed or closed; releasing twice is harmless."""
        if ticket.stage is Stage.PENDING:
            self._forget(ticket)
        elif ticket.stage is Stage.UNAUTHENTICATED:
            ticket.stage = Stage.DONE
            self._unauthenticated -= 1
            counts = self._by_address[ticket.address]
            counts.unauthenticated -= 1
            self._tidy(ticket.address, counts)
        else:
            return
        self._settled()

    def drop_one(self) -> Ticket | None:
        """Take out a pending ticket to make room (None when nothing is pending): close its connection.

        Which one: an address's second (or later) connection before anyone's only one (among
        the `_SCAN` longest waiting), then one that sent nothing before one that spoke, the
        longest waiting first; so a flooding address loses its own before an honest machine
        loses its one.
        """
        victim = self._victim()
        if victim is not None:
            self._forget(victim)
            self._watch.shedding()
            self._settled()
        return victim

    def _victim(self) -> Ticket | None:
        for queue in (self._silent, self._idle):
            for ticket in itertools.islice(queue, _SCAN):
                if self._by_address[ticket.address].pending > 1:
                    return ticket
        return next(iter(self._silent), None) or next(iter(self._idle), None)

    def expired(self, now: float) -> list[Ticket]:
        """Take out the pending tickets whose handshake time is up, oldest first: close them."""
        timeout = self.limits.handshake_timeout
        late: list[Ticket] = []
        for ticket in self._pending:
            if ticket.opened + timeout > now:
                break
            late.append(ticket)
        for ticket in late:
            self._forget(ticket)
        if late:
            self._watch.shedding(len(late))
            self._settled()
        return late

    def next_deadline(self) -> float | None:
        """When the oldest pending ticket's handshake time is up (None when nothing is pending)."""
        oldest = next(iter(self._pending), None)
        return None if oldest is None else oldest.opened + self.limits.handshake_timeout

    def _forget(self, ticket: Ticket) -> None:
        """Take a pending ticket out (its stage becomes DONE)."""
        del self._pending[ticket]
        self._silent.pop(ticket, None)
        self._idle.pop(ticket, None)
        ticket.stage = Stage.DONE
        counts = self._by_address[ticket.address]
        counts.pending -= 1
        self._tidy(ticket.address, counts)

    def _tidy(self, address: str, counts: _Counts) -> None:
        if counts.pending == 0 and counts.unauthenticated == 0:
            del self._by_address[address]

    def _settled(self) -> None:
        if self._watch.update(self.pending + self._unauthenticated) and self.on_flood_over is not None:
            self.on_flood_over()
