"""A round of the link's concurrent attempts on the hub candidates, and what passed.

`Round` is what the attempts of one round share: who is still running, who won, and the
one-class-one-hub wait (an attempt that has a hub's hello waits while one on a hub the rule
prefers is still undecided, for at most `PREFERRED_WAIT`). `Joined` is a connection that
passed both proofs; `move_reason` says why the link leaves one for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from smartsession.agent.connection import HubConnection
from smartsession.core.candidates import Pin, PinCheck, preference
from smartsession.core.discovery import Candidate
from smartsession.core.protocol import Welcome

#: Longest wait, in seconds, for the attempt on a hub the rule prefers before joining another.
PREFERRED_WAIT = 2.0


@dataclass
class Round:
    """What the concurrent attempts of one round share."""

    #: Set by the attempt that passed the proofs (`win`); the others then stand down.
    won: bool = False
    #: Candidates that presented another certificate than the pinned one (tried last).
    deferred: list[Candidate] = field(default_factory=list)
    _joining: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: Attempts of this round still running (entered, not yet left).
    _running: set[Candidate] = field(default_factory=set)
    #: Set and replaced whenever ``won`` or ``_running`` changes.
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: The candidates known now (a remembered URL takes its hub's announced start from them).
    known: tuple[Candidate, ...] = ()

    def joining(self, fingerprint: str) -> asyncio.Lock:
        """Held while joining through a certificate: one join per hub at a time."""
        return self._joining.setdefault(fingerprint, asyncio.Lock())

    def enter(self, candidate: Candidate) -> None:
        """An attempt on ``candidate`` starts; call `leave` when it ends."""
        self._running.add(candidate)
        self._bump()

    def leave(self, candidate: Candidate) -> None:
        """The attempt on ``candidate`` ended (joined, stood down or failed)."""
        self._running.discard(candidate)
        self._bump()

    def win(self) -> None:
        """The calling attempt passed both proofs: every other one stands down."""
        self.won = True
        self._bump()

    async def wait_turn(self, candidate: Candidate) -> None:
        """Wait while an attempt on a candidate the rule prefers to ``candidate`` still runs (or
        until one won), for at most `PREFERRED_WAIT` seconds: a silent advert claiming to have
        started first delays a join by that much, no more (a preferred hub that answers later is
        moved to while streaming)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PREFERRED_WAIT):
                while True:
                    changed = self._changed
                    mine = preference(candidate, self.known)
                    others = (c for c in self._running if c != candidate)
                    if self.won or not any(preference(c, self.known) < mine for c in others):
                        return
                    await changed.wait()

    def _bump(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


@dataclass(frozen=True)
class Joined:
    """A connection that passed both proofs, with what the pins said about its certificate."""

    ws: HubConnection
    candidate: Candidate
    welcome: Welcome
    fingerprint: str
    hub_ids: frozenset[str]
    pin_check: PinCheck
    pin: Pin | None


def move_reason(current: Joined, better: Joined) -> str:
    """Why the link leaves ``current`` for ``better``, in the words of the one-class-one-hub rule."""

    def started(joined: Joined) -> str:
        advert = joined.candidate.advert
        if advert is None or advert.started <= 0:
            return "an unknown time"
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(advert.started))

    return (
        f"the class's hubs are chosen by the hub that started first (set agent.hub_id to pin one); "
        f"the new one started at {started(better)}, the old one at {started(current)}"
    )
