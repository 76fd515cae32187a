"""The hub's background replicator: ships what the SQLite store holds to the school's PostgreSQL.

The class never depends on it: the store stays the primary, acks go out on SQLite commits,
and the replicator only reads the file (its own read-only connection on its own thread,
`smartsession.school.worker.Worker`) and writes its bookkeeping through the store's writer
thread (`Store.call`), so it never takes the write lock from under the writer.

One cycle (every ``school.interval`` seconds, at once again while a backlog remains):

1. read a `smartsession.school.ledger.Snapshot` (rows above the marks, changed sessions,
   pending erasures) in one SQLite transaction;
2. ship it in one PostgreSQL transaction (`smartsession.school.shipping.ship`);
3. record applied erasures and finished sessions in SQLite, and the new marks every
   `RECORD_EVERY` seconds and at stop.

A crash before 3 re-ships the same rows next time, which the server ignores (keys).
While the server is away (unreachable, refusing the password, not set up), each failure is
one sentence in the log (again only when the sentence changes, or every `REMIND` seconds)
and in `status`, and attempts back off up to ``school.retry_max``; nothing is lost, the
backlog waits in SQLite. Call `start`, and `stop` before the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartsession.config import Config
from smartsession.core.backoff import backoff_delays
from smartsession.errors import HubError, SchoolError
from smartsession.hub.store import Store
from smartsession.school import ledger, pgschema, shipping
from smartsession.school.connection import Connection, describe_error, describe_server, read_password
from smartsession.school.worker import Worker

log = logging.getLogger(__name__)

#: Seconds between two log lines while the server stays away with the same reason.
REMIND = 300.0
#: Seconds `Replicator.stop` gives the last shipment (the rest goes on the next start).
STOP_WITHIN = 5.0
#: Seconds between two writes of the marks into SQLite while shipping.
RECORD_EVERY = 5.0


class ReplicationState(enum.StrEnum):
    """Where replication stands, as the class view's header and ``doctor`` say it."""

    CONNECTING = "connecting"
    SYNCED = "synced"
    CATCHING_UP = "catching up"
    AWAY = "away"


@dataclass(frozen=True)
class ReplicationStatus:
    """A moment of replication: state, seconds behind, and the last failure.

    ``error`` says what failed in a few words, ``sentence`` in full (as logged).
    """

    state: ReplicationState
    lag: float
    error: str = ""
    sentence: str = ""


