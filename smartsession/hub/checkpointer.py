"""Copies the hub's write-ahead log into the database file, on a thread of its own.

SQLite in WAL mode checkpoints on the committing connection by default: every
``wal_autocheckpoint`` pages, one commit also copies the log into the database file and
fsyncs both, which made about one commit in thirty take 5-25 ms instead of 1 (a
send->ack latency spike for every agent in that batch). The store's writer therefore only
checkpoints as a backstop (`BACKSTOP_PAGES`), and this thread runs passive checkpoints
every `INTERVAL` seconds on its own connection: they never block the writer (SQLite lets
one checkpointer run beside one writer), and the fsyncs happen here, with the GIL released.
When a checkpoint catches up with the log before the writer's next commit, that commit
starts the log afresh, so the file stays small.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between two passive checkpoints.
INTERVAL = 0.25
#: WAL pages after which the writer checkpoints itself (if this thread fell behind).
BACKSTOP_PAGES = 4000
#: Bytes the WAL file is cut back to after the log restarts (``PRAGMA journal_size_limit``).
WAL_SIZE_LIMIT = 16 * 1024 * 1024


class Checkpointer:
    """A thread that checkpoints the WAL of the database at ``path``; `start`, later `stop`."""

    def __init__(self, path: Path, synchronous: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.synchronous = synchronous
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing (the database must exist and be in WAL mode)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="smartsession-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (blocks for at most one checkpoint)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            log.error("cannot open %s for checkpoints (the writer will checkpoint): %s", self.path, exc)
            return
        last_error = ""
        try:
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        except sqlite3.Error as exc:
            log.error("cannot set up checkpoints of %s (the writer will checkpoint): %s", self.path, exc)
            conn.close()
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    if str(exc) != last_error:
                        log.warning("checkpoint of %s failed (will retry): %s", self.path, exc)
                    last_error = str(exc)
                    continue
                if last_error:
                    log.info("checkpoints of %s work again", self.path)
                    last_error = ""
        finally:
            conn.close()
