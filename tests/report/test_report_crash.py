"""A hub killed with SIGKILL mid-write: the database is intact, a report can be made from it, and a
restarted hub resumes the session with the connections the crash left open closed at their last
item and the time it was down shown as "hub offline"."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for, write_agent_key

from smartsession.config import write_secret
from smartsession.report.commands import report_main, sessions_main

AGENTS = 3


def sample_counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return dict(
                conn.execute("SELECT student_id, COUNT(*) FROM samples GROUP BY student_id").fetchall()
            )
    except sqlite3.OperationalError:
        return {}


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


def starter(folder: Path, processes: list[subprocess.Popen[bytes]]) -> Callable[..., subprocess.Popen[bytes]]:
    """``start(*args, log=NAME)``: a ``smartsession`` process logging to ``folder/NAME``, kept in ``processes``."""

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "smartsession", "--log-file", str(folder / log), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(p)
        return p

    return start


def test_hub_sigkill_during_writes_leaves_a_sound_database(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    class_id = f"crash-{os.getpid()}"
    write_secret(tmp_path / "class.secret")
    teacher = tmp_path / "teacher.toml"
    teacher.write_text(
        f'[class]\nid = "{class_id}"\n[network]\ninterfaces = ["127.0.0.1"]\n'
        '[hub]\nhost = "127.0.0.1"\nport = 0\nhub_id = "crash-hub"\n'
        '[storage]\ndatabase = "hub.db"\nbatch_interval = 0.02\n'
    )
    db = tmp_path / "hub.db"

    start = starter(tmp_path, processes)

    hub = start("hub", "-c", str(teacher), log="hub.log")
    for i in range(AGENTS):
        config = tmp_path / f"pc-{i}.toml"
        write_agent_key(tmp_path, class_id, f"pc-{i}", f"pc-{i}.key")
        config.write_text(
            f'[class]\nid = "{class_id}"\n[network]\ninterfaces = ["127.0.0.1"]\n'
            f'[agent]\nstudent_id = "pc-{i}"\nkey_file = "pc-{i}.key"\nframe_rate = 20.0\noutbox_path = "pc-{i}.outbox"\n'
            "[engagement]\ninterval = 0.1\n"
        )
        start("agent", "-c", str(config), "--simulate", "mixed", "--seed", str(i), log=f"pc-{i}.log")
    wait_for(lambda: len([n for n in sample_counts(db).values() if n >= 20]) == AGENTS, 60, "agents writing")
    before = sum(sample_counts(db).values())
    time.sleep(0.37)  # mid-stream: commits every 20 ms
    hub.send_signal(signal.SIGKILL)
    hub.wait()
    assert hub.returncode == -signal.SIGKILL
    for p in processes:
        p.kill()
        p.wait()

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        (ended,) = conn.execute("SELECT ended_at FROM sessions").fetchone()
    assert stored >= before
    assert ended is None  # the hub never ended the session

    assert sessions_main(["--db", str(db), "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)
    assert sessions[0]["ended_cleanly"] is False and sessions[0]["students"] == AGENTS
    out = tmp_path / "after-crash.json"
    assert report_main(["--db", str(db), "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert sum(s["samples"] for s in doc["students"]) == stored
    assert doc["ended_at"] is None and doc["end"] > doc["started_at"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return conn.execute(sql, params).fetchall()


def test_connections_open_at_a_crash_end_at_the_last_stored_item_and_the_gap_is_hub_offline(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A real hub process streamed to by two real agents is killed (SIGKILL); one student stops
    while it is down, the other streams on. The restarted hub resumes the session: each connection
    open at the crash ends at the last item stored from its student, the time it was down is a
    ``hub offline`` gap in the report and in both students' timelines, and nobody gets its minutes."""
    class_id, port = f"resume-{os.getpid()}", free_port()
    write_secret(tmp_path / "class.secret")
    teacher = tmp_path / "teacher.toml"
    teacher.write_text(
        f'[class]\nid = "{class_id}"\n[network]\ninterfaces = ["127.0.0.1"]\ndiscovery = false\n'
        f'[hub]\nhost = "127.0.0.1"\nport = {port}\nhub_id = "resume-hub"\n'
        '[storage]\ndatabase = "hub.db"\nbatch_interval = 0.02\n'
        '[roster.students]\npc-0 = "Ann Streams"\npc-1 = "Ben Stops"\n'
    )
    db = tmp_path / "hub.db"

    start = starter(tmp_path, processes)

    hub = start("hub", "-c", str(teacher), log="hub-1.log")
    agents = {}
    for sid in ("pc-0", "pc-1"):
        write_agent_key(tmp_path, class_id, sid, f"{sid}.key")
        config = tmp_path / f"{sid}.toml"
        config.write_text(
            f'[class]\nid = "{class_id}"\n[network]\ndiscovery = false\n'
            f'[agent]\nstudent_id = "{sid}"\nkey_file = "{sid}.key"\nhub_url = "wss://127.0.0.1:{port}/"\n'
            f'frame_rate = 20.0\noutbox_path = "{sid}.outbox"\nreconnect_max = 1.0\n[engagement]\ninterval = 0.2\n'
        )
        agents[sid] = start(
            "agent", "-c", str(config), "--simulate", "attentive", "--seed", "1", log=f"{sid}.log"
        )
    wait_for(
        lambda: len([n for n in sample_counts(db).values() if n >= 15]) == 2,
        60,
        "both agents writing",
        lambda: (tmp_path / "hub-1.log").read_text(),
    )
    hub.send_signal(signal.SIGKILL)
    hub.wait()
    killed_at = time.time()
    agents["pc-1"].send_signal(signal.SIGTERM)  # Ben stops while the hub is down
    assert agents["pc-1"].wait(30) == 0
    # what the dead hub stored: each student's last item (hub clock), the connections left open
    last_seen = dict(rows(db, "SELECT student_id, last_seen FROM students"))
    last_sample = dict(rows(db, "SELECT student_id, MAX(ts) FROM samples GROUP BY student_id"))
    assert rows(db, "SELECT student_id FROM connections WHERE disconnected_at IS NULL ORDER BY 1") == [
        ("pc-0",),
        ("pc-1",),
    ]
    time.sleep(2.0)

    restarted_at = time.time()
    hub = start("hub", "-c", str(teacher), log="hub-2.log")
    before = sample_counts(db)["pc-0"]
    wait_for(lambda: sample_counts(db)["pc-0"] >= before + 15, 60, "Ann back on the restarted hub")
    agents["pc-0"].send_signal(signal.SIGTERM)
    assert agents["pc-0"].wait(30) == 0
    hub.send_signal(signal.SIGTERM)
    assert hub.wait(30) == 0
    assert "resumed session" in (tmp_path / "hub-2.log").read_text()

    connections = rows(
        db,
        "SELECT student_id, connected_at, disconnected_at FROM connections ORDER BY student_id, connected_at",
    )
    ann_first, ann_again, ben = connections  # Ann joined again after the restart, Ben did not
    assert ben[0] == "pc-1" and ben[2] == last_seen["pc-1"]
    assert ann_first[0] == "pc-0" and ann_first[2] == last_seen["pc-0"]
    for sid, ended in (("pc-0", ann_first[2]), ("pc-1", ben[2])):
        assert last_sample[sid] - 1.0 <= ended <= killed_at, (
            sid
        )  # the last item, not the crash or the restart
    assert ann_again[0] == "pc-0" and ann_again[1] >= restarted_at

    out = tmp_path / "resumed.json"
    assert report_main(["-c", str(teacher), "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    (gap,) = doc["hub_offline"]
    assert gap["students"] == ["pc-0", "pc-1"] and gap["names"] == ["Ann Streams", "Ben Stops"]
    assert max(last_seen.values()) <= gap["start"] <= killed_at
    assert killed_at + 2.0 <= gap["end"] <= ann_again[1]
    students = {s["student_id"]: s for s in doc["students"]}
    assert students["pc-1"]["left"] == last_seen["pc-1"]  # not stretched to the session's end
    assert students["pc-1"]["minutes_connected"] == round((ben[2] - ben[1]) / 60.0, 1)
    ann_seconds = (ann_first[2] - ann_first[1]) + (ann_again[2] - ann_again[1])
    assert students["pc-0"]["minutes_connected"] == round(ann_seconds / 60.0, 1)  # the gap counts for nobody
    for sid in ("pc-0", "pc-1"):
        (offline,) = [run for run in students[sid]["timeline"] if run["state"] == "hub_offline"]
        assert (offline["start"], offline["end"]) == (gap["start"], gap["end"])

    page_path = tmp_path / "resumed.html"
    assert report_main(["-c", str(teacher), "--format", "html", "-o", str(page_path)]) == 0
    page = page_path.read_text()
    assert '<section id="hub-offline"><h2>Hub offline</h2>' in page
    assert page.count('class="run hub_offline"') == 2  # a band in each student's timeline
    assert page.count("<title>hub offline ") == 2 + 1  # ... and a band over the class chart
