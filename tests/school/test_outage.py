"""The school server stopped and started again mid-session: the class view shows the lag, agents
keep being acked, and everything reaches the server afterwards."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hub.wsagent import TestAgent, eventually, join_agent, sample

from smartsession.config import TuiConfig
from smartsession.hub import Hub
from smartsession.tui.app import create_app
from smartsession.tui.widgets import ClassHeader

from .conftest import School
from .hubs import SECRET, hub_config
from .rows import item_count, school_rows, sqlite_rows

OUTAGE = 4.0


async def stream(agent: TestAgent, acked_at: list[float], stop: asyncio.Event) -> int:
    """Send a sample every 50 ms, each acked before the next (the hub acks on its SQLite commit)."""
    seq = 0
    while not stop.is_set():
        seq += 1
        await agent.send(sample(seq))
        await agent.wait_ack(seq)
        acked_at.append(time.monotonic())
        await asyncio.sleep(0.05)
    return seq


async def test_school_server_away_and_back_mid_session(school: School, tmp_path: Path) -> None:
    config = hub_config(school, tmp_path / "room", "room-7", "10C")
    hub = Hub(config, SECRET)
    app = create_app(hub, TuiConfig(), service=hub)
    stop = asyncio.Event()
    acked: dict[str, list[float]] = {"ann": [], "ben": []}
    async with app.run_test(size=(160, 40)) as pilot:
        await eventually(lambda: hub.port != 0, within=10)

        def header() -> str:
            return str(app.class_screen.query_one(ClassHeader).render())

        agents = [await join_agent(hub.url, SECRET, sid) for sid in acked]
        senders = [asyncio.create_task(stream(a, acked[a.join.student_id], stop)) for a in agents]
        with school.admin() as conn:
            await eventually(lambda: item_count(school_rows(conn, "room-7")) >= 20, within=10)
        await eventually(lambda: "school synced" in header(), within=5)

        await asyncio.to_thread(school.server.stop)
        down_at = time.monotonic()
        try:
            await eventually(lambda: "school AWAY" in header(), within=5)
            assert "unreachable" in header()
            await asyncio.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
            shown_lag = header()
            during = {sid: sum(1 for t in times if t > down_at + 1.0) for sid, times in acked.items()}
        finally:
            await asyncio.to_thread(school.server.start)
        assert all(n >= 20 for n in during.values()), during  # acked all along, at the usual pace
        assert "school AWAY 3 s" in shown_lag or "school AWAY 4 s" in shown_lag, shown_lag

        await eventually(lambda: "school synced" in header(), within=15)
        stop.set()
        sent = await asyncio.gather(*senders)
        for agent in agents:
            await agent.close()
        await pilot.pause(0.2)
        app.exit()
    local = sqlite_rows(config.database_path)
    assert len(local["samples"]) == sum(sent)
    with school.admin() as conn:
        assert school_rows(conn, "room-7") == local
