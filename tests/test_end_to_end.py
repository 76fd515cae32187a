"""The whole system as processes: a hub, 8 agents, zeroconf on loopback, a hub crash.

The hub is killed with SIGKILL mid-run and started again on a new port; the agents must
find it again through zeroconf and every item each agent produced must be stored exactly
once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import stored_seqs, wait_for, write_agent_key

from smartsession.config import write_secret
from smartsession.core.simulate import PROFILES

AGENTS = 8
#: Per test run, so two runs on one machine never meet on zeroconf.
CLASS_ID = f"e2e-{os.getpid()}"


class Class:
    """A class folder with a teacher config and agent configs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        write_secret(folder / "class.secret")
        (folder / "teacher.toml").write_text(
            f'[class]\nid = "{CLASS_ID}"\n'
            '[network]\ninterfaces = ["127.0.0.1"]\n'
            '[hub]\nhost = "127.0.0.1"\nport = 0\nhub_id = "e2e-hub"\nping_interval = 1.0\nping_timeout = 2.0\n'
            '[storage]\ndatabase = "hub.db"\n'
        )
        self.db = folder / "hub.db"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "smartsession", "--log-file", str(self.folder / log), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start_hub(self, log: str) -> subprocess.Popen[bytes]:
        return self.start("hub", "-c", str(self.folder / "teacher.toml"), log=log)

    def start_agent(self, index: int) -> subprocess.Popen[bytes]:
        student_id = f"pc-{index:02d}"
        config = self.folder / f"{student_id}.toml"
        write_agent_key(self.folder, CLASS_ID, student_id, f"{student_id}.key")
        config.write_text(
            f'[class]\nid = "{CLASS_ID}"\n'
            '[network]\ninterfaces = ["127.0.0.1"]\n'
            f'[agent]\nstudent_id = "{student_id}"\ndisplay_name = "Student {index}"\nkey_file = "{student_id}.key"\n'
            "reconnect_initial = 0.2\nreconnect_max = 1.0\n"
            f'outbox_path = "{student_id}.outbox.sqlite"\n'
        )
        return self.start(
            "agent", "-c", str(config),
            "--simulate", PROFILES[index % len(PROFILES)], "--seed", str(index),
            "--report", str(self.folder / f"{student_id}.json"),
            log=f"{student_id}.log",
        )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("*.log")))

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def klass(tmp_path: Path) -> Iterator[Class]:
    k = Class(tmp_path)
    try:
        yield k
    finally:
        k.kill_all()


def test_agents_survive_a_hub_crash_and_every_item_is_stored_once(klass: Class) -> None:
    hub = klass.start_hub("hub-1.log")
    agents = [klass.start_agent(i) for i in range(AGENTS)]
    try:
        wait_for(
            lambda: len([s for s, q in stored_seqs(klass.db).items() if len(q) >= 3]) == AGENTS,
            60,
            "all agents streaming to the first hub",
        )
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        before = {s: max(q) for s, q in stored_seqs(klass.db).items()}
        time.sleep(2.0)  # the agents notice the dead hub and keep producing into their outboxes

        klass.start_hub("hub-2.log")
        wait_for(
            lambda: all(max(stored_seqs(klass.db).get(s, [0])) >= before[s] + 6 for s in before),
            60,
            "all agents found the restarted hub and replayed",
        )
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        for agent in agents:
            assert agent.wait(timeout=30) == 0
    except BaseException:
        print(klass.logs())
        raise

    stored = stored_seqs(klass.db)
    for index in range(AGENTS):
        student_id = f"pc-{index:02d}"
        report = json.loads((klass.folder / f"{student_id}.json").read_text())
        produced = report["last_seq"]
        assert produced >= 6
        seqs = stored[student_id]
        assert len(seqs) == len(set(seqs)), f"{student_id}: duplicates stored"
        assert sorted(seqs) == list(range(1, produced + 1)), f"{student_id}: gaps or extras"
    assert os.path.getsize(klass.db) > 0
