"""The hub selection policy: skipping failed candidates until they change, pins first (pure, time passed in)."""

from __future__ import annotations

import pytest

from smartsession.core.candidates import (
    CandidatePolicy,
    Outcome,
    Pin,
    PinCheck,
    allowed,
    check_pin,
    preference,
)
from smartsession.core.discovery import Candidate, HubAdvert

RETRY = 60.0
REAL_FP, OTHER_FP = "aa" * 32, "bb" * 32


def advert(port: int, hub_id: str = "hub", fingerprint: str = REAL_FP) -> Candidate:
    found = HubAdvert("physics", hub_id, 1, "10.0.0.5", port, True, fingerprint)
    return Candidate(found.url, found, name=f"physics-{hub_id}._smartsession._tcp.local.", hub_id=hub_id)


def urls(candidates: tuple[Candidate, ...]) -> list[str]:
    return [c.url for c in candidates]


def test_a_failed_candidate_is_skipped_until_its_advert_changes() -> None:
    policy = CandidatePolicy(RETRY)
    silent = advert(9001, "silent")
    assert policy.plan([silent], {}, now=0.0).first == (silent,)
    assert policy.record(silent, Outcome.FAILED, "was silent", now=1.0)
    assert policy.plan([silent], {}, now=2.0).first == ()
    changed = advert(9002, "silent")  # a new port: another candidate
    assert policy.plan([silent, changed], {}, now=2.0).first == (changed,)
    retagged = advert(9001, "silent", fingerprint=OTHER_FP)  # new TXT, same port
    assert policy.plan([retagged], {}, now=2.0).first == (retagged,)


def test_the_time_based_retry_is_a_fallback() -> None:
    policy = CandidatePolicy(RETRY)
    silent = advert(9001)
    policy.record(silent, Outcome.FAILED, "was silent", now=0.0)
    assert policy.next_retry(now=10.0) == pytest.approx(50.0)
    assert policy.plan([silent], {}, now=59.9).first == ()
    assert policy.plan([silent], {}, now=60.0).first == (silent,)
    # failing again is no news (logged at debug), and holds it for another period
    assert not policy.record(silent, Outcome.FAILED, "was silent", now=60.5)
    assert policy.plan([silent], {}, now=100.0).first == ()
    assert policy.next_retry(now=200.0) is None


def test_unreachable_and_declined_are_tried_every_round_and_reported_once() -> None:
    policy = CandidatePolicy(RETRY)
    gone, full = advert(9001, "gone"), advert(9002, "full")
    assert policy.record(gone, Outcome.UNREACHABLE, "refused the connection", now=0.0)
    assert policy.record(full, Outcome.DECLINED, "turned the agent away", now=0.0)
    assert set(policy.plan([gone, full], {}, now=0.1).first) == {gone, full}
    assert not policy.record(gone, Outcome.UNREACHABLE, "refused the connection", now=1.0)
    assert policy.record(gone, Outcome.FAILED, "was silent", now=2.0)  # another outcome: news
    assert policy.reason(gone) == "was silent"
    assert policy.next_retry(now=3.0) == pytest.approx(RETRY - 1.0)
    policy.record(full, Outcome.JOINED, "", now=3.0)
    assert policy.reason(full) == ""


def test_fresh_candidates_go_first_most_recently_seen_first() -> None:
    policy = CandidatePolicy(RETRY)
    old, tried, new = advert(9001, "a"), advert(9002, "b"), advert(9003, "c")
    policy.record(tried, Outcome.UNREACHABLE, "refused the connection", now=0.0)
    assert urls(policy.plan([old, tried, new], {}, now=1.0).first) == [new.url, old.url, tried.url]


def test_the_pinned_url_stays_a_candidate_after_its_name_points_elsewhere() -> None:
    policy = CandidatePolicy(RETRY)
    pins = {"hub": Pin("hub", REAL_FP, "wss://10.0.0.5:8765/")}
    shadow = advert(9666)  # the real hub's name, now pointing at another port
    plan = policy.plan([shadow], pins, now=0.0)
    assert urls(plan.first) == ["wss://10.0.0.5:8765/", shadow.url]
    assert plan.first[0] == Candidate("wss://10.0.0.5:8765/", hub_id="hub")
    # while an advert offers the pinned URL, that advert stands for it (no duplicate attempt)
    real = advert(8765)
    assert urls(policy.plan([real, shadow], pins, now=0.0).first) == [real.url, shadow.url]


def test_adverts_contradicting_a_pin_come_last() -> None:
    policy = CandidatePolicy(RETRY)
    pins = {"hub": Pin("hub", REAL_FP, "wss://10.0.0.5:8765/")}
    impostor = advert(9666, fingerprint=OTHER_FP)
    unsigned = advert(9667, fingerprint="")  # no fp in TXT: the certificate decides (check_pin)
    newcomer = advert(9668, "other-hub", fingerprint=OTHER_FP)  # another hub id: nothing pinned
    plan = policy.plan([impostor, unsigned, newcomer], pins, now=0.0)
    assert set(plan.first) == {Candidate("wss://10.0.0.5:8765/", hub_id="hub"), unsigned, newcomer}
    assert plan.later == (impostor,)


def test_check_pin() -> None:
    pins = {"hub": Pin("hub", REAL_FP, "wss://10.0.0.5:8765/")}
    assert check_pin(pins, {"hub"}, REAL_FP) == (PinCheck.MATCH, pins["hub"])
    assert check_pin(pins, {"hub"}, OTHER_FP) == (PinCheck.OTHER, pins["hub"])
    assert check_pin(pins, {"stranger", "hub"}, OTHER_FP) == (PinCheck.OTHER, pins["hub"])
    assert check_pin(pins, {"stranger"}, OTHER_FP) == (PinCheck.NEW, None)
    assert check_pin(pins, {"hub"}, "") == (PinCheck.NEW, None)  # plain ws: nothing to compare


def test_verdicts_of_candidates_gone_long_ago_are_forgotten() -> None:
    policy = CandidatePolicy(RETRY)
    silent = advert(9001)
    policy.record(silent, Outcome.FAILED, "was silent", now=0.0)
    policy.plan([], {}, now=2 * RETRY + 1.0)
    assert policy.record(silent, Outcome.FAILED, "was silent", now=2 * RETRY + 2.0)  # news again
    with pytest.raises(ValueError):
        CandidatePolicy(0.0)


def test_every_agent_prefers_the_hub_that_started_first() -> None:
    def advertised(hub_id: str, started: float, port: int = 8765) -> Candidate:
        advert = HubAdvert("c", hub_id, 2, "10.0.0.1", port, True, "", started)
        return Candidate(advert.url, advert, hub_id=hub_id)

    early, late = advertised("zz", 100.0, 1), advertised("aa", 200.0, 2)
    tie = advertised("ab", 200.0, 3)
    fixed = Candidate("wss://10.0.0.9:8765/")
    assert sorted([fixed, tie, late, early], key=preference) == [early, late, tie, fixed]
    assert allowed(late, "aa") and not allowed(early, "aa") and allowed(fixed, "aa")
    assert allowed(early, "")
