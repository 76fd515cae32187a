"""One class, one hub: two real hubs announcing one class on 127.0.0.1, real agents (`Link`).

Every agent joins the hub that started first; ``agent.hub_id`` pins another; an agent on the
later hub moves once the earlier one is announced, and says why; each hub says the other one
is there (its status, which the class view shows, and its log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec
import pytest

from smartsession.agent.outbox import Outbox
from smartsession.config import AgentConfig, Config, StorageConfig
from smartsession.hub import Hub
from smartsession.hub.announcer import Announcer

from .test_discovery_attacks import STUDENT, TIMEOUT, Agent
from .wsagent import CLASS_ID, eventually


def second_hub(config: Config, folder: Path, hub_id: str, **network: object) -> Config:
    """Another hub of the same class on this machine: its own id, database and certificate."""
    (folder / hub_id).mkdir()
    return msgspec.structs.replace(
        config,
        hub=msgspec.structs.replace(config.hub, hub_id=hub_id),
        network=msgspec.structs.replace(config.network, **network),
        storage=StorageConfig(database=str(folder / hub_id / "hub.db"), batch_interval=0.02),
    )


def agent_config(config: Config, student_id: str = STUDENT, hub_id: str = "") -> Config:
    """An agent of the class that finds its hub through zeroconf."""
    return msgspec.structs.replace(
        config,
        network=msgspec.structs.replace(config.network, discovery=True),
        agent=AgentConfig(student_id=student_id, hub_id=hub_id, reconnect_initial=0.05, reconnect_max=0.2),
    )


async def test_both_hubs_say_so_and_every_agent_joins_the_first(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = make_config(discovery=True)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(Hub(second_hub(config, tmp_path, "hub-a"), secret))
        await asyncio.sleep(0.05)  # a later start time, by the hub's own clock
        later = await stack.enter_async_context(Hub(second_hub(config, tmp_path, "hub-a2"), secret))
        assert first.session_started < later.session_started
        await eventually(lambda: first.status().conflict and later.status().conflict, TIMEOUT)
        assert [a.hub_id for a in first.rival_hubs()] == ["hub-a2"]
        assert [a.hub_id for a in later.rival_hubs()] == ["hub-a"]
        assert f"another hub announces class {CLASS_ID!r}: hub 'hub-a2' at 127.0.0.1:{later.port}" in (
            first.status().conflict
        )
        assert "agents join this hub, which started first" in first.status().conflict
        assert "agents join hub 'hub-a', not this one" in later.status().conflict
        warnings = [r.getMessage() for r in caplog.records if r.name == "smartsession.hub.rivals"]
        assert any("hub 'hub-a2'" in w for w in warnings) and any("hub 'hub-a'" in w for w in warnings)

        agents = []
        for n in range(3):
            student = f"pc-{n:02d}"
            agent = Agent(agent_config(config, student), secret, Outbox(600.0), pins_path=tmp_path / student)
            stack.push_async_callback(agent.stop)
            agent.produce(2)
            agents.append(agent)
        for agent in agents:
            await agent.delivered()
        # An agent whose first query the earlier hub answered late moves to it, saying why.
        await eventually(lambda: sorted(first.connected) == ["pc-00", "pc-01", "pc-02"], TIMEOUT)
        # An attempt that lost to the earlier hub may still be closing on the later one.
        await eventually(lambda: later.connected == [], TIMEOUT)

        # agent.hub_id pins the other hub: that agent joins it, whatever the rule says.
        pinned = Agent(agent_config(config, "pc-09", hub_id="hub-a2"), secret, Outbox(600.0))
        stack.push_async_callback(pinned.stop)
        pinned.produce(1)
        await pinned.delivered()
        assert later.connected == ["pc-09"] and "pc-09" not in first.connected


async def test_an_agent_on_the_later_hub_moves_to_the_first_and_says_why(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first hub's advert arrives late (it announced nothing at first): the agent moves to it."""
    caplog.set_level(logging.INFO)
    config = make_config(discovery=True)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            Hub(second_hub(config, tmp_path, "hub-a", discovery=False), secret)
        )
        await asyncio.sleep(0.05)
        later = await stack.enter_async_context(Hub(second_hub(config, tmp_path, "hub-a2"), secret))
        agent = Agent(agent_config(config), secret, Outbox(600.0))
        stack.push_async_callback(agent.stop)
        agent.produce(2)
        await agent.delivered()
        assert later.connected == [STUDENT]
        announcer = Announcer(
            class_id=CLASS_ID,
            hub_id="hub-a",
            port=first.port,
            interfaces=["127.0.0.1"],
            tls=True,
            fingerprint=first.fingerprint,
            started=first.session_started,
        )
        await announcer.start()
        stack.push_async_callback(announcer.stop)
        await eventually(lambda: first.connected == [STUDENT], TIMEOUT)
        await eventually(lambda: later.connected == [], TIMEOUT)
        agent.produce(2)
        await agent.delivered()
        # What the later hub acknowledged stays there; the first numbers its own session afresh.
        assert await later.store.seqs(STUDENT) == [1, 2]
        assert await first.store.seqs(STUDENT) == [1, 2]
        moves = [r.getMessage() for r in caplog.records if r.getMessage().startswith("moving from hub")]
        assert len(moves) == 1, moves
        assert "moving from hub 'hub-a2'" in moves[0] and "to hub 'hub-a'" in moves[0]
        assert "chosen by the hub that started first (set agent.hub_id to pin one)" in moves[0]
