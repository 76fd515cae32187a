"""No-secret floods against a live hub: honest agents keep streaming and honest joins from
another address stay fast, the hub's memory stays bounded and is given back, and running out
of file descriptors costs at most one log line per second.

Each flood runs in a process of its own (`smartsession.bench.floods`) from source addresses
127.0.0.2 and up; the honest agents connect from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import logfmt, stored_seqs, wait_for

from smartsession.config import Config, read_secret, write_secret
from smartsession.hub import Hub
from smartsession.hub.memory import resident_mb

from .wsagent import CLASS_ID, TestAgent, eventually, join_agent, sample

#: The bound on an honest join's latency during any flood (the target of `bench abuse`).
JOIN_BOUND = 2.0
STREAMERS = 3
#: What a flood may add to the hub's resident memory while it lasts (without the limits a
#: stalled TLS flood of this size costs over 100 MB).
PEAK_BOUND_MB = 40.0


@dataclass
class Honest:
    """Agents streaming from 127.0.0.1 and joins probing the hub while a flood runs."""

    url: str
    secret: bytes
    agents: list[TestAgent]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    join_seconds: list[float] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)

    async def stream(self, agent: TestAgent) -> None:
        """One sample at a time, each acked before the next (a gap or a refusal fails here)."""
        seq = agent.acked
        while not self.stop.is_set():
            seq += 1
            await agent.send(sample(seq))
            await agent.wait_ack(seq)
            self.sent[agent.join.student_id] = seq
            await asyncio.sleep(0.02)

    async def probe(self, monitor: Callable[[], None]) -> None:
        """Join as a new student again and again, timing each join."""
        loop = asyncio.get_running_loop()
        n = 0
        while not self.stop.is_set():
            n += 1
            started = loop.time()
            agent = await join_agent(self.url, self.secret, f"probe-{n}")
            self.join_seconds.append(loop.time() - started)
            await agent.close()
            monitor()
            await asyncio.sleep(0.05)

    def check(self) -> None:
        assert self.join_seconds, "no honest join was tried during the flood"
        assert max(self.join_seconds) <= JOIN_BOUND, sorted(self.join_seconds)[-5:]
        for agent in self.agents:
            assert agent.errors == []
            assert self.sent.get(agent.join.student_id, 0) >= 3, self.sent


@asynccontextmanager
async def flooding(**job: Any) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
    """Run a flood process; yields a future of its stats, done when the flood has ended."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartsession.bench.floods", json.dumps(job), stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert json.loads(await process.stdout.readline()) == {"ready": True}
        stats: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(_last_line(process))
        yield stats
        await stats
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _last_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await process.stdout.readline()
    assert await process.wait() == 0
    stats: dict[str, Any] = json.loads(line)
    return stats


async def run_flood(
    url: str, secret: bytes, port: int, monitor: Callable[[], None] = lambda: None, **job: Any
) -> tuple[Honest, dict[str, Any]]:
    """Stream and probe from 127.0.0.1 while the flood ``job`` runs against ``port``."""
    agents = [await join_agent(url, secret, f"stream-{i}") for i in range(STREAMERS)]
    honest = Honest(url, secret, agents)
    async with flooding(port=port, **job) as stats:
        tasks = [asyncio.create_task(honest.stream(agent)) for agent in agents]
        tasks.append(asyncio.create_task(honest.probe(monitor)))
        done = await stats
        honest.stop.set()
        await asyncio.gather(*tasks)
    for agent in agents:
        await agent.close()
    honest.check()
    return honest, done


async def check_stored(hub: Hub, honest: Honest) -> None:
    await hub.store.flush(within=5.0)
    for student_id, last in honest.sent.items():
        assert await hub.store.seqs(student_id) == list(range(1, last + 1)), student_id


@pytest.fixture
def flood_config(make_config: Callable[..., Config]) -> Config:
    return make_config(handshake_timeout=1.0, join_timeout=1.0)


