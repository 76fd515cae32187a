"""The hub's files are owner-only: its database (and WAL/SHM), even one an older hub left readable, and its exports."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from smartsession.config import Config, ReportConfig
from smartsession.hub import Hub

from .wsagent import join_agent, sample


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def config_in(config: Config, data: Path, reports: Path) -> Config:
    storage = msgspec.structs.replace(config.storage, database=str(data / "hub.db"))
    return msgspec.structs.replace(config, storage=storage, report=ReportConfig(folder=str(reports)))


async def test_database_wal_shm_and_the_export_are_owner_only(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path
) -> None:
    config = config_in(make_config(), tmp_path / "data", tmp_path / "reports")
    async with Hub(config, secret) as hub:
        agent = await join_agent(hub.url, secret, "pc-01")
        for seq in range(1, 6):
            await agent.send(sample(seq))
        await agent.wait_ack(5)
        db = tmp_path / "data" / "hub.db"
        assert [mode(db.with_name(db.name + s)) for s in ("", "-wal", "-shm")] == [0o600] * 3
        assert mode(tmp_path / "data") == 0o700
        path = await hub.export_report()  # the class view's `e`
        assert path.parent == tmp_path / "reports"
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
        await agent.close()


async def test_a_database_an_older_hub_left_readable_is_tightened(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_in(make_config(), tmp_path, tmp_path / "reports")
    db = tmp_path / "hub.db"
    old = sqlite3.connect(db)  # what an older SmartSession (or a crash) left: 0644 files
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE scratch (x)")
    old.commit()
    companions = [db, tmp_path / "hub.db-wal", tmp_path / "hub.db-shm"]
    assert [mode(p) for p in companions] == [0o644] * 3
    caplog.set_level(logging.WARNING, logger="smartsession.files")
    async with Hub(config, secret) as hub:
        agent = await join_agent(hub.url, secret, "pc-01")
        await agent.send(sample(1))
        await agent.wait_ack(1)
        assert [mode(p) for p in companions] == [0o600] * 3
        await agent.close()
    old.close()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "smartsession.files"]
    assert line.startswith("made owner-only") and all(str(p) in line for p in companions)
