"""The persisted outbox: an agent restart (even SIGKILL) loses nothing and never reuses a seq."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

from helpers import write_agent_key

from smartsession.agent.outbox import Outbox, default_outbox_path
from smartsession.config import load_config, read_secret, write_secret
from smartsession.core.protocol import Sample
from smartsession.core.states import State
from smartsession.hub.service import Hub

TIMEOUT = 60.0


def sample(seq: int) -> Sample:
    return Sample(seq=seq, ts=1000.0 + seq, state=State.FOCUSED, attention=1.0, confusion=0.0, faces=1)


def test_reload_keeps_unacked_items_and_numbering(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(600.0, path)
    for seq in range(1, 6):
        outbox.add(sample(seq))
    outbox.mark_sent(3)
    outbox.ack(2)
    outbox.close()

    again = Outbox(600.0, path)
    assert [item.seq for item in again.items] == [3, 4, 5]
    assert again.next_seq == 6 and again.sent_upto == 3 and again.acked == 2
    again.ack(5)
    again.close()

    empty = Outbox(600.0, path)
    assert len(empty) == 0 and empty.next_seq == 6  # a seq is never reused
    empty.welcome(5)
    assert empty.next_seq == 6
    empty.close()


def test_span_trim_and_renumbering_are_persisted(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(10.0, path)
    for seq in range(1, 21):
        outbox.add(Sample(seq=seq, ts=float(seq), state=State.FOCUSED, attention=1.0, confusion=0.0, faces=1))
    assert outbox.dropped == 9
    outbox.welcome(50)  # a hub that holds more: unsent items are renumbered after 50
    outbox.close()
    again = Outbox(10.0, path)
    assert [item.seq for item in again.items] == list(range(51, 62))
    assert again.next_seq == 62
    again.close()


def test_default_path_is_per_class_student_and_secret(tmp_path: Path) -> None:
    a = default_outbox_path(tmp_path, "cs101", "pc-01", b"a" * 32)
    assert a.parent == tmp_path / "outbox" and "cs101.pc-01." in a.name
    assert a != default_outbox_path(tmp_path, "cs101", "pc-01", b"b" * 32)
    assert (b"a" * 32).hex() not in str(a)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def outbox_rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(condition: object, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sigkill_while_the_hub_is_down_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    write_secret(tmp_path / "class.secret")
    write_agent_key(tmp_path, "cs101", "pc-01")
    common = '[class]\nid = "cs101"\n[network]\ninterfaces = ["127.0.0.1"]\ndiscovery = false\n'
    (tmp_path / "teacher.toml").write_text(
        common + f'[hub]\nhost = "127.0.0.1"\nport = {port}\nhub_id = "hub"\n[storage]\ndatabase = "hub.db"\n'
    )
    (tmp_path / "agent.toml").write_text(
        common + f'[agent]\nstudent_id = "pc-01"\nhub_url = "wss://127.0.0.1:{port}/"\n'
        'outbox_path = "outbox.sqlite"\nreconnect_initial = 0.1\nreconnect_max = 0.5\n'
    )
    outbox = tmp_path / "outbox.sqlite"
    command = [sys.executable, "-m", "smartsession", "--log-file", str(tmp_path / "agent.log"), "agent"]
    command += ["-c", str(tmp_path / "agent.toml"), "--simulate", "attentive", "--seed", "3"]

    first = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: outbox_rows(outbox) >= 3)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_with = outbox_rows(outbox)

    second = subprocess.Popen(
        [*command, "--report", str(tmp_path / "report.json")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: outbox_rows(outbox) >= killed_with + 2)
        config = load_config(tmp_path / "teacher.toml", env={})

        async def hub_receives() -> list[int]:
            async with Hub(config, read_secret(config.secret_path)) as hub:
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:
                    if len(await hub.store.seqs("pc-01")) >= killed_with + 4:
                        break
                    await asyncio.sleep(0.2)
                second.send_signal(signal.SIGTERM)
                await asyncio.to_thread(second.wait, TIMEOUT)
                await hub.store.flush()
                return await hub.store.seqs("pc-01")

        seqs = asyncio.run(hub_receives())
    finally:
        if second.poll() is None:
            os.kill(second.pid, signal.SIGKILL)
            second.wait()
    assert second.returncode == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["unacked"] == 0
    assert seqs == list(range(1, report["last_seq"] + 1)), (seqs, report)
    assert report["last_seq"] >= killed_with + 4


KILL_ITSELF = """
import os, signal, sys, time
from pathlib import Path
from smartsession.agent.outbox import Outbox
from smartsession.core.protocol import Sample
from smartsession.core.states import State

