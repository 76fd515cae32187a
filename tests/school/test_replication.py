"""A hub's session reaches the school server row for row, in process and across a SIGKILL of the hub."""

from __future__ import annotations

from pathlib import Path

from hub.wsagent import alert_event, eventually, join_agent, sample

from smartsession.core.protocol import Batch
from smartsession.core.states import State
from smartsession.hub import Hub
from smartsession.school.replicator import ReplicationState

from .conftest import School
from .hubs import SECRET, hub_config
from .rows import item_count, school_rows, sqlite_rows


async def test_a_session_replicates_row_for_row(school: School, tmp_path: Path) -> None:
    config = hub_config(school, tmp_path / "room-1", "room-1", "10A", course="cs")
    async with Hub(config, SECRET) as hub:
        await hub.mark_segment("intro")
        ann = await join_agent(hub.url, SECRET, "ann")
        ben = await join_agent(hub.url, SECRET, "ben")
        await ann.send(Batch(items=tuple(sample(seq) for seq in range(1, 41))))
        await ben.send(Batch(items=(*(sample(seq, State.CONFUSED) for seq in range(1, 30)), alert_event(30))))
        await ann.wait_ack(40)
        await ben.wait_ack(30)
        await hub.mark_segment("recursion")
        await ben.close()
        ben = await join_agent(hub.url, SECRET, "ben")  # a second connection of the same student
        await ben.send(sample(31))
        await ben.wait_ack(31)
        with school.admin() as conn:
            await eventually(lambda: item_count(school_rows(conn, "room-1")) == 71, within=10)
        status = hub.status()
        assert status.school in (ReplicationState.SYNCED, ReplicationState.CATCHING_UP)
        assert status.school_error == ""
        await ann.close()
        await ben.close()
    local = sqlite_rows(config.database_path)
    with school.admin() as conn:
        remote = school_rows(conn, "room-1")
        (course,) = conn.execute("SELECT course FROM smartsession.sessions").fetchone()
    assert remote == local
    assert len(local["connections"]) == 3 and all(c[3] is not None for c in local["connections"])
    assert local["sessions"][0][3] is not None  # the end of the session was shipped at stop
    assert course == "cs"


async def test_a_restarted_hub_ships_only_what_is_new(school: School, tmp_path: Path) -> None:
    config = hub_config(school, tmp_path / "room-2", "room-2", "10B")
    for first in (1, 21):
        async with Hub(config, SECRET) as hub:
            agent = await join_agent(hub.url, SECRET, "cy")
            await agent.send(Batch(items=tuple(sample(seq) for seq in range(first, first + 20))))
            await agent.wait_ack(first + 19)
            await agent.close()
            shipped = hub.replicator.shipped_rows if hub.replicator else {}
        assert shipped.get("samples") == 20  # the second hub did not ship the first 20 again
    with school.admin() as conn:
        remote = school_rows(conn, "room-2")
    assert remote == sqlite_rows(config.database_path)
    assert len(remote["sessions"]) == 2 and len(remote["samples"]) == 40
