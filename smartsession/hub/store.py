"""The hub's SQLite store: sessions, students, samples and events, written in batches off the loop.

One writer thread owns the SQLite connection. The event loop only enqueues work
(`Store.add_items`, `Store.record_join`, ...) and awaits reads (`Store.last_seq`, ...), which
run on that same thread, so the loop never blocks on SQLite. The writer commits what is
queued in one transaction as soon as it is free, at most once per ``storage.batch_interval``
seconds (group commit: low latency when idle, big batches under load) and reports the
highest committed seq per student back to the loop (``on_commit``), which is what the hub
acks. The schema and plain SQL live in `smartsession.hub.schema`.

A failed commit (disk full, read-only file) never crashes anything: the batch is rolled
back, kept queued and retried; `Store.healthy` and `Store.last_error` tell the TUI.

Durability (``storage.synchronous``): with ``"normal"`` (the default) a commit is written to
the WAL without an fsync, so an acked item survives a crash or kill of the hub process (the
OS still has it) but the last commits before a power cut or OS crash may be lost; the file
stays consistent either way. ``"full"`` adds an fsync per commit (also survives power loss),
which costs milliseconds per commit and is what made send->ack latency spiky on busy disks.

The hub is bound by the GIL, which the loop and the writer share, so the writer keeps its
share small: the loop queues a write without taking a lock, the writer is woken only when it
sleeps with nothing queued or when `BATCH_MAX` operations are queued (under load it wakes on
its own timer), rows go in as multi-row statements (`smartsession.hub.batch`), and
checkpoints of the write-ahead log run on a thread of their own
(`smartsession.hub.checkpointer`), so no commit waits for their fsyncs.

Samples and events share one seq space per student and session (protocol 2 numbers items
afresh in each session); a (session_id, student_id, seq) stored in either table counts as
stored, and a duplicate is ignored (``INSERT OR IGNORE``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from smartsession.core.classwide import Spike
from smartsession.core.protocol import Event, Sample
from smartsession.core.snapshots import HubGap
from smartsession.errors import HubError
from smartsession.hub import class_events
from smartsession.hub.batch import ItemWrite, Op, SqlWrite, apply_batch
from smartsession.hub.checkpointer import BACKSTOP_PAGES, WAL_SIZE_LIMIT, Checkpointer
from smartsession.hub.schema import (
    SYNCHRONOUS,
    connect,
    open_or_resume_session,
    read_last_seq,
    read_segments,
    read_seqs,
    read_session_started,
    read_standing,
    read_student_summaries,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Commit at once when this many operations are queued.
BATCH_MAX = 1000
#: Longest wait between retries of a failed commit.
RETRY_MAX = 5.0


class Store:
    """The SQLite store behind the hub; see the module docstring.

    Call `open` (on the event loop) first, then enqueue writes and await reads; call `close`
    last, which flushes what is queued.
    """

    def __init__(
        self,
        path: Path,
        *,
        batch_interval: float = 0.005,
        on_commit: Callable[[dict[str, int]], None] | None = None,
        synchronous: str = "normal",
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
        self.path = path
        self.batch_interval = batch_interval
        self.synchronous = synchronous
        self.on_commit = on_commit
        #: False while the last commit failed; `last_error` says why.
        self.healthy = True
        self.last_error = ""
        self._cond = threading.Condition()
        #: Writes from the loop, appended without a lock (a deque's append and popleft are
        #: atomic); only the writer thread takes them out.
        self._pending: deque[Op] = deque()
        #: Writes queued and writes committed so far, each item (sample or event) counting
        #: as one; each counter has one writing thread (the loop, the writer).
        self._added = 0
        self._committed = 0
        self._calls: deque[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]] = (
            deque()
        )
        self._stopping = False
        #: True while the writer sleeps with nothing queued (only then must a write wake it).
        self._idle = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer thread and open (create, migrate) the database.

        Raises `HubError` when the database cannot be opened.
        """
        self._loop = asyncio.get_running_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="smartsession-store", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(ready)
        except (sqlite3.Error, OSError) as exc:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            raise HubError(f"cannot open database {self.path}: {exc}") from exc

    async def close(self) -> None:
        """Flush what is queued (one last attempt), close the database and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        await asyncio.to_thread(thread.join)
        self._thread = None

    @property
    def pending(self) -> int:
        """How many writes (each item counts as one) wait for a commit."""
        return self._added - self._committed

    # writes (from the loop; never block) ------------------------------------------------

    def add_items(
        self, session_id: str, student_id: str, items: Iterable[Sample | Event], now: float
    ) -> None:
        """Queue samples/events of a student; committed in the next batch, then reported to ``on_commit``."""
        op = ItemWrite(session_id, student_id, tuple(items), now)
        self._queue((op,), len(op.items))

    def record_join(self, session_id: str, student_id: str, name: str, host: str, now: float) -> None:
        """Queue: a student joined (upsert into students, open a connection record)."""
        self._enqueue(
            [
                SqlWrite(
                    "INSERT INTO students (session_id, student_id, name, host, first_seen, last_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, student_id) DO UPDATE SET"
                    " name = excluded.name, host = excluded.host, last_seen = excluded.last_seen",
                    (session_id, student_id, name, host, now, now),
                ),
                SqlWrite(
                    "INSERT INTO connections (session_id, student_id, connected_at, disconnected_at)"
                    " VALUES (?, ?, ?, NULL)",
                    (session_id, student_id, now),
                ),
            ]
        )

    def record_leave(self, session_id: str, student_id: str, connected_at: float, now: float) -> None:
        """Queue: the connection of a student that joined at ``connected_at`` ended."""
        self._enqueue(
            [
                SqlWrite(
                    "UPDATE connections SET disconnected_at = ? WHERE session_id = ? AND student_id = ?"
                    " AND connected_at = ? AND disconnected_at IS NULL",
                    (now, session_id, student_id, connected_at),
                ),
                SqlWrite(
                    "UPDATE students SET last_seen = MAX(last_seen, ?)"
                    " WHERE session_id = ? AND student_id = ?",
                    (now, session_id, student_id),
                ),
            ]
        )

    def add_segment(self, session_id: str, label: str, now: float) -> None:
        """Queue: the teacher started a lecture segment called ``label`` at ``now``."""
        self._enqueue(
            [
                SqlWrite(
                    "INSERT INTO segments (session_id, started_at, label) VALUES (?, ?, ?)",
                    (session_id, now, label),
                )
            ]
        )

    def record_spike(self, session_id: str, spike: Spike) -> None:
        """Queue: a class alert (confusion spike) was raised or cleared (`class_events`)."""
        self._enqueue([SqlWrite(class_events.UPSERT, class_events.spike_row(session_id, spike))])

    def end_session(self, session_id: str, now: float) -> None:
        """Queue: the session ended cleanly (it will not be resumed)."""
        self._enqueue([SqlWrite("UPDATE sessions SET ended_at = ? WHERE id = ?", (now, session_id))])

    def _enqueue(self, ops: list[Op]) -> None:
        self._queue(ops, len(ops))

    def _queue(self, ops: Iterable[Op], count: int) -> None:
        # No lock on this path (it runs for every message): the writer sets `_idle` before it
        # looks at `_pending` for the last time and sleeps, so either it sees these ops or we
        # see `_idle` and wake it.
        before = self._added - self._committed
        self._pending.extend(ops)
        self._added += count
        if self._idle or before < BATCH_MAX <= before + count:
            with self._cond:
                self._cond.notify_all()

    # reads (awaited; run on the writer thread) ------------------------------------------

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the writer thread and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._cond:
            if self._thread is None or self._stopping:
                raise HubError("the store is closed")
            self._calls.append((fn, future))
            self._cond.notify_all()
        return await asyncio.wrap_future(future)

    async def last_seq(self, student_id: str, session_id: str | None = None) -> int:
        """Highest committed seq of a student in a session (None: in any session); 0 when none."""
        return await self.call(lambda conn: read_last_seq(conn, student_id, session_id))

    async def standing(self, session_id: str, student_id: str) -> tuple[int, int]:
        """A student's highest committed seq and number of committed items in a session."""
        return await self.call(lambda conn: read_standing(conn, session_id, student_id))

    async def seqs(self, student_id: str) -> list[int]:
        """Every committed seq of a student, ascending."""
        return await self.call(lambda conn: read_seqs(conn, student_id))

    async def segments(self, session_id: str) -> list[tuple[float, str]]:
        """The committed lecture segments of a session as (started_at, label), oldest first."""
        return await self.call(lambda conn: read_segments(conn, session_id))

    async def student_summaries(self, session_id: str) -> list[dict[str, Any]]:
        """Per-student summary of a session; see `read_student_summaries`."""
        return await self.call(lambda conn: read_student_summaries(conn, session_id))

    async def session_started(self, session_id: str) -> float:
        """When a stored session began (epoch seconds)."""
        return await self.call(lambda conn: read_session_started(conn, session_id))

    async def repair_resumed(self, session_id: str, now: float) -> HubGap:
        """Close what a crash left open in a resumed session; see `class_events.repair_resumed`."""
        return await self.call(lambda conn: class_events.repair_resumed(conn, session_id, now))

    async def read_resumed(self, session_id: str) -> class_events.Resumed:
        """What the roster takes back of a resumed session; see `class_events.read_resumed`."""
        return await self.call(lambda conn: class_events.read_resumed(conn, session_id))

    async def open_session(self, class_id: str, hub_id: str, now: float) -> tuple[str, bool]:
        """Resume or create the session of this class; returns ``(session_id, resumed)``."""
        return await self.call(lambda conn: open_or_resume_session(conn, class_id, hub_id, now))

    async def flush(self, within: float = 10.0) -> bool:
        """Wait until nothing is queued; False if that did not happen ``within`` seconds."""
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(min(self.batch_interval, 0.05))
        return True

    # the writer thread ------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = connect(self.path, self.synchronous)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        try:
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        except sqlite3.Error as exc:
            conn.close()
            ready.set_exception(exc)
            return
        checkpointer = Checkpointer(self.path, self.synchronous)
        checkpointer.start()
        ready.set_result(None)
        try:
            self._serve(conn)
        finally:
            checkpointer.stop()
            with self._cond:
                calls = list(self._calls)
                self._calls.clear()
            for _, future in calls:
                future.set_exception(HubError("the store is closed"))
            conn.close()

    def _serve(self, conn: sqlite3.Connection) -> None:
        # Group commit: an item that arrives while the writer is idle is committed at once;
        # under load, commits are at least ``batch_interval`` apart and carry everything queued.
        last_commit = float("-inf")
        retry_delay = self.batch_interval
        next_try = 0.0
        while True:
            with self._cond:
                while not (self._calls or self._stopping):
                    self._idle = True  # before the last look at `_pending`: see `_queue`
                    if not self._pending:
                        self._cond.wait()
                        continue
                    self._idle = False
                    now = time.monotonic()
                    due = max(last_commit + self.batch_interval, next_try)
                    if self.pending >= BATCH_MAX and now >= next_try:
                        due = now
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                self._idle = False
                calls = list(self._calls)
                self._calls.clear()
                stopping = self._stopping
            # One C-level copy (the loop cannot append meanwhile); ops leave `_pending` only
            # once committed, so a failed commit keeps them, in order, for the retry.
            ops = list(self._pending)
            count = sum(len(op.items) if isinstance(op, ItemWrite) else 1 for op in ops)
            for fn, future in calls:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(conn))
                    except BaseException as exc:
                        future.set_exception(exc)
            now = time.monotonic()
            aged = now >= last_commit + self.batch_interval
            if ops and (stopping or aged or count >= BATCH_MAX) and (stopping or now >= next_try):
                if self._commit(conn, ops):
                    last_commit = time.monotonic()
                    for _ in range(len(ops)):
                        self._pending.popleft()
                    self._committed += count
                    retry_delay = self.batch_interval
                    next_try = 0.0
                else:
                    next_try = time.monotonic() + retry_delay
                    retry_delay = min(retry_delay * 2, RETRY_MAX)
            if stopping:
                if self._pending:
                    log.error("store closed with %d writes not committed: %s", self.pending, self.last_error)
                return

    def _commit(self, conn: sqlite3.Connection, ops: list[Op]) -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
            acks = apply_batch(conn, ops)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if self.healthy or str(exc) != self.last_error:
                log.error("database commit failed (%d writes kept for retry): %s", len(ops), exc)
            self.healthy = False
            self.last_error = str(exc)
            return False
        if not self.healthy:
            log.info("database commits work again")
        self.healthy = True
        self.last_error = ""
        if acks and self.on_commit is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self.on_commit, acks)
        return True
