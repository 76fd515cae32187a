"""The runner: frames -> engine -> outbox -> link, against a real Hub found through zeroconf."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from smartsession.agent import runner
from smartsession.agent.runner import AgentReport, run_agent
from smartsession.agent.sources import SimulatedSource
from smartsession.config import AgentConfig, ClassConfig, Config, HubConfig, NetworkConfig, StorageConfig
from smartsession.core.protocol import VisionMode
from smartsession.core.signals import FrameSignals
from smartsession.hub.service import Hub
from smartsession.keys import MachineKey

SECRET = bytes(range(32))
TIMEOUT = 15.0


def make_config(tmp_path: Path, *, hub_url: str = "") -> Config:
    return Config(
        class_=ClassConfig(id=f"cs101-{os.getpid()}"),  # per run: zeroconf is shared by the machine
        network=NetworkConfig(interfaces=("127.0.0.1",)),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id="testhub", join_timeout=5.0),
        storage=StorageConfig(database=str(tmp_path / "hub.db"), batch_interval=0.02),
        agent=AgentConfig(
            student_id="pc-07",
            display_name="Student 7",
            hub_url=hub_url,
            reconnect_initial=0.05,
            reconnect_max=0.5,
            outbox_path=str(tmp_path / "outbox.sqlite"),
        ),
    )


#: How far FastSource's clock may run ahead of the wall clock, in seconds: well inside the
#: hub's allowed clock skew (120 s), which refuses items from further ahead.
AHEAD = 30.0


class FastSource:
    """A simulated student on a fast-forward clock: one simulated second every ~25 ms, until
    it is `AHEAD` seconds ahead of the wall clock; then it keeps pace with it."""

    def __init__(self) -> None:
        self.now = time.time()
        self.inner = SimulatedSource("mixed", 5, 5.0, clock=self.clock, sleep=self.sleep)
        self.closed = threading.Event()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        time.sleep(max(0.005, self.now - time.time() - AHEAD))

    @property
    def vision(self) -> VisionMode:
        return self.inner.vision

    def read(self) -> FrameSignals:
        return self.inner.read()

    def schedule(self, t: float) -> None:
        self.inner.schedule(t)

    def close(self) -> None:
        self.inner.close()
        self.closed.set()


async def eventually(predicate: Callable[[], object], what: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - polling in a test
            await asyncio.sleep(0.02)


async def test_every_seq_produced_is_stored_exactly_once(tmp_path: Path) -> None:
    config = msgspec.structs.replace(
        make_config(tmp_path), network=NetworkConfig(interfaces=("127.0.0.1",), discovery=True)
    )
    source = FastSource()
    stop = asyncio.Event()
    async with Hub(config, SECRET) as hub:
        agent = asyncio.create_task(
            run_agent(config, MachineKey.derive(SECRET, config.class_.id, config.student_id), source, stop)
        )
        stored: list[int] = []

        async def enough() -> bool:
            stored[:] = await hub.store.seqs("pc-07")
            return len(stored) >= 15

        async with asyncio.timeout(TIMEOUT):
            while not await enough():  # noqa: ASYNC110 - polling the store
                await asyncio.sleep(0.05)
        (student,) = hub.students()
        assert student.vision == "simulated"  # the agent told the hub where its signals come from
        stop.set()
        report = await asyncio.wait_for(agent, TIMEOUT)
        await hub.store.flush()
        stored = await hub.store.seqs("pc-07")
    assert source.closed.is_set()
    assert report.student_id == "pc-07"
    assert report.first_seq == 1
    assert report.acked_seq == report.last_seq == len(stored)
    assert sorted(stored) == list(range(1, report.last_seq + 1))
    assert report.unacked == report.dropped == report.invalid == 0
    assert report.samples_produced + report.events_produced == report.last_seq
    assert report.connections == 1
    decoded = msgspec.json.decode(msgspec.json.encode(report), type=AgentReport)
    assert decoded == report


async def test_stops_without_a_hub_and_reports_what_is_unsent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.2)
    config = make_config(tmp_path, hub_url="ws://127.0.0.1:9/")  # discard port: nothing listens
    source = FastSource()
    stop = asyncio.Event()
    agent = asyncio.create_task(
        run_agent(config, MachineKey.derive(SECRET, config.class_.id, config.student_id), source, stop)
    )
    await eventually(lambda: source.now > time.time() + 5.0, "five simulated seconds produced")
    stop.set()
    report = await asyncio.wait_for(agent, TIMEOUT)
    assert source.closed.is_set()
    assert report.last_seq > 0
    assert report.unacked == report.last_seq - report.first_seq + 1
    assert report.acked_seq == 0
    assert report.connections == 0
