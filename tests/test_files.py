"""Owner-only files and folders: created so from the start, loose ones tightened, others' folders kept."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartsession.files import private_database, private_file, private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual umask (022), under which plain creation gives 0644 files and 0755 folders."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_files_and_their_new_folders_are_owner_only(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = private_file(tmp_path / "a" / "b" / "log.txt")
    assert path.read_bytes() == b""
    assert mode(path) == 0o600
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path) == 0o755  # not made by us: left as it is
    path.write_text("kept\n")
    private_file(path)
    assert path.read_text() == "kept\n"  # an existing file is never truncated


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "var-lib-smartsession"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    private_folder(folder)
    assert mode(private_file(folder / "hub.db")) == 0o600
    assert mode(folder) == 0o755


def test_a_loose_database_and_its_wal_and_shm_are_tightened_in_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hub.db"
    conn = sqlite3.connect(db)  # as an older SmartSession made it: 0644, and so its -wal/-shm
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    files = [db, tmp_path / "hub.db-wal", tmp_path / "hub.db-shm"]
    assert [mode(f) for f in files] == [0o644] * 3
    caplog.set_level(logging.WARNING, logger="smartsession.files")
    private_database(db)
    assert [mode(f) for f in files] == [0o600] * 3
    assert len(caplog.records) == 1
    assert all(str(f) in caplog.records[0].getMessage() for f in files)
    conn.close()
    private_database(db)  # already owner-only: nothing to say
    assert len(caplog.records) == 1


def test_sqlite_gives_wal_and_shm_the_database_files_mode(tmp_path: Path) -> None:
    """Why creating the database file owner-only is enough."""
    db = private_database(tmp_path / "new" / "hub.db")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    assert [mode(tmp_path / "new" / name) for name in ("hub.db", "hub.db-wal", "hub.db-shm")] == [0o600] * 3
    conn.close()
