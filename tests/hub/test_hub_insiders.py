"""A lab machine in a student's hands: each attack an insider tried, with an honest classmate
streaming alongside who must lose nothing.

The attacker holds its own machine key (it can read it with root on its machine) and speaks
the protocol directly; the honest agent is a separate connection with its own key.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from smartsession.agent.link import Link
from smartsession.agent.outbox import Outbox
from smartsession.config import AgentConfig, Config
from smartsession.core import protocol
from smartsession.core.protocol import (
    PROTOCOL_VERSION,
    CloseCode,
    Hello,
    Join,
    Sample,
    Welcome,
)
from smartsession.core.snapshots import AlertRaised, RosterEvent
from smartsession.core.states import NoticeKind, State
from smartsession.hub import Hub
from smartsession.keys import HubSigner
from smartsession.report.model import build_report
from smartsession.report.queries import find_session, open_database, read_session

from .wsagent import (
    CLASS_ID,
    TestAgent,
    eventually,
    expect_refusal,
    join_agent,
    machine,
    make_join,
    open_ws,
    recv,
    sample,
)

TIMEOUT = 15.0


class Honest:
    """A classmate that streams a sample every ``period`` seconds, each acked, until stopped."""

    def __init__(self, agent: TestAgent, period: float = 0.05) -> None:
        self.agent = agent
        self.period = period
        self.sent = 0
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            await self.agent.send(sample(self.sent))
            await self.agent.wait_ack(self.sent)
            await asyncio.sleep(self.period)

    async def finish(self, hub: Hub) -> None:
        """Stop (after ten samples at least), then check that every sample arrived exactly once
        and nothing was refused."""
        await eventually(lambda: self.sent >= 10 or self._task.done(), TIMEOUT)
        self._stop.set()
        await asyncio.wait_for(self._task, TIMEOUT)
        student_id = self.agent.join.student_id
        assert self.agent.errors == []
        assert self.sent > 5, "the honest agent must have streamed during the attack"
        assert await hub.store.seqs(student_id) == list(range(1, self.sent + 1))
        await self.agent.close()


@pytest.fixture
async def honest(hub: Hub, secret: bytes) -> AsyncIterator[Honest]:
    streamer = Honest(await join_agent(hub.url, secret, "honest"))
    yield streamer
    await streamer.finish(hub)


def notices(hub: Hub) -> Callable[[], list[tuple[str, NoticeKind, str]]]:
    """Start recording the connection notices the teacher is shown; call the result to read them."""
    seen: list[tuple[str, NoticeKind, str]] = []

    def listener(event: RosterEvent) -> None:
        if isinstance(event, AlertRaised) and isinstance(event.alert.reason, NoticeKind):
            seen.append((event.alert.student_id, event.alert.reason, event.alert.detail))

    hub.subscribe(listener)
    return lambda: list(seen)


async def join_with(url: str, key: bytes, claimed: str) -> tuple[object, int | None]:
    """Answer the hub's hello as ``claimed``, proving with ``key``; returns what came back."""
    ws = await open_ws(url)
    hello = await recv(ws)
    assert isinstance(hello, Hello)
    join = make_join(bytes(32), hello, claimed)  # a well-formed join, then the attacker's proof
    proof = protocol.agent_proof(key, hello.nonce, join.nonce, claimed, _fingerprint(ws))
    await ws.send(protocol.encode(msgspec.structs.replace(join, proof=proof)))
    error, code = await expect_refusal(ws)
    return error, code


def _fingerprint(ws: object) -> str:
    from smartsession.agent.connection import peer_fingerprint

    return peer_fingerprint(ws)  # type: ignore[arg-type]


# impersonation ------------------------------------------------------------------------------


