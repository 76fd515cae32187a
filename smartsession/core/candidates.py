"""Which hub candidates the agent tries, in which order, and which it skips (pure: time is passed in).

The link tries several candidates at once and tells `CandidatePolicy.record` how each attempt
went (`Outcome`). A candidate that FAILED (silent, broke the protocol, refused by a check) is
skipped until its advert changes, which makes it another `Candidate`, or for ``retry_after``
seconds, so a hub that comes back unchanged on the same port is found again. The other
outcomes are tried again on the next round: nothing was listening, a hub turned the agent
away for now, or it waited behind the pinned hub.

Pins: per hub id, the certificate fingerprint and URL of the last hub that passed the mutual
proof (`Pin`). `CandidatePolicy.plan` puts the pinned URLs first, also when an advert under
the same name now points elsewhere (zeroconf keeps one record per name, so an advert that
shadows the real hub's name replaces it); adverts whose TXT fingerprint contradicts a pin
come last, in `Plan.later`, to be tried only once everything else failed. `check_pin` applies
the same rule to the certificate a connection presented.

One class, one hub (`preference`): when several hubs announce one class (a teacher who
opened ``teacher`` twice, two rooms with a copied config), every agent applies the same
rule, so the class is never split: the hub whose session started first (TXT ``started``),
ties by hub id and URL; a candidate without a start time (a fixed URL, a remembered one)
after every one with. ``agent.hub_id`` narrows the choice to one hub (`allowed`). The rule
only orders hubs: each must still pass both proofs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from smartsession.core.discovery import Candidate


class Outcome(enum.Enum):
    """How one attempt on a candidate ended."""

    #: Passed the mutual proof.
    JOINED = "joined"
    #: Nothing listening (connection refused, no route): tried again on the next round.
    UNREACHABLE = "unreachable"
    #: A hub that spoke but turned the agent away (an error, a close): tried again next round.
    DECLINED = "declined"
    #: Silent, broke the protocol or failed a check: skipped until its advert changes.
    FAILED = "failed"
    #: Presented another certificate than the one pinned for its hub: tried after the rest.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Pin:
    """The certificate and URL of the last hub with this id that passed the mutual proof."""

    hub_id: str
    fingerprint: str
    url: str


class PinCheck(enum.Enum):
    """A presented certificate against the pins (see `check_pin`)."""

    #: The pinned certificate of the hub it claims to be.
    MATCH = "match"
    #: Nothing is pinned for the hub ids it claims (or there is no TLS).
    NEW = "new"
    #: Another certificate than the one pinned for a hub id it claims.
    OTHER = "other"


def check_pin(
    pins: Mapping[str, Pin], hub_ids: Iterable[str], fingerprint: str
) -> tuple[PinCheck, Pin | None]:
    """Compare ``fingerprint`` with the pins of ``hub_ids``; returns the verdict and the pin it concerns.

    Without TLS (``fingerprint`` empty) nothing is pinned: always `PinCheck.NEW`.
    """
    matched: Pin | None = None
    for hub_id in hub_ids:
        pin = pins.get(hub_id)
        if pin is None or not fingerprint:
            continue
        if pin.fingerprint != fingerprint:
            return PinCheck.OTHER, pin
        matched = pin
    return (PinCheck.MATCH, matched) if matched is not None else (PinCheck.NEW, None)


def contradicts_pin(candidate: Candidate, pins: Mapping[str, Pin]) -> bool:
    """Whether the candidate's advert announces a fingerprint other than the one pinned for its hub id."""
    advert = candidate.advert
    if advert is None or not advert.fingerprint:
        return False
    pin = pins.get(advert.hub_id)
    return pin is not None and pin.fingerprint != advert.fingerprint


def preference(candidate: Candidate, known: Iterable[Candidate] = ()) -> tuple[int, float, str, str]:
    """The sort key of the one-class-one-hub rule (smaller is preferred); see the module docstring.

    A candidate without a start time of its own (a remembered URL) takes the earliest one
    announced for its hub id among ``known`` (the adverts seen now).
    """
    started = _started(candidate)
    if started == math.inf and candidate.hub_id:
        started = min((_started(c) for c in known if c.hub_id == candidate.hub_id), default=math.inf)
    return (0 if started < math.inf else 1, started, candidate.hub_id, candidate.url)


