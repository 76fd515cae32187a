"""A wrong password, an unreachable server, a role of another hub, a server not set up: one clear
sentence in the log, in the hub's status and in ``doctor``; the hub keeps serving its class. A
full disk on the hub loses nothing either."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from hub.wsagent import eventually, join_agent, sample

from smartsession.config import Config
from smartsession.core.protocol import Batch
from smartsession.doctor import check_school
from smartsession.hub import Hub

from .conftest import School
from .hubs import SECRET, hub_config
from .rows import item_count, school_rows, sqlite_rows


async def serve_a_class_while_replication_fails(config: Config, caplog: pytest.LogCaptureFixture) -> str:
    """Run a hub whose replication cannot work: agents are acked; returns the one logged sentence."""
    caplog.set_level(logging.INFO, logger="smartsession.school")
    async with Hub(config, SECRET) as hub:
        agent = await join_agent(hub.url, SECRET, "ann")
        for first in range(1, 61, 20):
            await agent.send(Batch(items=tuple(sample(seq) for seq in range(first, first + 20))))
            await agent.wait_ack(first + 19)
        replicator = hub.replicator
        assert replicator is not None
        await eventually(lambda: replicator.failures >= 3, within=10)
        status = hub.status()
        replication = replicator.status()
        await agent.close()
    assert status.school == "away" and status.school_error == replication.error != ""
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(set(warnings)) == 1, warnings  # retried, but said once
    assert all(r.levelno < logging.ERROR and not r.exc_info for r in caplog.records)
    (logged,) = set(warnings)
    prefix, sentence = logged.split(": ", 1)
    assert prefix == "school replication paused, the class goes on"
    assert sentence == replication.sentence
    return sentence


async def test_wrong_password(school: School, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url, password_file = school.add_hub("room-1")
    password_file.write_text("not the password\n")
    config = hub_config(None, tmp_path, "room-1", "10A", url=url, password_file=password_file)
    sentence = await serve_a_class_while_replication_fails(config, caplog)
    assert "refused the password of role" in sentence and "school.password_file" in sentence
    check = check_school(config)
    assert (check.status, check.detail) == ("FAIL", sentence)


async def test_unreachable_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = tmp_path / "no-server-here"
    nowhere.mkdir()
    password_file = tmp_path / "pw"
    password_file.write_text("x\n")
    os.chmod(password_file, 0o600)
    url = f"postgresql://ss_room-2@/smartsession?host={nowhere}"
    config = hub_config(None, tmp_path, "room-2", "10B", url=url, password_file=password_file)
    sentence = await serve_a_class_while_replication_fails(config, caplog)
    assert sentence.startswith("the school server ss_room-2@") and "is unreachable (" in sentence
    assert check_school(config).status == "FAIL"
    assert check_school(config).detail == sentence


async def test_role_of_another_hub(school: School, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url, password_file = school.add_hub("room-3")
    config = hub_config(None, tmp_path, "room-4", "10C", url=url, password_file=password_file)
    sentence = await serve_a_class_while_replication_fails(config, caplog)
    assert "is the school role of hub 'room-3', not of this hub 'room-4'" in sentence
    assert check_school(config).detail == sentence


async def test_server_not_set_up(school: School, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url, password_file = school.add_hub("room-5")
    with school.admin() as conn:
        conn.execute("DROP SCHEMA smartsession CASCADE")
    config = hub_config(None, tmp_path, "room-5", "10D", url=url, password_file=password_file)
    sentence = await serve_a_class_while_replication_fails(config, caplog)
    assert "no SmartSession schema yet: run 'smartsession school migrate" in sentence


def test_password_file_readable_by_others(school: School, tmp_path: Path) -> None:
    url, password_file = school.add_hub("room-6")
    os.chmod(password_file, 0o644)
    config = hub_config(None, tmp_path, "room-6", "10E", url=url, password_file=password_file)
    check = check_school(config)
    assert check.status == "FAIL"
    assert (
        check.detail
        == f"school.password_file {password_file} is readable by others; run: chmod 600 {password_file}"
    )


def test_doctor_says_what_waits_to_be_shipped(school: School, tmp_path: Path) -> None:
    config = hub_config(school, tmp_path, "room-8", "10F")
    check = check_school(config)
    assert check.status == "ok"
    assert "as hub room-8, schema version 3; everything stored here is on the server" in check.detail


async def test_full_disk_on_the_hub_loses_nothing(school: School, tmp_path: Path) -> None:
    config = hub_config(school, tmp_path, "room-9", "10G")
    async with Hub(config, SECRET) as hub:
        agent = await join_agent(hub.url, SECRET, "ann")
        await agent.send(Batch(items=tuple(sample(seq) for seq in range(1, 21))))
        await agent.wait_ack(20)

        def cap(conn: sqlite3.Connection) -> None:  # a real "database or disk is full"
            conn.execute("VACUUM")  # no free pages left in the file
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
            conn.execute(f"PRAGMA max_page_count = {pages}")

        await hub.store.call(cap)
        for first in (21, 171):  # a batch holds at most 256 items
            await agent.send(Batch(items=tuple(sample(seq) for seq in range(first, first + 150))))
        await eventually(lambda: not hub.store.healthy, within=10)
        assert hub.status().school in ("synced", "catching up")  # what was stored keeps reaching the server
        with school.admin() as conn:
            await eventually(lambda: item_count(school_rows(conn, "room-9")) == 20, within=10)
        await hub.store.call(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
        await agent.wait_ack(320)  # nothing was lost: the store kept the items and committed them
        await agent.close()
    with school.admin() as conn:
        remote = school_rows(conn, "room-9")
    assert remote == sqlite_rows(config.database_path) and item_count(remote) == 320
