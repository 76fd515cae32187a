"""A small protocol-speaking agent for hub tests (real WebSocket client, core.protocol frames)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from smartsession.agent.connection import client_context, peer_fingerprint
from smartsession.core.protocol import (
    PROTOCOL_VERSION,
    Ack,
    AgentMessage,
    Error,
    Event,
    EventKind,
    Hello,
    HubMessage,
    Join,
    Sample,
    Welcome,
    agent_proof,
    decode_hub_message,
    encode,
    hub_proof_material,
)
from smartsession.core.states import AlertReason, State
from smartsession.keys import MachineKey, hub_signature_valid

TIMEOUT = 5.0
#: The class of the test hubs; per test run, so two runs on one machine never meet on zeroconf.
CLASS_ID = f"cs101-{os.getpid()}"


def sample(seq: int, state: State = State.FOCUSED, alert: AlertReason | None = None) -> Sample:
    return Sample(
        seq=seq,
        ts=time.time(),
        state=state,
        attention=0.8,
        confusion=0.1,
        faces=1,
        alert=alert,
        reasons=(f"reason {seq}",),
    )


def alert_event(seq: int, reason: AlertReason = AlertReason.NO_FACE) -> Event:
    return Event(seq=seq, ts=time.time(), kind=EventKind.ALERT, state=State.ALERT, reason=reason)


async def recv(ws: ClientConnection) -> HubMessage:
    async with asyncio.timeout(TIMEOUT):
        frame = await ws.recv()
    return decode_hub_message(frame)


async def expect_refusal(ws: ClientConnection) -> tuple[Error | None, int | None]:
    """Read until the hub closes; return the last Error frame seen and the close code."""
    error: Error | None = None
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = decode_hub_message(await ws.recv())
                if isinstance(message, Error):
                    error = message
    except ConnectionClosed:
        pass
    return error, ws.close_code


def machine(secret: bytes, student_id: str = "pc-01") -> MachineKey:
    """The machine key of ``student_id`` in the test class, made from the class key ``secret``."""
    return MachineKey.derive(secret, CLASS_ID, student_id)


def make_join(
    secret: bytes, hello: Hello, student_id: str, *, v: int = PROTOCOL_VERSION, fingerprint: str = ""
) -> Join:
    """A join for ``student_id`` proved with that student's machine key (made from the class key)."""
    key = MachineKey.derive(secret, hello.class_id, student_id)
    nonce = secrets.token_hex(16)
    return Join(
        v=v,
        student_id=student_id,
        name=f"Student {student_id}",
        host=f"{student_id}-pc",
        agent_version="test",
        nonce=nonce,
        proof=agent_proof(key.key, hello.nonce, nonce, student_id, fingerprint),
    )


@dataclass
class TestAgent:
    """A joined agent."""

    __test__ = False

    ws: ClientConnection
    hello: Hello
    join: Join
    welcome: Welcome
    acked: int = 0
    errors: list[Error] = field(default_factory=list)

    async def send(self, message: AgentMessage) -> None:
        await self.ws.send(encode(message))

    async def wait_ack(self, seq: int) -> None:
        while self.acked < seq:
            message = await recv(self.ws)
            if isinstance(message, Ack):
                assert message.seq >= self.acked
                self.acked = message.seq
            elif isinstance(message, Error):
                self.errors.append(message)

    async def close(self) -> None:
        await self.ws.close()


async def open_ws(url: str, **options: Any) -> ClientConnection:
    tls = client_context() if url.startswith("wss://") else None
    return await connect(url, ssl=tls, compression=None, open_timeout=TIMEOUT, **options)


async def join_agent(url: str, secret: bytes, student_id: str) -> TestAgent:
    ws = await open_ws(url)
    hello = await recv(ws)
    assert isinstance(hello, Hello)
    fingerprint = peer_fingerprint(ws)
    join = make_join(secret, hello, student_id, fingerprint=fingerprint)
    await ws.send(encode(join))
    welcome = await recv(ws)
    assert isinstance(welcome, Welcome), welcome
    material = hub_proof_material(hello.nonce, join.nonce, student_id, fingerprint, welcome)
    assert hub_signature_valid(
        MachineKey.derive(secret, hello.class_id, student_id).hub_public_key, material, welcome.proof
    )
    return TestAgent(ws=ws, hello=hello, join=join, welcome=welcome, acked=welcome.last_seq)


async def eventually(predicate: Callable[[], object], within: float = TIMEOUT) -> None:
    """Poll ``predicate`` until it is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if predicate():
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)
