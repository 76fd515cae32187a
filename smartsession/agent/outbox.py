"""The agent's outbox: samples and events with sequence numbers, kept until the hub acks them.

Ordered by seq (which is also production order). Bounded by time span: when the newest
item is more than ``span`` seconds newer than the oldest, the oldest are dropped and
counted in `Outbox.dropped`. No clock. In memory, or persisted when given a ``path``: a
SQLite file (WAL, ``synchronous=NORMAL``) keeps the unacknowledged items, the highest seq
ever produced and ``sent_upto``, so a restarted agent reloads them, replays what is
unacknowledged and continues numbering after the highest seq it ever stored.

The file is written by a writer thread, never on the event loop: every method changes the
memory state at once and queues the change; the writer applies everything queued in one
transaction (so about one commit per burst, not per item), normally within milliseconds.
What a SIGKILL can and cannot lose:

* an item becomes *durable* when the writer has committed it; `pending_after` hands out
  durable items only, and only after ``sent_upto`` covering them is committed too. So every
  item a hub may have seen is in the file (or acknowledged), and a restart never renumbers
  an item a hub already holds;
* items added in the last moment before a SIGKILL (not yet committed: a few ms) are lost,
  and their seqs may be used again after the restart; no hub has seen them.

A power cut may lose the last instants (``synchronous=NORMAL``). Call `Outbox.close` last
(it waits for the writer; from a coroutine run it with ``asyncio.to_thread``).

Sessions: the hub numbers each student's items afresh in every session (protocol 2), so the
outbox remembers which session its numbering belongs to. When a hub welcomes it into another
session, the unacknowledged items are renumbered from that session's ``last_seq + 1`` (those
produced before the session began are dropped: no session holds them), and counting goes on
from there.

Use: ``outbox.add(make_item(outbox.next_seq))``; set `Outbox.on_durable` to something
that wakes the link (thread-safely: it is called from the writer thread); the link calls
`Outbox.welcome` after a successful join, sends `Outbox.pending_after` its cursor, calls
`Outbox.mark_sent` and `Outbox.ack` as acks arrive.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from smartsession.core import protocol
from smartsession.core.keys import key_tag
from smartsession.core.protocol import Item, ProtocolError, Sample
from smartsession.errors import AgentError
from smartsession.files import private_database

logger = logging.getLogger(__name__)


class Outbox:
    """Unacknowledged items in seq order; see the module docstring for the life cycle."""

    def __init__(self, span: float, path: Path | None = None) -> None:
        """An empty outbox, or the one persisted at ``path`` (created when missing).

        Raises `AgentError` when the file cannot be opened.
        """
        if span <= 0.0:
            raise ValueError(f"outbox span must be positive, got {span}")
        self.span = span
        #: The seq the next produced item must carry.
        self.next_seq = 1
        #: Highest seq the hub has acknowledged (or said it holds) on any connection.
        self.acked = 0
        self._sent_upto = 0
        #: Highest seq ``sent_upto`` is committed for (raised by the writer thread, lowered
        #: when a new session renumbers the items; both under ``_lock``).
        self._released = 0
        self._release_requested = 0
        #: Bumped by each renumbering for a new session; releases of an older one are void.
        self._epoch = 0
        self._lock = threading.Lock()
        #: The hub session the numbering belongs to ("" before the first welcome).
        self.session = ""
        #: Called from the writer thread after a commit that made more items sendable.
        self.on_durable: Callable[[], None] | None = None
        #: How many unacknowledged items were dropped because the outbox spanned too long.
        self.dropped = 0
        #: Seq of the first and of the latest item added (0 before any), after any renumbering.
        self.first_seq = 0
        self.last_seq = 0
        self._items: deque[Item] = deque()
        self._journal: _Journal | None = None
        if path is not None:
            self._journal = _Journal(path, self._committed)
            items, produced, self._sent_upto, self.acked, self.session = self._journal.load()
            self._released = self._release_requested = self._sent_upto
            self._items = deque(items)
            self.next_seq = max(produced, self._items[-1].seq if self._items else 0) + 1
            if self._items or produced:
                logger.info(
                    "outbox %s: %d unacknowledged items reloaded; numbering continues at %d",
                    path,
                    len(self._items),
                    self.next_seq,
                )

    @property
    def sent_upto(self) -> int:
        """Highest seq that may have been handed to a connection; items above it were never
        sent anywhere."""
        return max(self._sent_upto, self._released)

    def close(self) -> None:
        """Write what is queued and close the file (nothing to do in memory). Blocks until
        the writer is done: from a coroutine, ``await asyncio.to_thread(outbox.close)``."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def sync(self, timeout: float | None = None) -> bool:
        """Block until everything queued so far is committed; False on timeout (for tests and
        shutdown, never on the event loop)."""
        return self._journal.sync(timeout) if self._journal is not None else True

    def _committed(self, released: int, epoch: int) -> None:
        """Writer thread: a batch is committed, with ``sent_upto`` up to ``released``."""
        with self._lock:
            if epoch != self._epoch or released <= self._released:
                return
            self._released = released
        if self.on_durable is not None:
            self.on_durable()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(tuple(self._items))

    @property
    def items(self) -> tuple[Item, ...]:
        """Every unacknowledged item, oldest first."""
        return tuple(self._items)

    def add(self, item: Item) -> None:
        """Append a new item; its seq must be at least `next_seq` (normally equal to it).

        Afterwards ``next_seq`` is ``item.seq + 1`` and items older than the span are dropped.
        """
        if item.seq < self.next_seq:
            raise ValueError(f"item seq {item.seq} is below next_seq {self.next_seq}")
        self._items.append(item)
        self.next_seq = item.seq + 1
        self.first_seq = self.first_seq or item.seq
        self.last_seq = item.seq
        if self._journal is not None:
            self._journal.add(item)
        self._trim(item.ts)

    def pending_after(self, seq: int) -> list[Item]:
        """The items with a seq above ``seq``, in order (what a connection still has to send).

        Persisted, only items that are durable with ``sent_upto`` committed for them; the
        others are queued for that, and `on_durable` is called once they are.
        """
        if self._journal is None:
            return [item for item in self._items if item.seq > seq]
        if self._items and self._items[-1].seq > self._release_requested:
            self._release_requested = self._items[-1].seq
            self._journal.release(self._release_requested, self._epoch)
        upto = self._released
        return [item for item in self._items if seq < item.seq <= upto]

    def mark_sent(self, seq: int) -> None:
        """Record that every item up to ``seq`` is handed to a connection (call before sending)."""
        if seq > self._sent_upto:
            self._sent_upto = seq
            if self._journal is not None and seq > self._released:
                self._journal.set("sent_upto", seq)

    def ack(self, seq: int) -> int:
        """Drop every item up to and including ``seq``; return how many were dropped."""
        self.acked = max(self.acked, seq)
        count = 0
        while self._items and self._items[0].seq <= seq:
            self._items.popleft()
            count += 1
        if self._journal is not None and count:
            self._journal.drop_upto(seq, self.acked)
        return count

    def welcome(self, last_seq: int, session: str = "", not_before: float | None = None) -> None:
        """Apply a hub's welcome: ``last_seq`` (the highest seq it holds for this student in
        ``session``) and, for a session other than the outbox's, ``not_before`` (this
        machine's clock at the session's start).

        Same session (or ``session`` empty): items the hub already holds are dropped, and
        ``next_seq`` becomes at least ``last_seq + 1``. Items never sent to any hub that
        collide with seqs the hub already holds (from an earlier run of this agent) are
        renumbered after ``last_seq``, in order, so nothing produced before the first
        connection is lost. Another session: see the module docstring. After this, send
        ``pending_after(last_seq)``.
        """
        if session and session != self.session:
            self._start_session(last_seq, session, not_before)
            return
        self.ack(min(last_seq, self.sent_upto))
        if self._items and self._items[0].seq <= last_seq:
            shift = last_seq + 1 - self._items[0].seq
            logger.info("hub already holds seq up to %d; renumbering %d unsent items", last_seq, len(self))
            self._items = deque(msgspec.structs.replace(item, seq=item.seq + shift) for item in self._items)
            if self._journal is not None:
                self._journal.replace_all(tuple(self._items))
            self.next_seq += shift
            self.last_seq += shift
            if self.first_seq > self.sent_upto:
                self.first_seq += shift
        self.next_seq = max(self.next_seq, last_seq + 1)

    def _start_session(self, last_seq: int, session: str, not_before: float | None) -> None:
        items = [item for item in self._items if not_before is None or item.ts >= not_before]
        stale = len(self._items) - len(items)
        renumbered = [msgspec.structs.replace(item, seq=last_seq + 1 + n) for n, item in enumerate(items)]
        if self.session:
            logger.info(
                "hub session %s replaces %s: %d items renumbered from %d, %d from before it dropped",
                session,
                self.session,
                len(renumbered),
                last_seq + 1,
                stale,
            )
        self.session = session
        self._items = deque(renumbered)
        self.acked = last_seq
        with self._lock:
            self._epoch += 1
            self._sent_upto = self._released = self._release_requested = last_seq
        self.next_seq = last_seq + 1 + len(renumbered)
        self.first_seq = renumbered[0].seq if renumbered else 0
        self.last_seq = renumbered[-1].seq if renumbered else last_seq
        self.dropped += stale
        if self._journal is not None:
            self._journal.reset(tuple(renumbered), session, self.next_seq - 1, last_seq, self._epoch)

    def _trim(self, newest_ts: float) -> None:
        before = len(self._items)
        while len(self._items) > 1 and newest_ts - self._items[0].ts > self.span:
            self._items.popleft()
        lost = before - len(self._items)
        if lost and self._journal is not None:
            self._journal.drop_upto(self._items[0].seq - 1, self.acked)
        if lost:
            if self.dropped == 0:
                logger.warning("outbox spans more than %.0f s; dropping the oldest items", self.span)
            self.dropped += lost


