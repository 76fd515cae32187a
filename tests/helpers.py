"""Helpers shared by tests that drive real processes: polling, and reading a hub's database."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from smartsession.config import read_secret
from smartsession.keys import MachineKey, write_machine_key
from smartsession.logs import parse_logfmt as logfmt

__all__ = ["logfmt", "stored_seqs", "wait_for", "write_agent_key"]


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, details: Callable[[], str] = str
) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds naming ``what`` (and ``details()``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{details()}")


def stored_seqs(db: Path) -> dict[str, list[int]]:
    """Every stored seq per student, samples and events alike (read-only; {} until the file exists)."""
    if not db.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            rows = conn.execute(
                "SELECT student_id, seq FROM samples UNION ALL SELECT student_id, seq FROM events"
            ).fetchall()
    except sqlite3.OperationalError:
        return {}
    seqs: dict[str, list[int]] = {}
    for student_id, seq in rows:
        seqs.setdefault(str(student_id), []).append(int(seq))
    return seqs


def write_agent_key(folder: Path, class_id: str, student_id: str, name: str = "machine.key") -> Path:
    """Write ``student_id``'s machine key as ``folder/name``, made from ``folder/class.secret``."""
    path = folder / name
    write_machine_key(path, MachineKey.derive(read_secret(folder / "class.secret"), class_id, student_id))
    return path