outbox = Outbox(600.0, Path(sys.argv[1]))
handed_out = 0
for seq in range(1, 501):
    time.sleep(0.001)  # a fast producer (the agent adds a few items a second)
    outbox.add(Sample(seq=seq, ts=1000.0 + seq, state=State.FOCUSED, attention=1.0, confusion=0.0, faces=1))
    pending = outbox.pending_after(handed_out)
    if pending:
        handed_out = pending[-1].seq
        print(handed_out, flush=True)  # what a link could have sent to a hub by now
os.kill(os.getpid(), signal.SIGKILL)  # no close(): the writer may still have items queued
"""


def test_sigkill_right_after_adding_loses_only_items_never_handed_out(tmp_path: Path) -> None:
    """The writer thread commits a few ms after `add`: a SIGKILL may lose the newest items,
    but never one `pending_after` handed out (a hub may hold it), and what is kept is a
    gapless run, so the restarted agent goes on numbering after it."""
    path = tmp_path / "outbox.sqlite"
    result = subprocess.run(
        [sys.executable, "-c", KILL_ITSELF, str(path)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    handed_out = [int(line) for line in result.stdout.split()]
    assert handed_out, "the writer never committed while 500 items were added"
    again = Outbox(600.0, path)
    try:
        seqs = [item.seq for item in again.items]
        assert seqs == list(range(1, len(seqs) + 1))
        assert seqs[-1] >= handed_out[-1]
        assert again.sent_upto >= handed_out[-1]  # no restart renumbers what a hub may hold
        assert again.next_seq == seqs[-1] + 1
    finally:
        again.close()


def test_pending_after_waits_for_the_commit_and_calls_on_durable(tmp_path: Path) -> None:
    outbox = Outbox(600.0, tmp_path / "outbox.sqlite")
    woken: list[int] = []
    outbox.on_durable = lambda: woken.append(outbox.sent_upto)
    try:
        outbox.add(sample(1))
        outbox.add(sample(2))
        first = outbox.pending_after(0)  # usually empty: asks the writer to commit them first
        assert outbox.sync(TIMEOUT)
        assert [item.seq for item in outbox.pending_after(0)] == [1, 2]
        assert first in ([], [sample(1), sample(2)])
        assert woken and woken[-1] == 2
    finally:
        outbox.close()
    with sqlite3.connect(tmp_path / "outbox.sqlite") as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta["sent_upto"] == 2 and meta["produced"] == 2


def test_a_new_session_is_persisted_with_its_numbering(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(600.0, path)
    for seq in range(1, 6):
        outbox.add(sample(seq))
    outbox.welcome(0, "s1")
    assert [i.seq for i in outbox.pending_after(0)] == []  # released only once durable
    assert outbox.sync(TIMEOUT)
    assert [i.seq for i in outbox.pending_after(0)] == [1, 2, 3, 4, 5]
    outbox.mark_sent(5)
    outbox.ack(3)
    for seq in range(6, 9):
        outbox.add(sample(seq))
    outbox.welcome(0, "s2", not_before=1005.5)
    assert [i.seq for i in outbox.pending_after(0)] == []  # renumbered: released once durable again
    assert outbox.sync(TIMEOUT)
    assert [i.seq for i in outbox.pending_after(0)] == [1, 2, 3]
    outbox.close()
    again = Outbox(600.0, path)
    assert again.session == "s2"
    assert [(i.seq, i.ts) for i in again.items] == [(1, 1006.0), (2, 1007.0), (3, 1008.0)]
    assert again.next_seq == 4 and again.acked == 0 and again.sent_upto == 3  # all three were handed out
    again.close()


def test_outbox_files_are_owner_only_even_when_an_older_agent_left_them_readable(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "outbox" / "pc-01.sqlite"
        outbox = Outbox(600.0, path)
        for seq in range(1, 4):
            outbox.add(sample(seq))
        assert outbox.sync(5.0)
        files = [path, path.with_name("pc-01.sqlite-wal"), path.with_name("pc-01.sqlite-shm")]
        assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600] * 3
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        outbox.close()
        legacy = tmp_path / "legacy.sqlite"
        sqlite3.connect(legacy).close()  # 0644, as sqlite3 makes it
        assert stat.S_IMODE(legacy.stat().st_mode) == 0o644
        Outbox(600.0, legacy).close()
        assert stat.S_IMODE(legacy.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
