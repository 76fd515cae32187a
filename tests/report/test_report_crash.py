"""The database survives a hub killed with SIGKILL mid-write: intact, and a report can be made from it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "smartsession", "--log-file", str(tmp_path / log), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(p)
        return p

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
