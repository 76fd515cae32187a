"""Discovery that students cannot stall: a real hub, a real `Link` with a real `Outbox`, zeroconf on
127.0.0.1 with adverts registered by the test, and servers that accept TCP and never say a word."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.agent.link import BAD_HUB_SECONDS, Link, LinkState
from smartsession.agent.outbox import Outbox
from smartsession.config import AgentConfig, Config
from smartsession.core.discovery import SERVICE_TYPE, txt_record
from smartsession.core.protocol import Sample
from smartsession.core.states import State
from smartsession.hub import Hub
from smartsession.hub.announcer import instance_name

from .proxy import Relay
from .wsagent import CLASS_ID, eventually, join_agent, machine

TIMEOUT = 15.0
STUDENT = "pc-01"


class SilentServer:
    """Accepts TCP connections and never writes a byte; counts connections and how many the agent gave up."""

    def __init__(self) -> None:
        self.connections = 0
        self.abandoned = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while await reader.read(4096):  # whatever the agent says goes unanswered
                pass
        except ConnectionError:
            pass
        self.abandoned += 1
        writer.close()


class Adverts:
    """Zeroconf adverts of this class registered by the test (as a student's machine would)."""

    def __init__(self) -> None:
        self.zc = AsyncZeroconf(interfaces=["127.0.0.1"])

    @staticmethod
    def info(name: str, port: int, hub_id: str, fingerprint: str, server: str) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            port=port,
            properties=txt_record(CLASS_ID, hub_id, tls=True, fingerprint=fingerprint),
            parsed_addresses=["127.0.0.1"],
            server=server,
        )

    async def add(
        self, port: int, hub_id: str, fingerprint: str, *, name: str = "", server: str = ""
    ) -> AsyncServiceInfo:
        """Advertise ``port``; ``name`` defaults to ``<class>-<hub_id>``. Skips the probe: a
        student who wants to shadow a name does not ask first."""
        info = self.info(
            name or f"{CLASS_ID}-{hub_id}.{SERVICE_TYPE}",
            port,
            hub_id,
            fingerprint,
            server or f"{hub_id}-pc.local.",
        )
        await (await self.zc.async_register_service(info, cooperating_responders=True))
        return info

    async def close(self) -> None:
        await self.zc.async_close()


@asynccontextmanager
async def adverts() -> AsyncIterator[Adverts]:
    registered = Adverts()
    try:
        yield registered
    finally:
        await registered.close()


class Agent:
    """A `Link` that finds the hub through zeroconf, with its outbox, running until `stop`."""

    def __init__(self, config: Config, secret: bytes, outbox: Outbox, **link: Any) -> None:
        self.outbox = outbox
        self.link = Link(config, machine(secret, config.agent.student_id), outbox, **link)
        loop = asyncio.get_running_loop()
        outbox.on_durable = lambda: loop.call_soon_threadsafe(self.link.wake)
        self.task = asyncio.create_task(self.link.run())

    def produce(self, n: int) -> None:
        for _ in range(n):
            seq = self.outbox.next_seq
            self.outbox.add(
                Sample(
                    seq=seq,
                    ts=time.time(),
                    state=State.FOCUSED,
                    attention=0.9,
                    confusion=0.1,
                    faces=1,
                )
            )
        self.link.wake()

    async def delivered(self, within: float = TIMEOUT) -> None:
        """Wait until the hub acknowledged everything produced."""
        await eventually(lambda: len(self.outbox) == 0 and self.link.state is LinkState.STREAMING, within)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.outbox.on_durable = None


def agent_config(hub_config: Config, **agent: Any) -> Config:
    """The hub's class and network, with discovery on and no fixed URL."""
    return msgspec.structs.replace(
        hub_config,
        network=msgspec.structs.replace(hub_config.network, discovery=True),
        agent=AgentConfig(student_id=STUDENT, reconnect_initial=0.05, reconnect_max=0.2, **agent),
    )


async def kick(hub: Hub, secret: bytes, agent: Agent) -> None:
    """Make the agent reconnect: another connection with its student id replaces its own (4409)."""
    before = agent.link.connections
    intruder = await join_agent(hub.url, secret, STUDENT)
    await eventually(lambda: agent.link.connections > before, TIMEOUT)  # the agent replaced it back
    await intruder.close()


# many silent adverts ------------------------------------------------------------------------