def _started(candidate: Candidate) -> float:
    advert = candidate.advert
    return advert.started if advert is not None and advert.started > 0 else math.inf


def allowed(candidate: Candidate, hub_id: str) -> bool:
    """Whether ``candidate`` may be the hub when ``agent.hub_id`` is ``hub_id`` ("" = any).

    A candidate whose hub id is unknown (a fixed URL) is allowed here; its hello decides.
    """
    return not hub_id or not candidate.hub_id or candidate.hub_id == hub_id


@dataclass(frozen=True)
class Plan:
    """The candidates to try now, best first, and those to try only after all of these failed."""

    first: tuple[Candidate, ...]
    later: tuple[Candidate, ...]


@dataclass(frozen=True)
class _Verdict:
    outcome: Outcome
    reason: str
    #: Monotonic seconds before which the candidate is skipped (FAILED only).
    until: float


class CandidatePolicy:
    """Remembers how candidates fared and plans the next round; see the module docstring.

    Use: ``plan = policy.plan(candidates, pins, now)``; try ``plan.first`` (and then
    ``plan.later``); after each attempt ``policy.record(candidate, outcome, reason, now)``;
    when nothing is left to try, wait for a change or until `next_retry`.
    """

    def __init__(self, retry_after: float) -> None:
        if retry_after <= 0.0:
            raise ValueError(f"retry_after must be positive, got {retry_after}")
        #: How long a FAILED candidate is skipped when its advert does not change, in seconds.
        self.retry_after = retry_after
        self._verdicts: dict[Candidate, _Verdict] = {}

    def plan(self, candidates: Sequence[Candidate], pins: Mapping[str, Pin], now: float) -> Plan:
        """Order ``candidates`` (most recently seen last) plus the pinned URLs for one round.

        Skips FAILED candidates until they change or their time is up. First the pinned URLs,
        then candidates never tried, then the rest, each group most recently seen first;
        adverts that contradict a pin go to `Plan.later`. A pinned URL is added (as a
        candidate without advert) only when no advert offers that URL.
        """
        self._forget_old(now)
        advertised = {c.url for c in candidates if c.advert is not None}
        pinned_urls = {pin.url for pin in pins.values()}
        remembered = [
            Candidate(pin.url, hub_id=pin.hub_id) for pin in pins.values() if pin.url not in advertised
        ]
        ordered: list[Candidate] = []
        seen: set[Candidate] = set()
        for candidate in [*remembered, *reversed(candidates)]:
            if candidate in seen or (candidate.advert is None and candidate.url in advertised):
                continue
            seen.add(candidate)
            verdict = self._verdicts.get(candidate)
            if verdict is None or verdict.until <= now:
                ordered.append(candidate)
        ordered.sort(key=lambda c: (c.url not in pinned_urls, c in self._verdicts))
        return Plan(
            first=tuple(c for c in ordered if not contradicts_pin(c, pins)),
            later=tuple(c for c in ordered if contradicts_pin(c, pins)),
        )

    def record(self, candidate: Candidate, outcome: Outcome, reason: str, now: float) -> bool:
        """Note how an attempt ended; True when this is news (log it), False for a repeat (a retry).

        News: the first verdict on this candidate, or another outcome than the last one.
        """
        previous = self._verdicts.pop(candidate, None)
        if outcome is not Outcome.JOINED:
            until = now + self.retry_after if outcome is Outcome.FAILED else now
            self._verdicts[candidate] = _Verdict(outcome, reason, until)
        return previous is None or previous.outcome is not outcome

    def reason(self, candidate: Candidate) -> str:
        """Why the last attempt on ``candidate`` did not join ("" when it has no failure on record)."""
        verdict = self._verdicts.get(candidate)
        return verdict.reason if verdict is not None else ""

    def next_retry(self, now: float) -> float | None:
        """Seconds until the next skipped candidate may be tried again (``None`` when none is skipped)."""
        waits = [v.until - now for v in self._verdicts.values() if v.until > now]
        return min(waits) if waits else None

    def _forget_old(self, now: float) -> None:
        # A verdict not renewed for retry_after past its end is about a candidate that is gone.
        self._verdicts = {c: v for c, v in self._verdicts.items() if v.until + self.retry_after > now}
