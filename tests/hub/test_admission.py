"""The pure bookkeeping behind the hub's limits on connections that have not joined yet."""

from __future__ import annotations

import pytest

from smartsession.hub.admission import Admission, FloodWatch, Limits, Stage, Throttle, address_key

LIMITS = Limits(
    pending_per_address=3,
    pending=6,
    handshake_timeout=5.0,
    handshake_rate=2.0,
    unauthenticated_per_address=2,
    unauthenticated=10,
)


def test_pending_per_address_refuses_the_newest_and_frees_on_release() -> None:
    admission = Admission(LIMITS)
    tickets = [admission.open("10.0.0.9", float(t))[0] for t in range(3)]
    assert all(t is not None for t in tickets)
    assert admission.open("10.0.0.9", 3.0) == (None, [])  # a fourth from the same address
    other, dropped = admission.open("10.0.0.1", 3.0)  # another address is not affected
    assert other is not None and dropped == []
    first = tickets[0]
    assert first is not None
    admission.release(first)
    assert admission.open("10.0.0.9", 4.0)[0] is not None
    assert admission.pending == 4 and admission.waiting_from("10.0.0.9") == 3


def test_global_pending_cap_drops_the_oldest_first() -> None:
    admission = Admission(LIMITS)
    opened = [admission.open(f"10.0.0.{n}", float(n))[0] for n in range(6)]
    newest, dropped = admission.open("10.0.0.99", 6.0)
    assert newest is not None and dropped == [opened[0]]
    assert opened[0] is not None and opened[0].stage is Stage.DONE
    assert admission.pending == 6 and admission.waiting_from("10.0.0.0") == 0
    admission.release(opened[0])  # releasing a dropped ticket is harmless
    assert admission.pending == 6


def test_handshake_deadline_expires_oldest_first() -> None:
    admission = Admission(LIMITS)
    early = admission.open("10.0.0.1", 0.0)[0]
    late = admission.open("10.0.0.2", 2.0)[0]
    assert admission.next_deadline() == 5.0
    assert admission.expired(4.9) == []
    assert admission.expired(5.0) == [early]
    assert admission.next_deadline() == 7.0
    assert late is not None and admission.promote(late)
    assert admission.expired(100.0) == [] and admission.next_deadline() is None
    assert admission.unauthenticated == 1


def test_unauthenticated_per_address_limit() -> None:
    admission = Admission(LIMITS)
    tickets = [admission.open("10.0.0.9", 0.0)[0] for _ in range(3)]
    assert [admission.promote(t) for t in tickets if t is not None] == [True, True, False]
    assert admission.unauthenticated == 2
    # With as many unauthenticated as it may have, the address is refused at accept already.
    assert admission.open("10.0.0.9", 1.0) == (None, [])


def test_last_slots_are_kept_for_addresses_with_nothing_else_waiting() -> None:
    limits = Limits(
        pending_per_address=100,
        pending=100,
        handshake_timeout=5.0,
        handshake_rate=100.0,
        unauthenticated_per_address=100,
        unauthenticated=10,
    )
    assert limits.reserved == 1
    admission = Admission(limits)
    flood = [admission.open("10.0.0.66", 0.0)[0] for _ in range(12)]
    promoted = [admission.promote(t) for t in flood if t is not None]
    assert promoted == [True] * 9 + [False] * 3  # the flooder stops one short of the cap
    honest = admission.open("10.0.0.7", 1.0)[0]
    assert honest is not None and admission.promote(honest)
    assert admission.unauthenticated == 10
    again = admission.open("10.0.0.8", 1.0)[0]  # the cap itself holds for everyone
    assert again is not None and not admission.promote(again)
    admission.release(honest)
    assert admission.unauthenticated == 9 and admission.waiting_from("10.0.0.7") == 0


def test_a_second_connection_does_not_count_as_fresh() -> None:
    limits = Limits(
        pending_per_address=100,
        pending=100,
        handshake_timeout=5.0,
        handshake_rate=100.0,
        unauthenticated_per_address=100,
        unauthenticated=10,
    )
    admission = Admission(limits)
    for n in range(9):
        ticket = admission.open(f"10.0.1.{n}", 0.0)[0]
        assert ticket is not None and admission.promote(ticket)
    # This address has another connection pending: the reserved slot is not for it.
    first = admission.open("10.0.0.5", 0.0)[0]
    second = admission.open("10.0.0.5", 0.0)[0]
    assert second is not None and not admission.promote(second)
    assert first is not None and admission.promote(first)


