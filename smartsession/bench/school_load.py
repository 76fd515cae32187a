"""The simulated agents of ``smartsession bench school``: many rooms' students per process.

Each process joins its students to their rooms' hubs with the real handshake and proofs
(`smartsession.bench.hub_load.open_client`), says it is ready, then sends ``rate`` samples
per second per student, each student on its own schedule, until told to stop; then it waits
for the last acks and reports, per student, what it sent and what was acked, and how many
acks arrived in each second (``time.monotonic`` seconds, one clock for every process), which
tells whether the hubs kept acking while the school server was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import random
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from smartsession.bench.hub_load import (
    CONNECT_CONCURRENCY,
    STEP_TIMEOUT,
    LoadClient,
    open_client,
    sample_frame,
)
from smartsession.bench.school_rooms import START_TIMEOUT, Room

#: Seconds the last acks may take after sending stops.
DRAIN_WITHIN = 30.0


async def _receive(client: LoadClient, acks: Counter[int]) -> None:
    try:
        async for frame in client.ws:
            message = json.loads(frame)
            if message.get("type") != "ack":
                client.error = f"{message.get('type')}: {message.get('message', '')}"
                continue
            seq = int(message["seq"])
            if seq > client.acked:
                acks[int(time.monotonic())] += seq - client.acked
                client.acked = seq
                client.progress.set()
    except Exception as exc:
        client.error = client.error or f"{type(exc).__name__}: {exc}"
    client.progress.set()


async def _send(client: LoadClient, rate: float, stop: asyncio.Event) -> None:
    period = 1.0 / rate
    due = time.monotonic() + random.uniform(0.0, period)
    while not stop.is_set() and not client.error:
        delay = due - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
        client.sent += 1
        try:
            await client.ws.send(sample_frame(client.sent))
        except Exception as exc:
            client.error = f"{type(exc).__name__}: {exc}"
            return
        due += period


async def _drain(client: LoadClient) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_WITHIN):
            while client.acked < client.sent and not client.error and client.ws.close_code is None:
                client.progress.clear()
                await client.progress.wait()


async def _load(pipe: Connection, job: dict[str, Any]) -> None:
    """Join ``job["rooms"]`` (url, class id, student ids; ids unique across rooms), send at
    ``job["rate"]`` until anything arrives on ``pipe``, drain, report."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def join(url: str, class_id: str, student_id: str) -> LoadClient:
        async with gate:
            return await open_client(url, student_id, True, class_id)

    clients = await asyncio.gather(
        *(join(url, class_id, sid) for url, class_id, students in job["rooms"] for sid in students)
    )
    acks: Counter[int] = Counter()
    receivers = [asyncio.create_task(_receive(c, acks)) for c in clients]
    stop = asyncio.Event()
    senders = [asyncio.create_task(_send(c, job["rate"], stop)) for c in clients]
    pipe.send({"ready": len(clients)})
    await loop.run_in_executor(None, pipe.recv)
    stop.set()
    await asyncio.gather(*senders)
    await asyncio.gather(*(_drain(c) for c in clients))
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    pipe.send(
        {
            "sent": {c.student_id: c.sent for c in clients},
            "acked": {c.student_id: c.acked for c in clients},
            "acks_per_second": dict(acks),
            "errors": sorted({c.error for c in clients if c.error}),
        }
    )


def load_process(pipe: Connection, job: dict[str, Any]) -> None:
    """A load process: run ``job`` (see `_load`), report through ``pipe``."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per student
    try:
        asyncio.run(_load(pipe, job))
    except BaseException as exc:
        pipe.send({"failed": f"{type(exc).__name__}: {exc}"})
        raise


#: Agents per load-generator process.
AGENTS_PER_LOAD = 400

_ctx = multiprocessing.get_context("spawn")


class Load:
    """Load-generator processes driving every room's students; `stop` returns the merged results."""

    def __init__(self, rooms: list[Room], rate: float) -> None:
        agents = sum(len(r.students) for r in rooms)
        count = max(1, math.ceil(agents / AGENTS_PER_LOAD))
        shares: list[list[Room]] = [rooms[i::count] for i in range(count)]
        self._workers: list[tuple[Any, Connection]] = []
        for share in (s for s in shares if s):
            parent, child = _ctx.Pipe()
            job = {"rooms": [(r.url, r.class_id, r.students) for r in share], "rate": rate}
            process = _ctx.Process(target=load_process, args=(child, job), daemon=True)
            process.start()
            self._workers.append((process, parent))
        for _, pipe in self._workers:
            if not pipe.poll(START_TIMEOUT):
                raise RuntimeError("the simulated agents did not join in time")
            ready = pipe.recv()
            if "failed" in ready:
                raise RuntimeError(f"simulated agents failed: {ready['failed']}")

    def stop(self) -> dict[str, Any]:
        for _, pipe in self._workers:
            pipe.send("stop")
        merged: dict[str, Any] = {"sent": {}, "acked": {}, "acks_per_second": {}, "errors": set()}
        try:
            for _, pipe in self._workers:
                if not pipe.poll(STEP_TIMEOUT * 2):
                    raise RuntimeError("the simulated agents did not finish in time")
                result = pipe.recv()
                if "failed" in result:
                    raise RuntimeError(f"simulated agents failed: {result['failed']}")
                merged["sent"].update(result["sent"])
                merged["acked"].update(result["acked"])
                for second, n in result["acks_per_second"].items():
                    merged["acks_per_second"][int(second)] = merged["acks_per_second"].get(int(second), 0) + n
                merged["errors"].update(result["errors"])
        finally:
            for process, _ in self._workers:
                process.join(STEP_TIMEOUT)
                if process.is_alive():
                    process.kill()
                    process.join()
        merged["errors"] = sorted(merged["errors"])
        return merged