async def test_silent_tcp_flood(
    flood_config: Config, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartsession.hub")
    async with Hub(flood_config, secret) as hub:
        server = hub._server
        assert server is not None
        limits = server.admission.limits
        peak_pending = 0

        def monitor() -> None:
            nonlocal peak_pending
            peak_pending = max(peak_pending, server.admission.pending)

        honest, stats = await run_flood(
            hub.url, secret, hub.port, monitor, kind="tcp", sources=24, per_source=24, seconds=3.0
        )
        assert stats["opened"] >= 24 * 24
        # Beyond 16 per address (and 256 in all) the hub closed them at once; the rest when
        # handshake_timeout was up.
        assert stats["closed_by_hub"] >= stats["opened"] - 24 * 24
        assert 0 < peak_pending <= limits.pending
        await check_stored(hub, honest)
        await eventually(lambda: server.admission.pending == 0)


async def test_stalled_tls_flood_keeps_memory_bounded_and_gives_it_back(
    flood_config: Config, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartsession.hub")
    async with Hub(flood_config, secret) as hub:
        before = resident_mb()
        assert before is not None
        peak = before

        def monitor() -> None:
            nonlocal peak
            peak = max(peak, resident_mb() or 0.0)

        honest, stats = await run_flood(
            hub.url,
            secret,
            hub.port,
            monitor,
            kind="tls",
            sources=32,
            per_source=20,
            whole_hello_every=8,
            seconds=3.0,
        )
        assert stats["opened"] >= 32 * 20 and stats["closed_by_hub"] > 0
        assert peak - before <= PEAK_BOUND_MB, (before, peak)
        await check_stored(hub, honest)
        await eventually(lambda: "a flood of connections is over" in caplog.text, 10.0)
        after = resident_mb()
        assert after is not None and after - before <= 20.0, (before, peak, after)


async def test_unjoined_websockets_reopened_after_each_close_never_lock_out_a_join(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    # Handshakes get longer than in the other floods: on a loaded machine the flood's own TLS
    # handshakes must finish for it to hold its slots (the attack needs them to).
    async with Hub(make_config(handshake_timeout=4.0, join_timeout=1.0), secret) as hub:
        server = hub._server
        assert server is not None
        limits = server.admission.limits
        peak_unauthenticated = 0

        def monitor() -> None:
            nonlocal peak_unauthenticated
            peak_unauthenticated = max(peak_unauthenticated, server.admission.unauthenticated)

        # Twelve addresses could hold 12 x 8 = 96 of the 100 slots; they get at most 90.
        honest, stats = await run_flood(
            hub.url, secret, hub.port, monitor, kind="ws", sources=12, per_source=10, seconds=5.0
        )
        assert stats["close_codes"].get("4408", 0) >= 12 * 4  # each address reopened after its 4408s
        assert stats["failed"] > 0  # beyond 8 per address: refused at accept
        assert peak_unauthenticated <= limits.unauthenticated - limits.reserved + 1
        await check_stored(hub, honest)


async def test_the_hub_sends_small_frames_at_once(hub: Hub, secret: bytes) -> None:
    """Nagle's algorithm is off on the connections the hub accepts itself (with it on, every
    hello and ack waited for the peer's delayed ACK: 40 ms a join)."""
    agent = await join_agent(hub.url, secret, "alice")
    assert hub._server is not None and hub._server._acceptor is not None
    (connection,) = hub._server._acceptor._connections
    sock = connection.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await agent.close()


# descriptors run out --------------------------------------------------------------------


@dataclass
class HubProcess:
    """``smartsession hub`` in a subprocess, logging to a file."""

    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> Path:
        return self.folder / "hub.log"

    def lines(self) -> list[tuple[datetime, str, str]]:
        found = []
        for line in self.log.read_text().splitlines():
            record = logfmt(line)
            if "ts" in record:
                stamp = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
                found.append((stamp, record["level"].upper(), record.get("msg", "")))
        return found

    def url(self) -> str:
        for _, _, message in self.lines():
            if match := re.search(r"listening on (wss://\S+)", message):
                return match[1]
        return ""


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[HubProcess]:
    write_secret(tmp_path / "class.secret")
    (tmp_path / "teacher.toml").write_text(
        f'[class]\nid = "{CLASS_ID}"\n'
        '[network]\ninterfaces = ["127.0.0.1"]\ndiscovery = false\n'
        '[hub]\nhost = "127.0.0.1"\nport = 0\nhub_id = "fdhub"\nhandshake_timeout = 2.0\n'
        '[storage]\ndatabase = "hub.db"\nbatch_interval = 0.02\n'
    )
    command = [sys.executable, "-m", "smartsession", "--log-file", str(tmp_path / "hub.log")]
    process = subprocess.Popen([*command, "hub", "-c", str(tmp_path / "teacher.toml")])
    hub = HubProcess(tmp_path, process)
    try:
        wait_for(
            lambda: hub.log.exists() and hub.url(), 30.0, "the hub to listen", lambda: hub.log.read_text()
        )
        yield hub
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_running_out_of_descriptors_is_one_line_a_second_and_joined_agents_carry_on(
    hub_process: HubProcess,
) -> None:
    secret = read_secret(hub_process.folder / "class.secret")
    url = hub_process.url()
    pid = hub_process.process.pid
    # Room for the streamers, the probes and a few flooders, no more.
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 24, in_use + 24))
    port = int(url.rsplit(":", 1)[1].strip("/"))
    honest, stats = await run_flood(url, secret, port, kind="tcp", sources=16, per_source=16, seconds=4.0)
    assert stats["opened"] >= 16 * 16
    agent = await join_agent(url, secret, "after-the-flood")  # accepts again
    await agent.send(sample(1))
    await agent.wait_ack(1)
    await agent.close()

    hub_process.process.send_signal(signal.SIGTERM)
    assert hub_process.process.wait(timeout=15) == 0
    text = hub_process.log.read_text()
    assert "Traceback" not in text
    stamps = [
        stamp
        for stamp, _, message in hub_process.lines()
        if message.startswith(("out of file descriptors", "cannot accept connections"))
    ]
    assert stamps, "the flood never ran the hub out of descriptors"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    stored = stored_seqs(hub_process.folder / "hub.db")
    for student_id, last in honest.sent.items():
        assert sorted(stored[student_id]) == list(range(1, last + 1)), student_id
