"""The load generators of ``smartsession bench hub``: asyncio clients, many per process.

Each process opens its connections (the real handshake and proofs against the hub), says
it is ready, waits for the start time, then either saturates (a window of items in flight
per connection) or paces (``rate`` samples/s per connection), and reports what it sent,
what was acked inside the measurement window, and the send -> ack latencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from smartsession.agent.connection import client_context, peer_fingerprint
from smartsession.core.protocol import (
    PROTOCOL_VERSION,
    Error,
    Join,
    Welcome,
    agent_proof,
    decode_hub_message,
    encode,
    hub_proof_material,
)
from smartsession.keys import MachineKey, hub_signature_valid

#: Seconds any single network step may take before the bench gives up.
STEP_TIMEOUT = 60.0
#: Handshakes in flight at once per load process.
CONNECT_CONCURRENCY = 32
#: The class key and class id of the bench's hub (a throwaway hub in a temporary folder).
SECRET = bytes(range(32))
CLASS_ID = "bench"

_SAMPLE = (
    '{"type":"sample","seq":%d,"ts":%.3f,"state":"focused","attention":0.82,"confusion":0.12,'
    '"faces":1,"alert":null,"reasons":["looking at the screen"],"cues":{"yaw":2.5,"pitch":-3.1,'
    '"roll":0.4,"gaze_away":0.05,"brow_down":0.1,"smile":0.2,"face_share":0.3}}'
)


def sample_frame(seq: int) -> str:
    """One valid protocol sample as a JSON text frame (about 260 bytes)."""
    return _SAMPLE % (seq, time.time())


@dataclass
class LoadClient:
    """One load connection: what it sent, what came back, and when."""

    student_id: str
    ws: ClientConnection
    sent: int = 0
    acked: int = 0
    send_times: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""

    async def receive(self) -> None:
        try:
            async for frame in self.ws:
                message = json.loads(frame)
                kind = message.get("type")
                if kind not in ("ack", "sample"):
                    self.error = f"{kind}: {message.get('message', '')}"
                    continue
                seq = int(message["seq"])
                now = time.monotonic()
                if seq > self.acked:
                    if self.send_times:
                        for s in range(self.acked + 1, seq + 1):
                            sent_at = self.send_times.pop(s, None)
                            if sent_at is not None:
                                self.latencies.append((now - sent_at) * 1000.0)
                    self.acked = seq
                    self.progress.set()
        except Exception as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        self.progress.set()


async def open_client(url: str, student_id: str, hub: bool, class_id: str = CLASS_ID) -> LoadClient:
    """Connect to ``url``; with ``hub``, join as ``student_id`` of ``class_id`` with the real proofs both ways."""
    ws = await connect(
        url,
        compression=None,
        ssl=client_context() if url.startswith("wss:") else None,
        open_timeout=STEP_TIMEOUT,
        max_size=None,
    )
    if hub:
        fingerprint = peer_fingerprint(ws)
        async with asyncio.timeout(STEP_TIMEOUT):
            hello = json.loads(await ws.recv())
            nonce = secrets.token_hex(16)
            key = MachineKey.derive(SECRET, class_id, student_id)
            proof = agent_proof(key.key, hello["nonce"], nonce, student_id, fingerprint)
            join = Join(
                v=PROTOCOL_VERSION,
                student_id=student_id,
                name=student_id,
                host="bench",
                agent_version="bench",
                nonce=nonce,
                proof=proof,
            )
            await ws.send(encode(join))
            welcome = decode_hub_message(await ws.recv())
        if isinstance(welcome, Error):
            raise RuntimeError(f"hub refused {student_id}: {welcome.code} {welcome.message}")
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"expected a welcome, got {welcome!r}")
        material = hub_proof_material(hello["nonce"], nonce, student_id, fingerprint, welcome)
        if not hub_signature_valid(key.hub_public_key, material, welcome.proof):
            raise RuntimeError("the hub's proof does not match")
    return LoadClient(student_id=student_id, ws=ws)


async def _saturate(client: LoadClient, window: int, stop_at: float) -> None:
    while time.monotonic() < stop_at and not client.error:
        while client.sent - client.acked >= window:
            client.progress.clear()
            if client.error or client.ws.close_code is not None:
                return
            await client.progress.wait()
        client.sent += 1
        await client.ws.send(sample_frame(client.sent))


async def _paced(client: LoadClient, rate: float, start: float, stop_at: float) -> None:
    period = 1.0 / rate
    due = start + random.uniform(0.0, period)
    while due < stop_at and not client.error:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        client.sent += 1
        client.send_times[client.sent] = time.monotonic()
        await client.ws.send(sample_frame(client.sent))
        due += period


async def _drain(client: LoadClient, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while client.acked < client.sent and not client.error:
                client.progress.clear()
                if client.ws.close_code is not None:
                    break
                await client.progress.wait()


async def _load(pipe: Connection, job: dict[str, Any]) -> None:
    """Connect ``job["students"]`` to ``job["url"]`` (with the proofs when ``job["hub"]``), say
    ready, take (start, stop, mark a, mark b) from ``pipe``, run ``job["mode"]`` ("saturate"
    with ``job["window"]``, else paced at ``job["rate"]``), drain, and send back the results.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(student_id: str) -> LoadClient:
        async with gate:
            return await open_client(job["url"], student_id, job["hub"])

    clients = await asyncio.gather(*(open_one(sid) for sid in job["students"]))
    receivers = [asyncio.create_task(c.receive()) for c in clients]
    pipe.send({"ready": len(clients)})
    start, stop_at, mark_a, mark_b = await loop.run_in_executor(None, pipe.recv)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    marks: list[int] = []

    async def sample_marks() -> None:
        for mark in (mark_a, mark_b):
            await asyncio.sleep(max(0.0, mark - time.monotonic()))
            marks.append(sum(c.acked for c in clients))

    marker = asyncio.create_task(sample_marks())
    if job["mode"] == "saturate":
        senders = [_saturate(c, job["window"], stop_at) for c in clients]
    else:
        senders = [_paced(c, job["rate"], start, stop_at) for c in clients]
    await asyncio.gather(*senders)
    await marker
    await asyncio.gather(*(_drain(c, 30.0) for c in clients))
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    pipe.send(
        {
            "acked_in_window": marks[1] - marks[0] if len(marks) == 2 else 0,
            "sent": {c.student_id: c.sent for c in clients},
            "unacked": sum(c.sent - c.acked for c in clients),
            "latencies": [x for c in clients for x in c.latencies],
            "errors": sorted({c.error for c in clients if c.error}),
        }
    )


def load_process(pipe: Connection, job: dict[str, Any]) -> None:
    """A load generator process: run ``job`` (see `_load`), report through ``pipe``."""
    try:
        asyncio.run(_load(pipe, job))
    except BaseException as exc:
        pipe.send({"failed": f"{type(exc).__name__}: {exc}"})
        raise