async def test_an_agent_refused_for_its_machine_key_backs_off(
    hub: Hub, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A lab machine with a key not made from this class's key asks once, not every few milliseconds."""
    config = msgspec.structs.replace(
        hub.config, agent=AgentConfig(student_id="pc-03", hub_url=hub.url, reconnect_initial=0.05)
    )
    outbox = Outbox(600.0)
    wrong = machine(secrets.token_bytes(32), "pc-03")  # another class key's
    link = Link(config, wrong, outbox)
    outbox.add(Sample(seq=1, ts=time.time(), state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1))
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(link.run())
        try:
            await eventually(lambda: "refused this machine's key" in caplog.text, TIMEOUT)
            await asyncio.sleep(3.0)  # with reconnect_initial 0.05 the old link asked ~10 times
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    refusals = [r for r in caplog.records if r.getMessage().startswith("bad proof from")]
    assert len(refusals) == 1 and link.attempts == 1 and link.connections == 0 and len(outbox) == 1
    assert "machine.key" in caplog.text and "skipping it until its advert changes" in caplog.text


async def test_a_machine_key_proves_only_its_own_student_id(hub: Hub, secret: bytes, honest: Honest) -> None:
    mine = machine(secret, "pc-01").key
    for victim in ("honest", "pc-02"):
        error, code = await join_with(hub.url, mine, victim)
        assert code == CloseCode.BAD_PROOF and error is not None
    assert "honest" in hub.connected  # the classmate was not replaced
    attacker = await join_agent(hub.url, secret, "pc-01")  # its own id works
    await attacker.send(sample(1))
    await attacker.wait_ack(1)
    await attacker.close()
    assert await hub.store.seqs("pc-02") == []


async def test_a_lab_machine_cannot_pose_as_the_hub(hub: Hub, secret: bytes) -> None:
    """A rogue hub run with pc-01's machine key (and the hub's public key) gets nothing from pc-02."""
    stolen = machine(secret, "pc-01")
    joins: list[Join] = []
    received: list[str] = []

    async def rogue(ws: ServerConnection) -> None:
        nonce = secrets.token_hex(16)
        await ws.send(
            protocol.encode(
                Hello(v=PROTOCOL_VERSION, hub_id="rogue", class_id=CLASS_ID, nonce=nonce, time=time.time())
            )
        )
        join = protocol.decode_agent_message(await ws.recv())
        assert isinstance(join, Join)
        joins.append(join)
        welcome = Welcome(session_id="s1", session_started=time.time(), last_seq=0, proof="0" * 128)
        material = protocol.hub_proof_material(nonce, join.nonce, join.student_id, "", welcome)
        # The best a lab machine can do: sign with a key made from what it holds.
        forged = HubSigner(stolen.key, CLASS_ID).sign(material)
        await ws.send(protocol.encode(msgspec.structs.replace(welcome, proof=forged)))
        async for frame in ws:
            received.append(str(frame))

    async with serve(rogue, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        config = msgspec.structs.replace(
            hub.config,
            network=msgspec.structs.replace(hub.config.network, tls=False),
            agent=AgentConfig(student_id="pc-02", hub_url=url, reconnect_initial=0.05, reconnect_max=0.1),
        )
        outbox = Outbox(600.0)
        link = Link(config, machine(secret, "pc-02"), outbox)
        outbox.add(Sample(seq=1, ts=time.time(), state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1))
        task = asyncio.create_task(link.run())
        try:
            await eventually(lambda: link.bad_hubs >= 1, TIMEOUT)
            await asyncio.sleep(0.2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert joins and received == [] and len(outbox) == 1 and link.connections == 0


async def test_a_takeover_needs_the_same_key_and_the_teacher_is_told(
    hub: Hub, secret: bytes, honest: Honest, caplog: pytest.LogCaptureFixture
) -> None:
    seen = notices(hub)
    first = await join_agent(hub.url, secret, "alice")
    error, code = await join_with(hub.url, machine(secret, "bob").key, "alice")
    assert code == CloseCode.BAD_PROOF and error is not None
    assert seen() == [] and "alice" in hub.connected
    with caplog.at_level(logging.WARNING, logger="smartsession.hub"):
        second = await join_agent(hub.url, secret, "alice")  # alice's machine restarted
        error, code = await expect_refusal(first.ws)
    assert code == CloseCode.DUPLICATE_STUDENT
    ((student, kind, detail),) = seen()
    assert (student, kind) == ("alice", NoticeKind.TAKEOVER)
    assert "127.0.0.1" in detail and "connected again" in detail
    assert "student 'alice' connected again" in caplog.text
    (snapshot,) = [s for s in hub.students() if s.student_id == "alice"]
    assert snapshot.notice.startswith(NoticeKind.TAKEOVER.label)
    await second.send(sample(1))
    await second.wait_ack(1)
    await second.close()


# a classmate silenced, reports killed ------------------------------------------------------


async def test_a_seq_jump_is_refused_and_cannot_outlive_the_session(
    hub: Hub, secret: bytes, honest: Honest
) -> None:
    seen = notices(hub)
    eve = await join_agent(hub.url, secret, "eve")
    await eve.send(sample(1))
    await eve.wait_ack(1)
    await eve.send(sample(2**53))
    error, code = await expect_refusal(eve.ws)
    assert code == CloseCode.OUT_OF_RANGE and error is not None and "ahead" in error.message
    assert seen() == [("eve", NoticeKind.OUT_OF_RANGE, error.message)]
    again = await join_agent(hub.url, secret, "eve")
    assert again.welcome.last_seq == 1  # the jump was never stored
    window = hub.config.hub.seq_window
    await again.send(sample(1 + window))  # the farthest a seq may run ahead
    await again.wait_ack(1 + window)
    await again.close()
    assert await hub.store.seqs("eve") == [1, 1 + window]


@pytest.mark.parametrize("when", ["year 5138", "before the session", "an hour ahead"])
async def test_timestamps_off_the_hubs_clock_are_refused(
    hub: Hub, secret: bytes, honest: Honest, when: str
) -> None:
    seen = notices(hub)
    ts = {
        "year 5138": 1e11,
        "before the session": hub.session_started - hub.config.hub.max_clock_skew - 1.0,
        "an hour ahead": time.time() + 3600.0,
    }[when]
    eve = await join_agent(hub.url, secret, "eve")
    await eve.send(msgspec.structs.replace(sample(1), ts=ts))
    error, code = await expect_refusal(eve.ws)
    assert code == CloseCode.OUT_OF_RANGE and error is not None and "clock" in error.message
    assert [kind for _, kind, _ in seen()] == [NoticeKind.OUT_OF_RANGE]
    assert await hub.store.seqs("eve") == []


async def test_a_report_cannot_be_stretched_by_a_timestamp(hub: Hub, secret: bytes) -> None:
    """Even a row an older hub let in (ts in year 5138) leaves the report at the session's real span."""
    agent = await join_agent(hub.url, secret, "alice")
    for seq in (1, 2):
        await agent.send(sample(seq))
    await agent.wait_ack(2)
    await agent.close()
    await hub.store.flush()
    with sqlite3.connect(hub.config.database_path) as conn:
        conn.execute(
            "INSERT INTO samples (student_id, seq, session_id, ts, state, attention, confusion, faces, alert,"
            " reasons, cues) SELECT student_id, 3, session_id, 1e11, state, attention, confusion, faces,"
            " alert, reasons, cues FROM samples WHERE seq = 2"
        )
    conn.close()
    began = time.monotonic()
    db = open_database(hub.config.database_path)
    try:
        data = read_session(db, find_session(db, hub.session_id))
    finally:
        db.close()
    report = build_report(data)
    assert time.monotonic() - began < 5.0
    assert report.end - report.started_at < 600.0
    assert len(report.timeline) <= 90
    assert all(s.ts < 1e10 for s in data.samples)


# the disk filled ------------------------------------------------------------------------


def _batch(start: int, count: int) -> str:
    """A batch frame of ``count`` minimal samples (256 of them fit in one frame)."""
    items = ",".join(
        f'{{"type":"sample","seq":{seq},"ts":{time.time():.3f},"state":"focused","attention":0.5,'
        '"confusion":0.1,"faces":1}'
        for seq in range(start, start + count)
    )
    return f'{{"type":"batch","items":[{items}]}}'


async def test_the_rate_limit_counts_items_and_survives_reconnects(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    async with Hub(make_config(max_items_per_second=20.0, item_burst=600), secret) as hub:
        seen = notices(hub)
        honest = Honest(await join_agent(hub.url, secret, "honest"))
        flooder = await join_agent(hub.url, secret, "eve")
        for n in range(50):
            try:
                await flooder.ws.send(_batch(1 + 256 * n, 256))
            except ConnectionClosed:
                break
        error, code = await expect_refusal(flooder.ws)
        assert code == CloseCode.RATE_LIMITED and error is not None
        await hub.store.flush()
        stored = len(await hub.store.seqs("eve"))
        assert 0 < stored <= 600
        again = await join_agent(hub.url, secret, "eve")  # a new connection: the same bucket
        await again.ws.send(_batch(stored + 1, 256))
        error, code = await expect_refusal(again.ws)
        assert code == CloseCode.RATE_LIMITED
        assert {kind for _, kind, _ in seen()} == {NoticeKind.RATE_LIMITED}
        await asyncio.sleep(0.5)
        await honest.finish(hub)


async def test_each_student_has_a_storage_quota_per_session(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    async with Hub(make_config(session_quota=300), secret) as hub:
        seen = notices(hub)
        honest = Honest(await join_agent(hub.url, secret, "honest"))
        eve = await join_agent(hub.url, secret, "eve")
        await eve.ws.send(_batch(1, 200))
        await eve.wait_ack(200)
        await eve.ws.send(_batch(201, 200))
        error, code = await expect_refusal(eve.ws)
        assert code == CloseCode.QUOTA_EXCEEDED and error is not None and "300" in error.message
        await eve.ws.wait_closed()
        again = await join_agent(hub.url, secret, "eve")
        await again.ws.send(_batch(201, 100))
        await again.wait_ack(300)  # up to the quota exactly
        await again.send(sample(301))
        error, code = await expect_refusal(again.ws)
        assert code == CloseCode.QUOTA_EXCEEDED
        ws = await open_ws(hub.url)  # once used up, a join is refused at once
        hello = await recv(ws)
        assert isinstance(hello, Hello)
        await ws.send(protocol.encode(make_join(secret, hello, "eve", fingerprint=_fingerprint(ws))))
        _, code = await expect_refusal(ws)
        assert code == CloseCode.QUOTA_EXCEEDED
        assert len(await hub.store.seqs("eve")) == 300
        assert {kind for _, kind, _ in seen()} == {NoticeKind.QUOTA_EXCEEDED}
        await honest.finish(hub)


async def test_an_honest_agent_numbers_each_session_afresh(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    """Seqs are per session: a jump (or a long life) never carries into the next one, and what
    was made between two sessions belongs to neither."""
    config = make_config()
    outbox = Outbox(600.0)

    def produce(link: Link, n: int) -> None:
        for _ in range(n):
            item = Sample(
                seq=outbox.next_seq,
                ts=time.time(),
                state=State.FOCUSED,
                attention=0.9,
                confusion=0.1,
                faces=1,
            )
            outbox.add(item)
        link.wake()

    sessions = []
    for _ in range(2):
        async with Hub(config, secret) as hub:
            sessions.append(hub.session_id)
            agent = AgentConfig(
                student_id="pc-01", hub_url=hub.url, reconnect_initial=0.05, reconnect_max=0.2
            )
            link = Link(msgspec.structs.replace(config, agent=agent), machine(secret), outbox)
            task = asyncio.create_task(link.run())
            produce(link, 5)
            await eventually(lambda: len(outbox) == 0, TIMEOUT)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        produce(link, 2)  # made while no hub runs
        await asyncio.sleep(1.5)
    assert sessions[0] != sessions[1]
    assert outbox.dropped == 2  # the two made between the sessions
    async with Hub(config, secret) as hub:
        for session in sessions:
            assert await hub.store.last_seq("pc-01", session) == 5
        assert await hub.store.seqs("pc-01") == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