def default_outbox_path(data_dir: Path, class_id: str, student_id: str, key: bytes) -> Path:
    """Where an agent keeps its outbox when ``agent.outbox_path`` is empty.

    One file per class, student and machine key (a short one-way tag of the key, so a new
    key, that is a new class setup, starts a fresh sequence).
    """
    return data_dir / "outbox" / f"{class_id}.{student_id}.{key_tag(key)}.sqlite"


class _Journal:
    """The SQLite file behind a persisted `Outbox` (items by seq, plus a few counters).

    `load` runs in the caller's thread at start; every later change is queued and applied by
    one writer thread, in order, a queue's worth per transaction. ``committed(released)`` is
    called from that thread after each transaction.
    """

    def __init__(self, path: Path, committed: Callable[[int, int], None]) -> None:
        try:
            private_database(path)  # owner-only, and so its -wal and -shm
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS items (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise AgentError(f"cannot open the outbox {path}: {exc}; check agent.outbox_path") from exc
        self.path = path
        self._error = ""
        self._committed = committed
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="outbox writer", daemon=True)
        self._thread.start()

    def load(self) -> tuple[list[Item], int, int, int, str]:
        """Items in seq order, the highest seq produced, ``sent_upto``, ``acked`` and the session."""
        items: list[Item] = []
        for seq, frame in self._conn.execute("SELECT seq, frame FROM items ORDER BY seq"):
            try:
                item = protocol.decode_agent_message(frame)
            except ProtocolError as exc:
                logger.error("outbox %s: dropping damaged item %d: %r", self.path, seq, exc.message)
                continue
            if isinstance(item, Sample | protocol.Event):
                items.append(item)
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        numbers = [int(meta.get(key, 0)) for key in ("produced", "sent_upto", "acked")]
        return items, numbers[0], numbers[1], numbers[2], str(meta.get("session", ""))

    # Called from the owner's thread: queue the change.

    def add(self, item: Item) -> None:
        self._queue.put(("add", item))

    def set(self, key: str, value: int) -> None:
        self._queue.put(("set", (key, value)))

    def release(self, seq: int, epoch: int) -> None:
        """Commit ``sent_upto`` >= ``seq``, then report ``seq`` as released (in ``epoch``)."""
        self._queue.put(("release", (seq, epoch)))

    def reset(self, items: tuple[Item, ...], session: str, produced: int, acked: int, epoch: int) -> None:
        """Replace every item and counter: the numbering now belongs to ``session``."""
        self._queue.put(("reset", (items, session, produced, acked, epoch)))

    def drop_upto(self, seq: int, acked: int) -> None:
        self._queue.put(("drop", (seq, acked)))

    def replace_all(self, items: tuple[Item, ...]) -> None:
        self._queue.put(("replace", items))

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is committed."""
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    def close(self) -> None:
        self._queue.put(("stop", None))
        self._thread.join()
        self._conn.close()

    # The writer thread.

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            released, epoch = self._write([op for op in batch if op[0] not in ("sync", "stop")])
            if released:
                try:
                    self._committed(released, epoch)
                except Exception:  # pragma: no cover - a callback bug must not stop the writer
                    logger.exception("outbox %s: on_durable failed", self.path)
            for kind, arg in batch:
                if kind == "sync":
                    arg.set()
                stop = stop or kind == "stop"

    def _write(self, ops: list[tuple[str, Any]]) -> tuple[int, int]:
        """Apply ``ops`` in one transaction; return the highest seq released by them (0: none)
        and its epoch (releases of the newest epoch among them count).

        On failure (disk full, read-only) the items stay in memory only (said once per
        error), and releases still count, so the link keeps sending.
        """
        releases = [arg for kind, arg in ops if kind == "release"]
        epoch = max((e for _, e in releases), default=0)
        released = max((seq for seq, e in releases if e == epoch), default=0)
        if not ops:
            return 0, 0
        try:
            with self._conn:
                self._conn.execute("BEGIN")
                for kind, arg in ops:
                    if kind == "add":
                        self._conn.execute(
                            "INSERT OR REPLACE INTO items VALUES (?, ?)", (arg.seq, protocol.encode(arg))
                        )
                        self._set("produced", arg.seq)
                    elif kind == "set":
                        self._set(*arg)
                    elif kind == "release":
                        self._set("sent_upto", arg[0])
                    elif kind == "reset":
                        items, session, produced, acked, _ = arg
                        self._conn.execute("DELETE FROM items")
                        self._conn.executemany(
                            "INSERT INTO items VALUES (?, ?)", [(i.seq, protocol.encode(i)) for i in items]
                        )
                        self._conn.executemany(
                            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            [
                                ("produced", produced),
                                ("sent_upto", acked),
                                ("acked", acked),
                                ("session", session),
                            ],
                        )
                    elif kind == "drop":
                        seq, acked = arg
                        self._conn.execute("DELETE FROM items WHERE seq <= ?", (seq,))
                        self._set("acked", acked)
                    elif kind == "replace":
                        rows = [(item.seq, protocol.encode(item)) for item in arg]
                        self._conn.execute("DELETE FROM items")
                        self._conn.executemany("INSERT INTO items VALUES (?, ?)", rows)
                        if rows:
                            self._set("produced", max(seq for seq, _ in rows))
        except sqlite3.Error as exc:
            if str(exc) != self._error:
                logger.error("outbox %s: cannot write (%s); items stay in memory only", self.path, exc)
            self._error = str(exc)
        return released, epoch

    def _set(self, key: str, value: int) -> None:
        self._conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
            (key, value),
        )