class Replicator:
    """Replicates the store at ``store`` for ``hub_id`` to the server at ``url``.

    ``password_file`` is read at each connection attempt (empty: libpq's own places).
    ``courses`` maps a class id to its course for the sessions shipped.
    """

    def __init__(
        self,
        store: Store,
        *,
        hub_id: str,
        url: str,
        password_file: Path | None,
        courses: dict[str, str],
        interval: float = 1.0,
        batch_rows: int = 5000,
        connect_timeout: int = 10,
        retry_max: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.hub_id = hub_id
        self.url = url
        self._password_file = password_file
        self._courses = courses
        self.interval = interval
        self.batch_rows = batch_rows
        self.connect_timeout = connect_timeout
        self.retry_max = retry_max
        self._clock = clock
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._final_read = False
        self._pg: Connection | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._marks: dict[str, int] = {}
        #: The marks as last written to SQLite, and when.
        self._recorded: dict[str, int] = {}
        self._recorded_at = float("-inf")
        self._enabled = False
        self._shipped: dict[str, ledger.Digest] = {}
        self._state = ReplicationState.CONNECTING
        self._error = ""
        self._sentence = ""
        self._local_error = ""
        self._logged_at = float("-inf")
        self._started_at = 0.0
        self._synced_at: float | None = None
        #: Rows shipped since start, per table (for logs and the benchmark).
        self.shipped_rows: dict[str, int] = {}
        #: Attempts that failed since start.
        self.failures = 0

    @classmethod
    def from_config(cls, config: Config, store: Store, hub_id: str) -> Replicator:
        """A replicator as ``[school]`` and ``[class]`` of ``config`` describe it."""
        school = config.school
        courses = {config.class_.id: config.class_.course} if config.class_.course else {}
        return cls(
            store,
            hub_id=hub_id,
            url=school.database_url,
            password_file=config.path(school.password_file) if school.password_file else None,
            courses=courses,
            interval=school.interval,
            batch_rows=school.batch_rows,
            connect_timeout=school.connect_timeout,
            retry_max=school.retry_max,
        )

    # lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the read connection and start replicating in the background (never raises for the server)."""
        self._started_at = self._clock()
        self._worker = Worker(f"smartsession-school-{self.hub_id}")
        self._marks = await self._worker.run(self._open_sqlite)
        self._task = asyncio.create_task(self._run(), name="school-replicator")
        log.info("replicating to the school server %s", describe_server(self.url))

    async def stop(self, within: float = STOP_WITHIN) -> None:
        """Ship what is committed (for at most ``within`` seconds), then close both connections."""
        if self._task is None or self._worker is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), within)
        except TimeoutError:
            log.warning("the last shipment to the school server did not finish; it resumes at the next start")
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        worker, self._worker = self._worker, None
        worker_done = worker.run(self._close_connections)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker_done, 1.0)
        worker.close(0.0)
        log.info(
            "school replication stopped: %d rows shipped, %.3f s of CPU on its thread",
            sum(self.shipped_rows.values()),
            worker.cpu_seconds,
        )

    def status(self) -> ReplicationStatus:
        """The state now; ``lag`` is how long ago the server last held everything stored."""
        since = self._synced_at if self._synced_at is not None else self._started_at
        lag = max(0.0, self._clock() - since) if since else 0.0
        return ReplicationStatus(self._state, lag, self._error, self._sentence)

    # the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        delays = backoff_delays(self.interval, max(self.interval, self.retry_max), random.Random())
        while True:
            if self._stopping and self._state is ReplicationState.AWAY:
                return  # no last attempt against a server that is away: stopping never waits for it
            try:
                more = await self._cycle()
            except (sqlite3.Error, HubError) as exc:  # the hub's own file, not the server
                self._away(
                    SchoolError(f"replication cannot read the hub's database: {exc}", f"hub database: {exc}")
                )
            except Exception as exc:
                self._away(describe_error(exc, self.url))
                log.debug("school replication failed", exc_info=True)
            else:
                delays = backoff_delays(self.interval, max(self.interval, self.retry_max), random.Random())
                if self._final_read:
                    return
                if more:
                    continue
                await self._sleep(self.interval)
                continue
            if self._stopping:
                return
            await self._sleep(next(delays))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _cycle(self) -> bool:
        """One read-ship-record round; True when more remains to ship right away."""
        worker = self._worker
        assert worker is not None
        if self._pg is None:
            await worker.run(self._connect)
        if not self._enabled:
            self._marks = await self._store.call(ledger.enable)
            self._recorded, self._enabled = dict(self._marks), True
        read_at = self._clock()
        self._final_read = self._stopping  # a read after `stop` was asked sees all that was committed
        marks, shipped, batch = dict(self._marks), dict(self._shipped), self.batch_rows
        snapshot = await worker.run(lambda: self._read_and_ship(marks, shipped, batch))
        self._marks = snapshot.marks
        self._shipped.update(snapshot.digests)
        for session_id in snapshot.finished:
            self._shipped.pop(session_id, None)
        await self._record(snapshot)
        if self._state is ReplicationState.AWAY:
            log.info(
                "school server %s reachable again; %d rows to catch up",
                describe_server(self.url),
                snapshot.behind,
            )
        self._error = self._sentence = ""
        if snapshot.more:
            self._state = ReplicationState.CATCHING_UP
        else:
            self._state = ReplicationState.SYNCED
            self._synced_at = read_at
        return snapshot.more

    async def _record(self, snapshot: ledger.Snapshot) -> None:
        """Write the progress into SQLite: erasures and finished sessions at once, marks every
        `RECORD_EVERY` seconds and at stop (marks a crash did not record only mean shipping
        those rows again, which changes nothing on the server)."""
        due = self._final_read or self._clock() - self._recorded_at >= RECORD_EVERY
        if not (snapshot.erasures or snapshot.finished or (due and self._marks != self._recorded)):
            return
        marks, erasures = dict(self._marks), [e.id for e in snapshot.erasures]
        try:
            await self._store.call(
                lambda conn: ledger.record_progress(conn, marks, erasures, snapshot.finished)
            )
        except (sqlite3.Error, HubError) as exc:
            if str(exc) != self._local_error:
                log.warning("cannot record replication progress in the hub's database: %s", exc)
            self._local_error = str(exc)
            return
        self._local_error = ""
        self._recorded, self._recorded_at = marks, self._clock()

    def _away(self, problem: SchoolError) -> None:
        self.failures += 1
        now = self._clock()
        if str(problem) != self._sentence or now - self._logged_at >= REMIND:
            log.warning("school replication paused, the class goes on: %s", problem)
            self._logged_at = now
        self._state = ReplicationState.AWAY
        self._sentence, self._error = str(problem), problem.short
        if self._pg is not None and self._worker is not None:
            pg, self._pg = self._pg, None
            self._worker.submit(pg.close)

    # on the worker thread ----------------------------------------------------------------

    def _open_sqlite(self) -> dict[str, int]:
        conn = sqlite3.connect(self._store.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA query_only = ON")
        self._sqlite = conn
        return ledger.read_marks(conn)

    def _connect(self) -> None:
        password = read_password(self._password_file) if self._password_file is not None else ""
        self._pg = pgschema.connect_hub(self.url, password, self.hub_id, timeout=self.connect_timeout)

    def _read_and_ship(
        self, marks: dict[str, int], shipped: dict[str, ledger.Digest], batch: int
    ) -> ledger.Snapshot:
        assert self._sqlite is not None and self._pg is not None
        snapshot = ledger.read_snapshot(self._sqlite, marks, shipped, batch)
        if not snapshot.empty:
            shipping.ship(self._pg, self.hub_id, snapshot, self._courses)
            for table, rows in snapshot.rows.items():
                if rows:
                    self.shipped_rows[table] = self.shipped_rows.get(table, 0) + len(rows)
        return snapshot

    def _close_connections(self) -> None:
        for conn in (self._pg, self._sqlite):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._pg = self._sqlite = None
