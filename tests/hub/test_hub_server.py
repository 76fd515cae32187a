"""The hub's WebSocket conversation over real loopback sockets and a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from smartsession.config import Config
from smartsession.core.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Batch,
    CloseCode,
    Hello,
    Welcome,
    encode,
)
from smartsession.core.snapshots import AlertRaised, RosterEvent, StudentChanged
from smartsession.core.states import AlertReason, State
from smartsession.errors import HubError
from smartsession.hub import Hub
from smartsession.hub.schema import connect, open_or_resume_session
from smartsession.hub.server import WIRE_MAX_SIZE

from .wsagent import (
    CLASS_ID,
    alert_event,
    eventually,
    expect_refusal,
    join_agent,
    make_join,
    open_ws,
    recv,
    sample,
)


async def test_happy_path_stores_acks_and_updates_roster(hub: Hub, secret: bytes) -> None:
    events: list[RosterEvent] = []
    hub.subscribe(events.append)
    hub.subscribe(lambda event: 1 / 0)  # a broken listener must not break the hub

    agent = await join_agent(hub.url, secret, "alice")
    assert agent.hello.class_id == CLASS_ID
    assert agent.hello.hub_id == "testhub"
    assert agent.welcome.session_id == hub.session_id
    assert agent.welcome.last_seq == 0

    await agent.send(sample(1))
    await agent.send(sample(2, State.CONFUSED))
    await agent.send(Batch(items=(sample(3, State.ALERT, AlertReason.NO_FACE), alert_event(4))))
    await agent.wait_ack(4)

    assert await hub.store.seqs("alice") == [1, 2, 3, 4]
    (student,) = hub.students()
    assert student.student_id == "alice"
    assert student.connected
    assert student.state is State.ALERT
    assert student.samples == 3
    assert [a.reason for a in hub.alerts()] == [AlertReason.NO_FACE]
    assert any(isinstance(e, AlertRaised) for e in events)
    assert sum(isinstance(e, StudentChanged) for e in events) >= 4

    (summary,) = await hub.summary()
    assert summary["student_id"] == "alice"
    assert summary["name"] == "Student alice"
    assert summary["samples"] == 3
    assert (summary["seq_min"], summary["seq_max"]) == (1, 4)
    assert summary["states_seen"] == ["alert", "confused", "focused"]
    assert summary["alerts_seen"] == ["no_face"]

    await agent.close()
    await eventually(lambda: not hub.students()[0].connected)
    assert hub.students()[0].state is State.OFFLINE


async def test_wrong_secret_is_refused_and_nothing_stored(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ws = await open_ws(hub.url)
    hello = await recv(ws)
    assert isinstance(hello, Hello)
    await ws.send(encode(make_join(b"x" * 32, hello, "mallory")))
    error, code = await expect_refusal(ws)
    assert error is not None and error.code == CloseCode.BAD_PROOF
    assert code == CloseCode.BAD_PROOF
    assert "bad proof from '127.0.0.1'" in caplog.text
    assert bytes(range(32)).hex() not in caplog.text
    assert hub.students() == []
    assert await hub.summary() == []


async def test_replayed_join_proof_is_refused(hub: Hub, secret: bytes) -> None:
    first = await open_ws(hub.url)
    hello = await recv(first)
    assert isinstance(hello, Hello)
    join = make_join(secret, hello, "alice", fingerprint=hub.fingerprint)
    await first.send(encode(join))
    assert isinstance(await recv(first), Welcome)

    # An eavesdropper replays the same join on a new connection (new server nonce).
    second = await open_ws(hub.url)
    hello2 = await recv(second)
    assert isinstance(hello2, Hello) and hello2.nonce != hello.nonce
    await second.send(encode(join))
    error, code = await expect_refusal(second)
    assert code == CloseCode.BAD_PROOF and error is not None
    await first.close()


async def test_join_timeout(make_config: Callable[..., Config], secret: bytes) -> None:
    async with Hub(make_config(join_timeout=0.2), secret) as hub:
        ws = await open_ws(hub.url)
        assert isinstance(await recv(ws), Hello)
        error, code = await expect_refusal(ws)
        assert code == CloseCode.JOIN_TIMEOUT and error is not None


@pytest.mark.parametrize(
    ("v", "newer_fields"), [(PROTOCOL_VERSION + 1, False), (PROTOCOL_VERSION + 1, True), (1, False)]
)
async def test_bad_version(hub: Hub, secret: bytes, v: int, newer_fields: bool) -> None:
    """A newer agent, or an agent of protocol 1 (one shared class secret), is told the versions."""
    ws = await open_ws(hub.url)
    hello = await recv(ws)
    assert isinstance(hello, Hello)
    join = make_join(secret, hello, "alice", v=v)
    frame = encode(join)
    if newer_fields:  # a newer join may carry fields this version does not know
        frame = frame[:-1] + ',"capabilities":["x"]}'
    await ws.send(frame)
    error, code = await expect_refusal(ws)
    assert code == CloseCode.BAD_VERSION and error is not None
    assert f"version {v} not supported (hub speaks {PROTOCOL_VERSION})" in error.message


HOSTILE: dict[str, tuple[str | bytes, int]] = {
    "not json": ("{this is not json", CloseCode.MALFORMED),
    "unknown type": ('{"type":"selfie","data":"AAAA"}', CloseCode.MALFORMED),
    "wrong field type": (
        '{"type":"sample","seq":"7","ts":1.0,"state":"focused","attention":0.5,"confusion":0.1,"faces":1}',
        CloseCode.MALFORMED,
    ),
    "unknown field": (
        '{"type":"sample","seq":7,"ts":1.0,"state":"focused","attention":0.5,"confusion":0.1,'
        '"faces":1,"image":"AAAA"}',
        CloseCode.MALFORMED,
    ),
    "nan": (
        '{"type":"sample","seq":7,"ts":1.0,"state":"focused","attention":NaN,"confusion":0.1,"faces":1}',
        CloseCode.MALFORMED,
    ),
    "huge float": (
        '{"type":"sample","seq":7,"ts":1.0,"state":"focused","attention":1e400,"confusion":0.1,"faces":1}',
        CloseCode.MALFORMED,
    ),
    "huge int": (
        '{"type":"sample","seq":123456789012345678901234567890,"ts":1.0,"state":"focused",'
        '"attention":0.5,"confusion":0.1,"faces":1}',
        CloseCode.MALFORMED,
    ),
    "deep nesting": ('{"type":"sample","seq":' + "[" * 5000 + "]" * 5000 + "}", CloseCode.MALFORMED),
    "deep nesting top": ("[" * 30000 + "]" * 30000, CloseCode.MALFORMED),
    "binary frame": (b"\x00\x01binary", CloseCode.MALFORMED),
    "oversized frame": (
        '{"type":"event","detail":"' + "x" * (MAX_FRAME_BYTES + 10) + '"}',
        CloseCode.TOO_BIG,
    ),
    "huge frame": ("x" * (WIRE_MAX_SIZE + 10), 1009),  # beyond what websockets reads at all
    "multibyte oversized": (
        '{"type":"event","detail":"' + "\u00e9" * (MAX_FRAME_BYTES // 2 + 10) + '"}',
        4413,
    ),
    "second join": ("JOIN", CloseCode.MALFORMED),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_frames_close_only_that_connection(hub: Hub, secret: bytes, case: str) -> None:
    bystander = await join_agent(hub.url, secret, "bob")
    await bystander.send(sample(1))
    await bystander.wait_ack(1)

    hostile = await join_agent(hub.url, secret, "eve")
    frame, expected = HOSTILE[case]
    if frame == "JOIN":
        frame = encode(hostile.join)
    await hostile.ws.send(frame)
    error, code = await expect_refusal(hostile.ws)
    assert code == expected
    if expected != 1009:  # websockets itself closes a frame over WIRE_MAX_SIZE: no Error frame
        assert error is not None and error.code == expected

    await bystander.send(sample(2))
    await bystander.wait_ack(2)
    assert bystander.errors == []
    late = await join_agent(hub.url, secret, "carol")  # the hub still accepts agents
    await late.close()
    await bystander.close()
    await eventually(lambda: hub.connected == [])
    assert await hub.store.seqs("eve") == []


async def test_telemetry_before_join_is_malformed(hub: Hub) -> None:
    ws = await open_ws(hub.url)
    assert isinstance(await recv(ws), Hello)
    await ws.send(encode(sample(1)))
    error, code = await expect_refusal(ws)
    assert code == CloseCode.MALFORMED and error is not None


async def test_replay_after_reconnect_is_stored_and_counted_once(hub: Hub, secret: bytes) -> None:
    agent = await join_agent(hub.url, secret, "alice")
    for seq in (1, 2, 3):
        await agent.send(sample(seq))
    await agent.wait_ack(3)
    await agent.close()
    await eventually(lambda: hub.connected == [])

    again = await join_agent(hub.url, secret, "alice")
    assert again.welcome.last_seq == 3
    # An agent that missed the ack replays from 2; the hub must not store or count them twice.
    await again.send(Batch(items=tuple(sample(seq) for seq in (2, 3, 4, 5))))
    await again.send(sample(5))
    await again.wait_ack(5)
    assert await hub.store.seqs("alice") == [1, 2, 3, 4, 5]
    assert hub.students()[0].samples == 5
    (summary,) = await hub.summary()
    assert summary["samples"] == 5
    await again.close()


async def test_newer_connection_replaces_older_one(hub: Hub, secret: bytes) -> None:
    old = await join_agent(hub.url, secret, "alice")
    await old.send(sample(1))
    await old.wait_ack(1)

    new = await join_agent(hub.url, secret, "alice")
    assert new.welcome.last_seq == 1
    error, code = await expect_refusal(old.ws)
    assert code == CloseCode.DUPLICATE_STUDENT
    assert error is not None and "replaced" in error.message

    await new.send(sample(2))
    await new.wait_ack(2)
    await asyncio.sleep(0.05)  # let the old handler finish; it must not mark alice offline
    (student,) = hub.students()
    assert student.connected
    assert hub.connected == ["alice"]
    await new.close()
    await eventually(lambda: not hub.students()[0].connected)


async def test_hub_full(make_config: Callable[..., Config], secret: bytes) -> None:
    async with Hub(make_config(max_agents=1), secret) as hub:
        first = await join_agent(hub.url, secret, "alice")
        ws = await open_ws(hub.url)
        hello = await recv(ws)
        assert isinstance(hello, Hello)
        await ws.send(encode(make_join(secret, hello, "bob", fingerprint=hub.fingerprint)))
        error, code = await expect_refusal(ws)
        assert code == CloseCode.HUB_FULL and error is not None
        # The same student reconnecting is a replacement, not a new agent.
        again = await join_agent(hub.url, secret, "alice")
        await first.ws.wait_closed()
        await again.close()


async def test_stop_closes_agents_and_ends_session(make_config: Callable[..., Config], secret: bytes) -> None:
    config = make_config()
    hub = Hub(config, secret)
    await hub.start()
    agent = await join_agent(hub.url, secret, "alice")
    await agent.send(sample(1))
    await agent.send(sample(2))  # not necessarily acked yet: stop must flush it
    first_session = hub.session_id
    await hub.stop()
    await agent.ws.wait_closed()
    assert agent.ws.close_code == 1001

    async with Hub(config, secret) as second:
        assert not second.resumed
        assert second.session_id != first_session
        again = await join_agent(second.url, secret, "alice")
        assert again.welcome.last_seq == 0  # seqs are per session: a new one starts afresh
        assert await second.store.last_seq("alice", first_session) == 2
        await again.close()


async def test_a_hub_restarted_mid_class_keeps_the_segments_numbered(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    """A crash (no clean end) and a restart resume the session with its segments, in order."""
    config = make_config()
    conn = connect(config.database_path)
    now = time.time()
    session, _ = open_or_resume_session(conn, CLASS_ID, "testhub", now - 120)
    for started_at, label in ((now - 100, "intro"), (now - 50, "recursion")):
        conn.execute(
            "INSERT INTO segments (session_id, started_at, label) VALUES (?, ?, ?)",
            (session, started_at, label),
        )
    conn.commit()
    conn.close()
    async with Hub(config, secret) as hub:
        assert hub.resumed and hub.session_id == session
        assert [(s.index, s.label) for s in hub.segments()] == [(1, "intro"), (2, "recursion")]
        await hub.mark_segment("exercises")
        assert [(s.index, s.label) for s in hub.segments()][-1] == (3, "exercises")
        assert await hub.store.flush()
        assert await hub.store.segments(session) == [
            (now - 100, "intro"),
            (now - 50, "recursion"),
            (hub.segments()[-1].started_at, "exercises"),
        ]


async def test_port_in_use_is_a_hub_error(make_config: Callable[..., Config], secret: bytes) -> None:
    async with Hub(make_config(), secret) as first:
        with pytest.raises(HubError, match="cannot listen"):
            await Hub(make_config(port=first.port), secret).start()
        agent = await join_agent(first.url, secret, "alice")  # the first hub is unharmed
        await agent.close()
