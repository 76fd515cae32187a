"""The outbox: seq order, acks, the time-span bound and Welcome.last_seq."""

from __future__ import annotations

import pytest

from smartsession.agent.outbox import Outbox
from smartsession.core.protocol import Event, EventKind, Item, Sample
from smartsession.core.states import State


def sample(seq: int, ts: float | None = None) -> Sample:
    when = float(seq) if ts is None else ts
    return Sample(seq=seq, ts=when, state=State.FOCUSED, attention=1.0, confusion=0.0, faces=1)


def event(seq: int) -> Event:
    return Event(seq=seq, ts=float(seq), kind=EventKind.STATE, state=State.CONFUSED)


def fill(outbox: Outbox, n: int) -> None:
    for _ in range(n):
        seq = outbox.next_seq
        outbox.add(sample(seq) if seq % 3 else event(seq))


def seqs(items: list[Item] | tuple[Item, ...]) -> list[int]:
    return [item.seq for item in items]


def test_order_and_pending() -> None:
    outbox = Outbox(600.0)
    assert outbox.next_seq == 1
    fill(outbox, 6)
    assert seqs(outbox.items) == [1, 2, 3, 4, 5, 6]
    assert isinstance(outbox.items[2], Event)
    assert seqs(outbox.pending_after(4)) == [5, 6]
    assert seqs(list(outbox)) == [1, 2, 3, 4, 5, 6]
    assert (outbox.first_seq, outbox.last_seq, outbox.next_seq) == (1, 6, 7)


def test_add_refuses_old_seq() -> None:
    outbox = Outbox(600.0)
    fill(outbox, 2)
    with pytest.raises(ValueError):
        outbox.add(sample(2))


def test_ack_drops_up_to_seq() -> None:
    outbox = Outbox(600.0)
    fill(outbox, 5)
    assert outbox.ack(3) == 3
    assert seqs(outbox.items) == [4, 5]
    assert outbox.acked == 3
    assert outbox.ack(2) == 0
    assert outbox.acked == 3
    outbox.ack(10)
    assert len(outbox) == 0
    assert outbox.next_seq == 6


def test_bounded_by_time_span() -> None:
    outbox = Outbox(10.0)
    for seq in range(1, 31):
        outbox.add(sample(seq, ts=100.0 + seq))
    assert seqs(outbox.items) == list(range(20, 31))
    assert outbox.dropped == 19
    assert outbox.items[-1].ts - outbox.items[0].ts <= 10.0


def test_welcome_drops_what_the_hub_holds() -> None:
    outbox = Outbox(600.0)
    fill(outbox, 10)
    outbox.mark_sent(10)
    outbox.welcome(6)
    assert seqs(outbox.pending_after(6)) == [7, 8, 9, 10]
    assert seqs(outbox.items) == [7, 8, 9, 10]
    assert outbox.next_seq == 11


def test_welcome_from_hub_that_lost_items_resends_them() -> None:
    outbox = Outbox(600.0)
    fill(outbox, 5)
    outbox.mark_sent(5)
    outbox.welcome(0)
    assert seqs(outbox.pending_after(0)) == [1, 2, 3, 4, 5]
    assert outbox.next_seq == 6


def test_welcome_raises_next_seq() -> None:
    outbox = Outbox(600.0)
    outbox.welcome(41)
    assert outbox.next_seq == 42
    outbox.welcome(3)
    assert outbox.next_seq == 42


def test_welcome_renumbers_items_never_sent() -> None:
    """A restarted agent: the hub holds seqs from the previous run; nothing produced is lost."""
    outbox = Outbox(600.0)
    fill(outbox, 3)
    outbox.welcome(100)
    assert seqs(outbox.pending_after(100)) == [101, 102, 103]
    assert (outbox.first_seq, outbox.last_seq, outbox.next_seq) == (101, 103, 104)
    assert [type(item) for item in outbox.items] == [Sample, Sample, Event]


def test_a_new_session_renumbers_from_its_last_seq_and_drops_what_came_before() -> None:
    outbox = Outbox(600.0)
    fill(outbox, 4)
    outbox.welcome(0, "s1")
    outbox.mark_sent(4)
    outbox.ack(2)
    assert outbox.session == "s1" and seqs(outbox.items) == [3, 4]
    fill(outbox, 3)  # 5, 6, 7 while the hub is away
    outbox.welcome(0, "s2", not_before=4.5)  # a new session began at "4.5" on this machine's clock
    assert outbox.session == "s2"
    assert seqs(outbox.items) == [1, 2, 3]
    assert [item.ts for item in outbox.items] == [5.0, 6.0, 7.0]
    assert outbox.dropped == 2 and outbox.acked == 0 and outbox.sent_upto == 0
    assert seqs(outbox.pending_after(0)) == [1, 2, 3]
    assert (outbox.first_seq, outbox.last_seq, outbox.next_seq) == (1, 3, 4)
    outbox.mark_sent(2)
    outbox.welcome(2, "s2")  # the same session again: the usual path
    assert seqs(outbox.items) == [3]


def test_a_session_that_already_holds_items_continues_after_them() -> None:
    outbox = Outbox(600.0)  # e.g. an agent whose outbox file was lost, rejoining its session
    fill(outbox, 2)
    outbox.welcome(40, "s1", not_before=0.0)
    assert seqs(outbox.items) == [41, 42] and outbox.next_seq == 43
