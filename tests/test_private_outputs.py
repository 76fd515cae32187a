"""A class run as real processes: only owner-only files, and hostile strings refused or escaped.

A hub (``smartsession hub --log-file``) and an honest agent (``smartsession agent
--simulate``, persisted outbox) run under the usual umask 022 in a 0755 folder; a hostile
client joins with control characters in its name and in a message's type while the agent
streams. Then the hub stops (writing the end-of-session report for the email) and
``smartsession report`` writes every format.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from helpers import logfmt, stored_seqs, wait_for, write_agent_key
from hub.wsagent import expect_refusal, make_join, open_ws, recv

from smartsession.agent.connection import peer_fingerprint
from smartsession.config import read_secret, write_secret
from smartsession.core.protocol import CloseCode, Hello, Welcome, encode
from smartsession.report.commands import report_main

#: Per test run, so two runs on one machine never meet on zeroconf.
CLASS_ID = f"private-{os.getpid()}"
#: Names a lab machine might send; each must be refused with 4400.
HOSTILE_NAMES = {
    "ESC": "Eve\x1b[2J",
    "NUL": "Eve\x00",
    "CR LF": "Eve\r\n2024-01-01 12:00:00,000 INFO smartsession.hub.server: student 'pc-02' left",
}
#: A name the hub lets in: a no-break space, a zero width space and Textual markup.
ALLOWED_NAME = "Mallory\u00a0\u200b[@click=app.quit]x[/]"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    old = os.umask(0o022)  # the usual umask: what is not made owner-only on purpose is 0644
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        os.umask(old)
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()


async def hostile_clients(url: str, secret: bytes) -> list[tuple[int | None, str]]:
    """Join with each hostile name, then send a join whose ``type`` holds CR LF and ESC."""
    outcomes: list[tuple[int | None, str]] = []
    for name in HOSTILE_NAMES.values():
        ws = await open_ws(url)
        hello = await recv(ws)
        assert isinstance(hello, Hello)
        join = make_join(secret, hello, "pc-66", fingerprint=peer_fingerprint(ws))
        await ws.send(encode(join).replace('"Student pc-66"', json.dumps(name)))
        error, code = await expect_refusal(ws)
        outcomes.append((code, error.message if error else ""))
    ws = await open_ws(url)
    await recv(ws)
    await ws.send('{"type":"join\\r\\nINFO forged\\u001b[2J","v":1}')
    error, code = await expect_refusal(ws)
    outcomes.append((code, error.message if error else ""))
    # Allowed, but invisible characters and markup: joins, and is logged escaped and quoted.
    ws = await open_ws(url)
    hello = await recv(ws)
    assert isinstance(hello, Hello)
    join = make_join(secret, hello, "pc-67", fingerprint=peer_fingerprint(ws))
    await ws.send(encode(msgspec.structs.replace(join, name=ALLOWED_NAME)))
    assert isinstance(await recv(ws), Welcome)
    await ws.close()
    return outcomes


def test_a_class_run_leaves_only_owner_only_files_and_inert_strings(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    tmp_path.chmod(0o755)
    write_secret(tmp_path / "class.secret")
    secret = read_secret(tmp_path / "class.secret")
    network = '[network]\ninterfaces = ["127.0.0.1"]\n'
    (tmp_path / "teacher.toml").write_text(
        f'[class]\nid = "{CLASS_ID}"\n{network}'
        '[hub]\nhost = "127.0.0.1"\nport = 0\nhub_id = "private-hub"\n'
        '[storage]\ndatabase = "data/hub.db"\nbatch_interval = 0.02\n'
        '[report]\nfolder = "reports"\n'
        f'[email]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port()}\nstarttls = false\n'
        'to = ["teacher@example.org"]\nattempts = 1\ntimeout = 2.0\n'
    )
    write_agent_key(tmp_path, CLASS_ID, "pc-01", "pc-01.key")
    (tmp_path / "pc-01.toml").write_text(
        f'[class]\nid = "{CLASS_ID}"\n{network}'
        '[agent]\nstudent_id = "pc-01"\ndisplay_name = "Ada"\nkey_file = "pc-01.key"\n'
        'outbox_path = "agent/pc-01.outbox"\n'
        "frame_rate = 20.0\nreconnect_max = 1.0\n[engagement]\ninterval = 0.2\n"
    )

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "smartsession", "--log-file", str(tmp_path / "logs" / log), *args]
        p = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        processes.append(p)
        return p

    hub_log = tmp_path / "logs" / "hub.log"
    hub = start("hub", "-c", "teacher.toml", log="hub.log")
    agent = start("agent", "-c", "pc-01.toml", "--simulate", "attentive", log="pc-01.log")
    db = tmp_path / "data" / "hub.db"

    def logs() -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in (tmp_path / "logs").glob("*")
        )

    wait_for(lambda: len(stored_seqs(db).get("pc-01", [])) >= 5, 60, "the agent's samples", logs)
    found = re.search(r"listening on (wss://[^\s\"]+)", hub_log.read_text())
    assert found is not None, logs()
    outcomes = asyncio.run(hostile_clients(found.group(1), secret))
    assert [code for code, _ in outcomes] == [CloseCode.MALFORMED] * 4
    assert [message for _, message in outcomes[:3]] == [
        "invalid message: control character U+001B in join.name",
        "invalid message: control character U+0000 in join.name",
        "invalid message: control character U+000D in join.name",
    ]
    streamed = len(stored_seqs(db)["pc-01"])
    wait_for(lambda: len(stored_seqs(db)["pc-01"]) > streamed + 5, 30, "the agent streaming on", logs)
    assert set(stored_seqs(db)) == {"pc-01"}  # nothing from the hostile clients

    # While both run: every file they write, and every folder they made, is owner-only.
    running = [db, *(db.with_name(f"hub.db{s}") for s in ("-wal", "-shm"))]
    outbox = tmp_path / "agent" / "pc-01.outbox"
    running += [outbox, outbox.with_name("pc-01.outbox-wal"), outbox.with_name("pc-01.outbox-shm")]
    running += [hub_log, tmp_path / "logs" / "pc-01.log"]
    assert {str(p): oct(mode(p)) for p in running} == {str(p): "0o600" for p in running}
    for folder in ("data", "agent", "logs"):
        assert mode(tmp_path / folder) == 0o700, folder
    assert mode(tmp_path) == 0o755  # made by the admin: left alone

    for p in (agent, hub):
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, logs()

    # The report written for the email (the mail itself fails: nothing listens there).
    (mailed,) = (tmp_path / "reports").glob("report-*.html")
    assert mode(mailed) == 0o600 and mode(tmp_path / "reports") == 0o700
    out = tmp_path / "out"
    for fmt, suffix in (("html", "html"), ("csv", "zip"), ("json", "json"), ("xlsx", "xlsx")):
        assert report_main(["--db", str(db), "--format", fmt, "-o", str(out / f"r.{suffix}")]) == 0
        assert mode(out / f"r.{suffix}") == 0o600, fmt
    assert mode(out) == 0o700

    # The hub's log: one line per record, nothing a terminal would act on, the forged line inert.
    raw = hub_log.read_bytes()
    for control in (b"\r", b"\x1b", b"\x00"):
        assert control not in raw
    lines = raw.decode().splitlines()
    assert not any(line.startswith("INFO forged") for line in lines)
    assert all(line.startswith("ts=") for line in lines), lines
    messages = "\n".join(logfmt(line)["msg"] for line in lines)  # logfmt's quoting undone
    assert "Invalid value 'join\\r\\nINFO forged\\x1b[2J' - at `$.type`" in messages, messages
    assert "student 'pc-67' ('Mallory\\xa0\\u200b[@click=app.quit]x[/]') joined" in messages
    assert "mail to teacher@example.org via 127.0.0.1" in messages
