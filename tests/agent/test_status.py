"""``smartsession status`` / ``agent --show``: what the agent sends, read by the student's login.

A real agent (simulated camera) writes its status file; the student's command prints it
sample by sample, the same items as in the agent's outbox. The status file is readable by
another user (the student's login, here ``nobody``) while the machine key is not.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from helpers import wait_for, write_agent_key

from smartsession.agent.status import Status, read_status
from smartsession.config import write_secret
from smartsession.core import protocol
from smartsession.keys import read_machine_key

ENV = {"SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": ""}


@pytest.fixture
def machine() -> Iterator[Path]:
    """A lab machine's folders in /tmp that another user may enter (pytest's own are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="smartsession-machine-"))
    folder.chmod(0o755)
    (folder / "etc").mkdir(mode=0o755)
    (folder / "run").mkdir(mode=0o755)
    (folder / "state").mkdir(mode=0o700)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def start_agent(folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    write_secret(folder / "state" / "class.secret")  # made on the teacher's machine; only the key is copied
    write_agent_key(folder / "state", "room-12", "pc-07", "../etc/machine.key")
    config = folder / "etc" / "agent.toml"
    config.write_text(
        '[class]\nid = "room-12"\n[network]\ndiscovery = false\n'
        '[agent]\nhub_url = "wss://127.0.0.1:9/"\nkey_file = "machine.key"\n'
        f'outbox_path = "{folder}/state/outbox.sqlite"\nstatus_file = "{folder}/run/status.json"\n'
    )
    log = folder / "state" / "agent.log"
    agent = subprocess.Popen(
        [sys.executable, "-m", "smartsession", "--log-file", str(log), "agent", "-c", str(config),
         "--simulate", "attentive", "--seed", "3"],
        env={**os.environ, **ENV}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return agent, config


def outbox_items(path: Path) -> dict[int, protocol.Item]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT seq, frame FROM items").fetchall()
    decoded = {seq: protocol.decode_agent_message(frame) for seq, frame in rows}
    return {seq: item for seq, item in decoded.items() if isinstance(item, protocol.Sample | protocol.Event)}


def test_status_prints_what_the_agent_queues_for_the_hub_item_by_item(machine: Path) -> None:
    agent, config = start_agent(machine)
    try:
        status_file = machine / "run" / "status.json"
        wait_for(
            lambda: (s := read_status(status_file)) is not None and len(s.items) >= 3,
            30,
            "three items in the status",
        )
        for command in (["status"], ["agent", "--show"]):
            result = subprocess.run(
                [sys.executable, "-m", "smartsession", *command, "-c", str(config), "--count", "3", "--json"],
                capture_output=True, text=True, timeout=60, env={**os.environ, **ENV}, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            lines = result.stdout.splitlines()
            assert lines[0].startswith("Monitoring is on for class room-12 (student pc-07)."), lines
            assert lines[1].startswith(f"agent {agent.pid} of pc-07: ")
            shown = [msgspec.json.decode(line) for line in lines[2:]]
            assert [item["seq"] for item in shown] == [1, 2, 3]
            queued = outbox_items(machine / "state" / "outbox.sqlite")  # nothing is acked: no hub
            for item in shown:
                assert msgspec.json.decode(protocol.encode(queued[item["seq"]])) == item
        readable = subprocess.run(
            [sys.executable, "-m", "smartsession", "status", "-c", str(config), "--count", "2"],
            capture_output=True, text=True, timeout=60, env={**os.environ, **ENV}, check=False,
        )  # fmt: skip
        items = readable.stdout.splitlines()[2:]
        assert len(items) == 2 and all(" #" in line and " attention " in line for line in items), items
    finally:
        agent.terminate()
        assert agent.wait(20) == 0


def test_the_students_login_reads_the_status_file_but_not_the_machine_key(machine: Path) -> None:
    agent, _ = start_agent(machine)
    try:
        status_file = machine / "run" / "status.json"
        wait_for(lambda: read_status(status_file) is not None, 30, "the status file")
    finally:
        agent.terminate()
        agent.wait(20)
    key = machine / "etc" / "machine.key"
    assert stat.S_IMODE(status_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    def as_student(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(path)],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip

    seen = as_student(status_file)
    assert seen.returncode == 0, seen.stderr
    status = msgspec.json.decode(seen.stdout, type=Status)
    assert status.student_id == "pc-07" and "Never sent or stored anywhere" in status.notice
    secret = read_machine_key(key).key.hex()
    assert secret not in seen.stdout  # no key material, only telemetry
    refused = as_student(key)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
