"""A hub's session reaches the school server row for row, in process and across a SIGKILL of the hub."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from helpers import stored_seqs, wait_for, write_agent_key
from hub.wsagent import alert_event, eventually, join_agent, sample

from smartsession.config import write_secret
from smartsession.core.identity import SeatResult
from smartsession.core.protocol import Batch, SeatStatus
from smartsession.core.states import State
from smartsession.hub import Hub
from smartsession.school.replicator import ReplicationState

from .conftest import School
from .hubs import SECRET, hub_config
from .rows import item_count, school_rows, sqlite_rows


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()


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
        checked = msgspec.structs.replace(sample(31), seat=SeatStatus(result=SeatResult.MATCH, distance=0.21))
        await ben.send(checked)  # a seat check: its word and numbers replicate too
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
    assert sum(row[-1] is not None for row in local["samples"]) == 1  # the seat check's JSON
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hub_killed_mid_session_still_replicates_row_for_row(
    school: School, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    class_id, port = f"kill-{os.getpid()}", free_port()
    url, password_file = school.add_hub("room-k")
    write_secret(tmp_path / "class.secret")
    teacher = tmp_path / "teacher.toml"
    teacher.write_text(
        f'[class]\nid = "{class_id}"\n[network]\ninterfaces = ["127.0.0.1"]\ndiscovery = false\n'
        f'[hub]\nhost = "127.0.0.1"\nport = {port}\nhub_id = "room-k"\n'
        '[storage]\ndatabase = "hub.db"\nbatch_interval = 0.02\n'
        f'[school]\ndatabase_url = "{url}"\npassword_file = "{password_file}"\ninterval = 0.2\nretry_max = 1.0\n'
    )
    db = tmp_path / "hub.db"

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "smartsession", "--log-file", str(tmp_path / log), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(p)
        return p

    def on_server() -> int:
        with school.admin() as conn:
            return item_count(school_rows(conn, "room-k"))

    hub = start("hub", "-c", str(teacher), log="hub-1.log")
    agents = []
    for i in range(3):
        write_agent_key(tmp_path, class_id, f"pc-{i}", f"pc-{i}.key")
        config = tmp_path / f"pc-{i}.toml"
        config.write_text(
            f'[class]\nid = "{class_id}"\n[network]\ndiscovery = false\n'
            f'[agent]\nstudent_id = "pc-{i}"\nkey_file = "pc-{i}.key"\nhub_url = "wss://127.0.0.1:{port}/"\n'
            f'frame_rate = 20.0\noutbox_path = "pc-{i}.outbox"\nreconnect_max = 1.0\n[engagement]\ninterval = 0.1\n'
        )
        agents.append(
            start("agent", "-c", str(config), "--simulate", "mixed", "--seed", str(i), log=f"pc-{i}.log")
        )
    wait_for(
        lambda: on_server() >= 60,
        60,
        "rows on the school server",
        lambda: (tmp_path / "hub-1.log").read_text(),
    )
    hub.send_signal(signal.SIGKILL)  # mid-stream: SQLite commits every 20 ms, shipments every 200 ms
    hub.wait()
    killed_at = sum(len(seqs) for seqs in stored_seqs(db).values())

    hub = start("hub", "-c", str(teacher), log="hub-2.log")
    wait_for(
        lambda: sum(len(seqs) for seqs in stored_seqs(db).values()) >= killed_at + 60,
        60,
        "the agents back on the restarted hub",
    )
    for agent in agents:
        agent.send_signal(signal.SIGTERM)
    for agent in agents:
        assert agent.wait(30) == 0
    hub.send_signal(signal.SIGTERM)
    assert hub.wait(30) == 0

    local = sqlite_rows(db)
    with school.admin() as conn:
        remote = school_rows(conn, "room-k")
    assert remote == local
    (session,) = local["sessions"]  # the restarted hub resumed the session, and ended it
    assert session[3] is not None
    assert len(local["students"]) == 3 and len(local["connections"]) >= 6
    assert "resumed session" in (tmp_path / "hub-2.log").read_text()
    # the time the hub was down is a class event, on the server too (compared above)
    (offline,) = [row for row in local["class_events"] if row[1] == "hub_offline"]
    assert offline[4] > offline[3] and len(offline[9].split()) == 3  # every student was connected