async def test_twenty_silent_adverts_do_not_delay_the_join(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    """The agent is busy with 20 adverts that never answer when the hub appears: it joins at once."""
    config = make_config(discovery=True)
    async with AsyncExitStack() as stack:
        silent = [await stack.enter_async_context(SilentServer()) for _ in range(20)]
        zc = await stack.enter_async_context(adverts())
        agent = Agent(agent_config(config, connect_timeout=5.0), secret, Outbox(600.0))
        stack.push_async_callback(agent.stop)
        await asyncio.gather(*(zc.add(s.port, f"silent{i}", "ab" * 32) for i, s in enumerate(silent)))
        agent.produce(3)
        await eventually(lambda: all(s.connections == 1 for s in silent), TIMEOUT)  # all being tried
        loop = asyncio.get_running_loop()
        started = loop.time()
        hub = await stack.enter_async_context(Hub(config, secret))  # starts and announces itself
        await agent.delivered()
        assert loop.time() - started < 3.0
        assert all(s.abandoned == 0 for s in silent)  # joined while the silent ones were pending
        for _ in range(5):
            agent.produce(1)
            await agent.delivered()
        assert await hub.store.seqs(STUDENT) == list(range(1, 9))  # streaming, no gap
        assert agent.link.connections == 1
        # A reconnect does not go through the silent adverts again either.
        await eventually(lambda: all(s.abandoned == 1 for s in silent), TIMEOUT)
        started = loop.time()
        await kick(hub, secret, agent)
        assert loop.time() - started < 1.5
        agent.produce(2)
        await agent.delivered()
        assert all(s.connections == 1 for s in silent)
        assert await hub.store.seqs(STUDENT) == list(range(1, 11))


async def test_a_failed_candidate_is_retried_only_when_its_advert_changes(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    """Count connections at two silent servers across reconnects: the one whose advert changed is
    tried again, the unchanged one only after `BAD_HUB_SECONDS` (the fallback for a hub that
    comes back unchanged)."""
    config = make_config(discovery=True)
    offset = [0.0]
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(Hub(config, secret))
        changing = await stack.enter_async_context(SilentServer())
        steady = await stack.enter_async_context(SilentServer())
        zc = await stack.enter_async_context(adverts())
        advert = await zc.add(changing.port, "changing", "ab" * 32)
        await zc.add(steady.port, "steady", "ab" * 32)
        agent = Agent(
            agent_config(config, connect_timeout=0.5),
            secret,
            Outbox(600.0),
            clock=lambda: loop.time() + offset[0],
        )
        stack.push_async_callback(agent.stop)
        agent.produce(1)
        await agent.delivered()
        async with asyncio.timeout(TIMEOUT):
            while not changing.connections or not steady.connections:
                await kick(hub, secret, agent)  # until its browser had seen both adverts
        await eventually(lambda: changing.abandoned == steady.abandoned == 1, TIMEOUT)  # both failed
        for _ in range(2):
            await kick(hub, secret, agent)
        assert (changing.connections, steady.connections) == (1, 1)
        # new TXT for one of them (another hub id): a new candidate, tried on the next round
        changed = Adverts.info(advert.name, changing.port, "changed", "ab" * 32, advert.server)
        await (await zc.zc.async_update_service(changed))
        async with asyncio.timeout(TIMEOUT):
            while changing.connections < 2:
                await kick(hub, secret, agent)  # until its browser has seen the update
        assert steady.connections == 1
        # the fallback: after BAD_HUB_SECONDS an unchanged failed candidate is tried again
        offset[0] = BAD_HUB_SECONDS + 1.0
        await kick(hub, secret, agent)
        await eventually(lambda: steady.connections == 2, TIMEOUT)
        agent.produce(1)
        await agent.delivered()
        assert await hub.store.seqs(STUDENT) == [1, 2]


# an advert under the real hub's name --------------------------------------------------------


async def test_an_advert_under_the_hubs_own_name_cannot_take_the_agent_away(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    """A student announces the hub's instance name, pointing at a silent port, and the hub's
    own records are gone from the agent's view (what a spoofed goodbye, or a newer announcement
    once zeroconf keeps one record set per name, does): the name now leads to the student only.
    Streaming goes on; after each reconnect the agent is back on the hub at once (its last good
    address), and no sample is lost."""
    config = make_config()  # the test announces the hub itself, so it can withdraw the records
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(Hub(config, secret))
        silent = await stack.enter_async_context(SilentServer())
        home = await stack.enter_async_context(adverts())
        student = await stack.enter_async_context(adverts())
        name = instance_name(CLASS_ID, hub.hub_id)
        own = await home.add(hub.port, hub.hub_id, hub.fingerprint, name=name, server="teacher-pc.local.")
        agent = Agent(agent_config(config, connect_timeout=1.0), secret, Outbox(600.0))
        stack.push_async_callback(agent.stop)
        agent.produce(3)
        await agent.delivered()
        await (await home.zc.async_unregister_service(own))
        await student.add(silent.port, hub.hub_id, hub.fingerprint, name=name, server="student-pc.local.")
        for _ in range(3):
            agent.produce(1)
            await agent.delivered()
        assert agent.link.connections == 1  # it stayed
        loop = asyncio.get_running_loop()
        for _ in range(2):
            started = loop.time()
            await kick(hub, secret, agent)
            assert loop.time() - started < 1.5
            assert agent.link.hub_url == hub.url
            agent.produce(2)
            await agent.delivered()
            await eventually(lambda: silent.abandoned == silent.connections, TIMEOUT)
        assert await hub.store.seqs(STUDENT) == list(range(1, 11))
    assert silent.connections <= 1  # tried once at most, then skipped


async def test_a_fresh_agent_finds_the_real_hub_behind_a_rogue_advert_under_its_name(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path
) -> None:
    """The rogue (another hub: other secret, other certificate) announces the real hub's name
    before the agent starts: both answer the agent's query; it joins the real one."""
    config = make_config(discovery=True)
    rogue_config = msgspec.structs.replace(
        config,
        network=msgspec.structs.replace(config.network, discovery=False),
        storage=msgspec.structs.replace(config.storage, database=str(tmp_path / "rogue" / "rogue.db")),
    )
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(Hub(config, secret))
        rogue = await stack.enter_async_context(Hub(rogue_config, bytes(reversed(secret))))
        zc = await stack.enter_async_context(adverts())
        name = instance_name(CLASS_ID, hub.hub_id)
        await zc.add(rogue.port, hub.hub_id, rogue.fingerprint, name=name, server="student-pc.local.")
        agent = Agent(agent_config(config), secret, Outbox(600.0))
        stack.push_async_callback(agent.stop)
        agent.produce(3)
        await agent.delivered(within=3.0)
        assert agent.link.hub_url == hub.url
        assert await hub.store.seqs(STUDENT) == [1, 2, 3]
        assert rogue.students() == []


# pinning ----------------------------------------------------------------------------------------


class SlowRelay(Relay):
    """A relay whose connections wait ``delay`` seconds before reaching the hub: a slower route."""

    def __init__(self, target_port: int, delay: float) -> None:
        super().__init__(target_port)
        self.delay = delay

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)  # the simulated latency, not a wait for something
        try:
            await super()._handle(reader, writer)
        except OSError:
            writer.close()  # the hub is gone, and so is the route


async def test_the_pinned_certificate_is_preferred_and_a_switch_is_reported(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second hub with the class secret but another certificate announces the same hub id, once
    with its fingerprint in TXT and once without, and answers faster than the pinned hub. A
    restarted agent (pins from disk) joins the pinned hub and never the other: the first advert
    is not even tried, the second is dropped once its certificate shows. Only once the pinned
    hub is gone does it use the other, with a warning naming both fingerprints."""
    config = make_config()  # announced by the test, at the slower route
    other_config = msgspec.structs.replace(
        config, storage=msgspec.structs.replace(config.storage, database=str(tmp_path / "other" / "hub.db"))
    )
    pins = tmp_path / "agent" / "pins" / f"{CLASS_ID}.json"
    outbox_file = tmp_path / "agent" / "outbox.sqlite"
    settings = agent_config(config, connect_timeout=1.0)
    async with AsyncExitStack() as stack:
        pinned = await stack.enter_async_context(Hub(config, secret))
        route = await stack.enter_async_context(SlowRelay(pinned.port, delay=0.3))
        zc = await stack.enter_async_context(adverts())
        await zc.add(route.port, pinned.hub_id, pinned.fingerprint)
        first = Agent(settings, secret, Outbox(600.0, outbox_file), pins_path=pins)
        first.produce(2)
        await first.delivered()
        await first.stop()
        await asyncio.to_thread(first.outbox.close)
        assert stat.S_IMODE(os.stat(pins).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(pins.parent).st_mode) == 0o700
        assert pinned.fingerprint in pins.read_text()

        other = await stack.enter_async_context(Hub(other_config, secret))
        assert other.fingerprint != pinned.fingerprint
        announced = await stack.enter_async_context(Relay(other.port))  # count the agent's connections
        unannounced = await stack.enter_async_context(Relay(other.port))
        for suffix, relay, fingerprint in (("2", announced, other.fingerprint), ("3", unannounced, "")):
            name = f"{CLASS_ID}-{pinned.hub_id}-{suffix}.{SERVICE_TYPE}"
            await zc.add(relay.port, pinned.hub_id, fingerprint, name=name, server=f"other-{suffix}.local.")
        restarted = Agent(settings, secret, Outbox(600.0, outbox_file), pins_path=pins)
        stack.push_async_callback(restarted.stop)
        restarted.produce(2)
        await restarted.delivered()
        route_url = f"wss://127.0.0.1:{route.port}/"
        assert restarted.link.hub_url == route_url  # at once, from the pin's URL
        async with asyncio.timeout(TIMEOUT):
            while not unannounced.connections:
                await kick(pinned, secret, restarted)  # until a round has seen the other's adverts
        assert restarted.link.hub_url == route_url
        assert announced.connections == 0  # its TXT names another certificate: not tried
        assert other.students() == []  # the other one connected, faster, and was not joined
        assert restarted.link.pin_switches == 0

        with caplog.at_level(logging.WARNING, logger="smartsession.agent"):
            await pinned.stop()
            restarted.produce(2)
            await restarted.delivered()
        assert restarted.link.hub_url in {f"wss://127.0.0.1:{r.port}/" for r in (announced, unannounced)}
        assert restarted.link.pin_switches == 1
        switch = [r.getMessage() for r in caplog.records if "not the pinned" in r.getMessage()]
        assert len(switch) == 1
        assert other.fingerprint in switch[0] and pinned.fingerprint in switch[0]
        assert await other.store.seqs(STUDENT) == [1, 2]  # its own session: numbered afresh
        stored = json.loads(pins.read_text())["hubs"][pinned.hub_id]
        assert stored["fingerprint"] == other.fingerprint
        await asyncio.to_thread(restarted.outbox.close)
