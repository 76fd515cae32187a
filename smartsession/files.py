"""Files only their owner can read: the hub's database, the agent's outbox, reports and logs.

They hold students' telemetry, and other local users (a student logged in on a lab machine,
anyone with an account on the teacher's) must not read them. So SmartSession creates each
such file with mode 0600 in one step (``os.open(..., 0o600)``: there is no moment at which
it is readable by others) and each folder it creates with mode 0700. SQLite gives a
database's ``-wal``, ``-shm`` and ``-journal`` files the permissions of the database file, so
creating the database file first (`private_database`) covers them too.

A file that already exists with a looser mode is tightened to owner-only when SmartSession
opens it, with one log line. A folder that already exists is never changed: whoever made
it (an administrator's ``/var/lib/smartsession``, a home folder) chose its mode, and the
files inside stay unreadable to others whatever the folder allows.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: Mode of every file SmartSession creates for data, reports and logs.
FILE_MODE = 0o600
#: Mode of every folder SmartSession creates for them.
FOLDER_MODE = 0o700
#: The files SQLite keeps beside a database (created with the database's permissions).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> None:
    """Create the folder ``path`` and its missing parents with mode 0700; existing ones stay as they are."""
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner may read or write it; returns ``path``.

    Creates an empty file with mode 0600 (missing folders with 0700), or tightens an
    existing file that others may read or write (logged). Open it afterwards with any
    writer (``open``, ``sqlite3``, ``zipfile``): opening an existing file keeps its mode.
    Raises `OSError` when the file cannot be created.
    """
    _create(path)
    tighten(path)
    return path


def private_database(path: Path) -> Path:
    """`private_file` for an SQLite database, tightening its -wal/-shm/-journal too if they exist."""
    _create(path)
    tighten(path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS))
    return path


def tighten(*paths: Path) -> None:
    """Take every permission of group and others away from those ``paths`` that exist.

    One log line names the files that were changed; a file that cannot be changed (another
    user's) is logged and left alone.
    """
    if os.name != "posix":
        return
    changed: list[str] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & (stat.S_IRWXG | stat.S_IRWXO):
            continue
        try:
            os.chmod(path, mode & stat.S_IRWXU)
        except OSError as exc:
            log.warning(
                "%s is readable by others (mode %04o) and cannot be made owner-only: %s", path, mode, exc
            )
            continue
        changed.append(f"{path} (was {mode:04o})")
    if changed:
        log.warning("made owner-only, as others could read them: %s", ", ".join(changed))


def _create(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (its missing folders with 0700)."""
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
