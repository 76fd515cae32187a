"""The pure bookkeeping behind the hub's limits on connections that have not joined yet."""

from __future__ import annotations

import pytest

from smartsession.hub.admission import Admission, FloodWatch, Limits, Stage, Throttle, address_key

LIMITS = Limits(
    pending_per_address=3,
    pending=6,
    handshake_timeout=5.0,
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


def test_drop_oldest_for_descriptors() -> None:
    admission = Admission(LIMITS)
    assert admission.drop_oldest() is None
    first = admission.open("10.0.0.1", 0.0)[0]
    admission.open("10.0.0.2", 1.0)
    assert admission.drop_oldest() is first and admission.pending == 1


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
