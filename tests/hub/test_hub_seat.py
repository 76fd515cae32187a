"""`Sample.seat` at a real hub: stored with its sample, refused (4422) when impossible."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec

from smartsession.config import Config
from smartsession.core.identity import SeatResult
from smartsession.core.protocol import CloseCode, SeatStatus
from smartsession.core.snapshots import AlertRaised, RosterEvent
from smartsession.core.states import NoticeKind
from smartsession.hub import Hub

from .wsagent import expect_refusal, join_agent, sample

MISMATCH = SeatStatus(result=SeatResult.MISMATCH, distance=0.71, checks=1, mismatches=1)


async def test_a_sample_keeps_its_seat_checks_in_the_store(hub: Hub, secret: bytes) -> None:
    agent = await join_agent(hub.url, secret, "pc-07")
    await agent.send(msgspec.structs.replace(sample(1), seat=MISMATCH))
    await agent.send(sample(2))
    await agent.wait_ack(2)
    await agent.close()
    await hub.store.flush()
    with sqlite3.connect(hub.config.storage.database) as conn:
        rows = conn.execute("SELECT seq, seat FROM samples ORDER BY seq").fetchall()
    assert rows == [(1, '{"result":"mismatch","distance":0.71,"checks":1,"mismatches":1}'), (2, None)]


async def test_an_impossible_seat_check_is_refused_as_out_of_range(hub: Hub, secret: bytes) -> None:
    seen: list[tuple[str, str]] = []

    def listener(event: RosterEvent) -> None:
        if isinstance(event, AlertRaised) and event.alert.reason is NoticeKind.OUT_OF_RANGE:
            seen.append((event.alert.student_id, event.alert.detail))

    hub.subscribe(listener)
    agent = await join_agent(hub.url, secret, "pc-07")
    forged = SeatStatus(result=SeatResult.MATCH, distance=0.2, checks=1, mismatches=1)
    await agent.send(msgspec.structs.replace(sample(1), seat=forged))
    error, code = await expect_refusal(agent.ws)
    assert code == CloseCode.OUT_OF_RANGE and error is not None
    assert "every check is counted as a mismatch" in error.message
    assert seen == [("pc-07", error.message)]
    assert await hub.store.seqs("pc-07") == []


async def test_a_resumed_session_gives_the_class_view_its_seat_checks_back(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    config = make_config()
    async with Hub(config, secret) as hub:
        agent = await join_agent(hub.url, secret, "pc-07")
        await agent.send(msgspec.structs.replace(sample(1), seat=MISMATCH))
        await agent.send(sample(2))
        await agent.wait_ack(2)
        await agent.close()
    with sqlite3.connect(config.storage.database) as conn:
        conn.execute("UPDATE sessions SET ended_at = NULL")  # as a crash leaves it
    async with Hub(config, secret) as again:
        assert again.resumed
        (student,) = again.students()
        assert student.seat is not None and student.seat.result is SeatResult.MISMATCH
        assert (student.seat.checks, student.seat.mismatches) == (1, 1)