def test_silent_connections_are_dropped_first_then_the_one_idle_longest() -> None:
    admission = Admission(LIMITS)
    assert admission.drop_one() is None
    opened = [admission.open(f"10.0.0.{n}", float(n))[0] for n in range(6)]
    busy, stalled, *silent = opened
    assert busy is not None and stalled is not None
    admission.progressed(stalled)  # sent its ClientHello, then nothing
    admission.progressed(busy)  # sent its ClientHello after the other
    newest, dropped = admission.open("10.0.0.99", 7.0)  # full: drop one to make room
    assert newest is not None and dropped == [silent[0]]
    assert admission.drop_one() is silent[1]  # for a descriptor, the same order
    for ticket in (*silent[2:], newest):
        assert ticket is not None
        admission.progressed(ticket)
    admission.progressed(busy)  # finished TLS
    assert admission.drop_one() is stalled
    assert admission.pending == 4
    assert admission.expired(100.0)[0] is busy  # deadlines count from accept


def test_an_address_loses_its_second_connection_before_another_its_only_one() -> None:
    admission = Admission(LIMITS)
    honest = admission.open("10.0.0.1", 0.0)[0]
    flood = [admission.open("10.0.0.66", 1.0)[0] for _ in range(3)]
    others = [admission.open(f"10.0.0.{n}", 2.0)[0] for n in (2, 3)]
    assert admission.open("10.0.0.99", 3.0)[1] == [flood[0]]  # not the older honest one
    assert admission.drop_one() is flood[1]
    assert admission.drop_one() is honest  # 10.0.0.66 has one left: the oldest goes
    assert admission.drop_one() is flood[2] and admission.pending == len(others) + 1


def test_handshakes_per_address_are_paced_and_dropped_when_their_turn_is_too_late() -> None:
    admission = Admission(LIMITS)  # 2 per second, bursts of 3, 5 s each
    first = [admission.open("10.0.0.9", 0.0)[0] for _ in range(3)]
    assert [admission.handshake_delay(t, 0.0) for t in first if t is not None] == [0.0, 0.0, 0.0]
    for ticket in first:
        assert ticket is not None
        admission.release(ticket)
    later = [admission.open("10.0.0.9", 1.0)[0] for _ in range(3)]
    # One second refilled two turns; the third waits half a second more.
    assert [admission.handshake_delay(t, 1.0) for t in later if t is not None] == [0.0, 0.0, 0.5]
    for ticket in later:
        assert ticket is not None
        admission.release(ticket)
    other = admission.open("10.0.0.1", 1.0)[0]  # another address has its own budget
    assert other is not None and admission.handshake_delay(other, 1.0) == 0.0
    admission.release(other)
    booked = [admission.open("10.0.0.9", 1.0)[0] for _ in range(3)]
    assert [admission.handshake_delay(t, 1.0) for t in booked if t is not None] == [1.0, 1.5, 2.0]
    for ticket in booked:
        assert ticket is not None
        admission.release(ticket)
    late = admission.open("10.0.0.9", 1.0)[0]
    assert late is not None
    # Turns booked by connections that went away meanwhile: 2.5 s to 4.5 s from now.
    assert [admission.handshake_delay(late, 1.0) for _ in range(5)] == [2.5, 3.0, 3.5, 4.0, 4.5]
    assert admission.handshake_delay(late, 1.0) is None  # 5 s away: at its deadline
    assert late.stage is Stage.DONE and admission.pending == 0


def test_flood_over_is_reported_once_after_enough_was_shed() -> None:
    admission = Admission(LIMITS)
    calls: list[int] = []
    admission.on_flood_over = lambda: calls.append(admission.pending)
    # A class joining at once sheds nothing: no flood.
    for n in range(6):
        ticket = admission.open(f"10.0.0.{n}", 0.0)[0]
        assert ticket is not None
        admission.release(ticket)
    assert calls == []
    flooder = [admission.open("10.0.0.66", 0.0)[0] for _ in range(3)]
    for _ in range(70):
        assert admission.open("10.0.0.66", 0.0)[0] is None  # more than FloodWatch.shed refused
    assert calls == []  # refusing is not the end of the flood
    for ticket in flooder:
        assert ticket is not None
        admission.release(ticket)
    assert calls == [2]  # once, when the number waiting settled at or below FloodWatch.low


def test_flood_watch() -> None:
    watch = FloodWatch(shed=3, low=1)
    watch.shedding(2)
    assert not watch.update(0)
    watch.shedding()
    assert not watch.update(5) and watch.update(1) and not watch.update(0)


def test_throttle_reports_at_most_once_per_interval_with_the_count() -> None:
    throttle = Throttle(interval=1.0)
    assert throttle.hit(10.0) == 1
    assert [throttle.hit(10.0 + t / 10) for t in range(1, 10)] == [0] * 9
    assert throttle.hit(11.0, 2) == 11
    assert throttle.hit(11.5) == 0


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.168.1.20", "192.168.1.20"),
        ("::ffff:192.168.1.20", "192.168.1.20"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::7", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_address_key(host: str, key: str) -> None:
    assert address_key(host) == key
