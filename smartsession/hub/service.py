"""The headless hub: store + WebSocket server + zeroconf announcer + roster, as one `Hub`.

``async with Hub(config, secret) as hub: ...`` or `run_hub` for the ``smartsession hub``
command. `Hub` is a `smartsession.core.snapshots.ClassFeed`: the TUI reads ``students()``
and ``alerts()`` and subscribes to roster events. The class alerts the roster raises are
stored here, so a headless hub keeps them too; a resumed session is repaired and given
back to the roster before anyone reconnects (`smartsession.hub.class_events`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from smartsession.config import Config
from smartsession.core.classwide import Spike
from smartsession.core.discovery import HubAdvert
from smartsession.core.limits import Bounds
from smartsession.core.protocol import PROTOCOL_VERSION
from smartsession.core.roster import Roster
from smartsession.core.snapshots import (
    AlertRecord,
    ClassAlertChanged,
    ClassPulse,
    HubGap,
    HubStatus,
    RosterEvent,
    SegmentStats,
    StudentSnapshot,
)
from smartsession.errors import HubError
from smartsession.hub import retention
from smartsession.hub.admission import Limits
from smartsession.hub.announcer import Announcer
from smartsession.hub.rivals import RivalWatch
from smartsession.hub.server import HubServer
from smartsession.hub.store import Store
from smartsession.hub.tls import load_or_create, server_context

if TYPE_CHECKING:
    from smartsession.school.replicator import Replicator

log = logging.getLogger(__name__)

Listener = Callable[[RosterEvent], None]

#: Seconds between two ticks of the roster (a confusion spike rises and clears on time).
TICK_INTERVAL = 1.0
#: Net allocations of tracked objects between two young-generation collections in a hub
#: process (Python's default, 700, ran the collector about a hundred times a second under load).
GC_YOUNG_THRESHOLD = 20_000


def tune_gc_for_serving() -> None:
    """Garbage-collector settings for a long-running hub process; call once, after start-up.

    What is alive by then (modules, classes, configuration) is frozen out of the collector's
    sight, so full collections only walk what the hub grew since, and young collections
    run every `GC_YOUNG_THRESHOLD` allocations: in a ``smartsession bench hub`` run the
    collector took 0.11 s instead of 1.1 s, in 6 pauses instead of about 800.
    A process-wide policy, so the commands call it, not `Hub` (tests run many hubs in one
    process).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def default_hub_id() -> str:
    """This machine's host name, made into a valid id."""
    text = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in text).strip("-._")
    return (cleaned or "hub")[:64]


class Hub:
    """The teacher's hub. Call `start` (or use ``async with``), later `stop`.

    After `start`: ``port``, ``url``, ``session_id``, ``roster`` and ``store`` are set.
    """

    def __init__(self, config: Config, secret: bytes) -> None:
        self.config = config
        self._secret = secret
        self.hub_id = config.hub.hub_id or default_hub_id()
        self.roster = Roster(
            config.class_.id, expected=config.roster.students, settings=config.class_settings
        )
        self.store = Store(
            config.database_path,
            batch_interval=config.storage.batch_interval,
            synchronous=config.storage.synchronous,
        )
        self.session_id = ""
        #: When the session began (epoch seconds; earlier than now after a resume).
        self.session_started = 0.0
        self.resumed = False
        self.port = 0
        self.fingerprint = ""
        self._server: HubServer | None = None
        self._announcer: Announcer | None = None
        self._rivals: RivalWatch | None = None
        self._listeners: list[Listener] = []
        self._started = False
        self._retention_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        #: The end-of-session report/mail thread (see `mailer`), once `stop` started it.
        self.mail_thread: threading.Thread | None = None
        #: Replication to the school server (``[school] database_url``), once started.
        self.replicator: Replicator | None = None

    # ClassFeed -------------------------------------------------------------------------

    @property
    def class_id(self) -> str:
        """The class this hub serves."""
        return self.config.class_.id

    def students(self) -> list[StudentSnapshot]:
        """Every student seen this session."""
        return self.roster.students()

    def alerts(self) -> list[AlertRecord]:
        """Every alert this session, oldest first."""
        return self.roster.alerts()

    def class_alerts(self) -> list[Spike]:
        """Every class alert (confusion spike) this session, oldest first."""
        return self.roster.class_alerts()

    def segments(self) -> list[SegmentStats]:
        """Every lecture segment this session, oldest first."""
        return self.roster.segments()

    def hub_gaps(self) -> list[HubGap]:
        """Times this hub was down during the session (before a resume), oldest first."""
        return self.roster.hub_gaps()

    def pulse(self) -> ClassPulse:
        """The class as a whole now (attention index, counts, the spike under way)."""
        return self.roster.pulse(time.time())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on the loop for each roster event; returns an unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def mark_segment(self, label: str) -> None:
        """Start a lecture segment now: stored with the session, shown live by the TUI."""
        now = time.time()
        self.store.add_segment(self.session_id, label, now)
        self._publish(self.roster.mark_segment(label, now))

    async def export_report(self) -> Path:
        """Write this session's HTML report to the reports folder (off the loop); returns its path.

        Raises `smartsession.errors.SmartSessionError` (a `ReportError`) or `OSError` when it cannot.
        """
        from smartsession.report.export import export_report

        await self.store.flush(within=2.0)
        path, _ = await asyncio.to_thread(
            export_report,
            self.config.database_path,
            self.session_id,
            "html",
            folder=self.config.report_folder,
            roster=self.config.roster.students,
            late_after_minutes=self.config.report.late_after_minutes,
            settings=self.config.class_settings,
            label_mode=self.config.tui.label_mode,
        )
        log.info("report of session %s written to %s", self.session_id, path)
        return path

    def _publish(self, events: list[RosterEvent]) -> None:
        """Store the class alerts among ``events``, then hand every event to the listeners."""
        for event in events:
            if isinstance(event, ClassAlertChanged):
                self._store_spike(event.spike)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("roster listener %r failed", listener)

    def _store_spike(self, spike: Spike) -> None:
        if spike.ended_at is None:
            log.warning(
                "class alert: %d of %d students Confused for %.0f s%s",
                spike.confused,
                spike.present,
                spike.held,
                f" in segment {spike.segment}" if spike.segment is not None else "",
            )
        else:
            log.info("class alert %d cleared after %.0f s", spike.index, spike.ended_at - spike.raised_at)
        self.store.record_spike(self.session_id, spike)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            self._publish(self.roster.tick(time.time()))

    async def _resume(self) -> None:
        """A resumed session: close what the crash left open, then give the roster what is stored."""
        gap = await self.store.repair_resumed(self.session_id, time.time())
        log.warning(
            "hub was offline %.0f s (since %s); %d connections open at the crash end at their last item",
            gap.end - gap.start,
            time.strftime("%H:%M:%S", time.localtime(gap.start)),
            len(gap.students),
        )
        resumed = await self.store.read_resumed(self.session_id)
        # The segments marked before the restart stay numbered as the report numbers them.
        for started_at, label in await self.store.segments(self.session_id):
            self._publish(self.roster.mark_segment(label, started_at))
        self._publish(self.roster.restore(resumed.students, resumed.alerts, resumed.spikes, resumed.gaps))

    # lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where a local agent can connect (wildcard hosts become loopback)."""
        host = self.config.hub.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}/"

    @property
    def tls(self) -> bool:
        """True when agents connect with TLS (``network.tls``; off with ``--insecure``)."""
        return self.config.network.tls

    def status(self) -> HubStatus:
        """The hub's own health for the TUI header: address, TLS, storage, connections, replication."""
        school = self.replicator.status() if self.replicator is not None else None
        return HubStatus(
            url=self.url if self.port else "",
            tls=self.tls,
            session_id=self.session_id,
            storage_ok=self.store.healthy,
            storage_error=self.store.last_error,
            connected=len(self.connected),
            school=school.state.value if school is not None else "",
            school_lag=school.lag if school is not None else 0.0,
            school_error=school.error if school is not None else "",
            conflict=self._rivals.text() if self._rivals is not None else "",
        )

    @property
    def connected(self) -> list[str]:
        """Student ids connected now."""
        return self._server.connected if self._server is not None else []

    async def start(self) -> None:
        """Open the store, resume or create the session, listen, and announce.

        Raises `HubError` when the database or the port cannot be used.
        """
        if self._started:
            return
        await self.store.open()
        try:
            tls_context = None
            if self.tls:
                folder = self.config.path(self.config.hub.tls_dir) if self.config.hub.tls_dir else None
                cert = await asyncio.to_thread(
                    load_or_create, folder or self.config.database_path.parent, self.hub_id
                )
                tls_context = server_context(cert)
                self.fingerprint = cert.fingerprint
                log.info("TLS certificate fingerprint (SHA-256) %s", cert.fingerprint)
            else:
                log.warning(
                    "INSECURE: TLS is off (--insecure / network.tls = false); telemetry crosses the "
                    "network in clear text. Use this for debugging only."
                )
            opened = await self.store.open_session(self.class_id, self.hub_id, time.time())
            self.session_id, self.resumed = opened
            self.session_started = await self.store.session_started(self.session_id)
            log.info("%s session %s", "resumed" if self.resumed else "started", self.session_id)
            self.roster.begin(self.session_started)
            if self.resumed:
                await self._resume()
            days, keep = self.config.storage.retention_days, self.session_id
            await self.store.call(lambda conn: retention.apply_retention(conn, days, time.time(), (keep,)))
            if days > 0:
                self._retention_task = asyncio.create_task(
                    retention.run_daily(self.store, days, keep), name="retention"
                )
            if self.config.school.database_url:
                from smartsession.school.replicator import Replicator

                self.replicator = Replicator.from_config(self.config, self.store, self.hub_id)
                await self.replicator.start()
            hub = self.config.hub
            server = HubServer(
                secret=self._secret,
                class_id=self.class_id,
                hub_id=self.hub_id,
                session_id=self.session_id,
                session_started=self.session_started,
                store=self.store,
                roster=self.roster,
                publish=self._publish,
                max_agents=self.config.hub.max_agents,
                join_timeout=self.config.hub.join_timeout,
                ping_interval=self.config.hub.ping_interval,
                ping_timeout=self.config.hub.ping_timeout,
                fingerprint=self.fingerprint,
                bounds=Bounds(
                    session_started=self.session_started,
                    max_skew=hub.max_clock_skew,
                    seq_window=hub.seq_window,
                    quota=hub.session_quota,
                    items_per_second=hub.max_items_per_second,
                    item_burst=hub.item_burst,
                ),
                limits=Limits(
                    pending_per_address=hub.max_pending_per_address,
                    pending=hub.max_pending_handshakes,
                    handshake_timeout=hub.handshake_timeout,
                    handshake_rate=hub.handshake_rate_per_address,
                    unauthenticated_per_address=hub.max_unauthenticated_per_address,
                    unauthenticated=hub.max_unauthenticated,
                ),
                listening=lambda: bool(self._listeners),
            )
            self.store.on_commit = server.on_commit
            try:
                self.port = await server.start(self.config.hub.host, self.config.hub.port, tls_context)
            except OSError as exc:
                raise HubError(
                    f"cannot listen on {self.config.hub.host}:{self.config.hub.port}: {exc.strerror or exc}"
                ) from exc
            self._server = server
            self._tick_task = asyncio.create_task(self._tick(), name="roster tick")
            log.info("hub %s of class %s listening on %s", self.hub_id, self.class_id, self.url)
            if self.config.network.discovery:
                announcer = Announcer(
                    class_id=self.class_id,
                    hub_id=self.hub_id,
                    port=self.port,
                    interfaces=self.config.network.interfaces,
                    tls=self.tls,
                    fingerprint=self.fingerprint,
                    started=self.session_started,
                )
                await announcer.start()
                self._announcer = announcer
                await self._watch_rivals(announcer)
        except BaseException:
            await self._shutdown(end=False)
            raise
        self._started = True

    async def _watch_rivals(self, announcer: Announcer) -> None:
        """Start watching for other hubs announcing this class (`smartsession.hub.rivals`)."""
        own = HubAdvert(
            class_id=self.class_id,
            hub_id=self.hub_id,
            protocol=PROTOCOL_VERSION,
            address=announcer.addresses[0],
            port=self.port,
            tls=self.tls,
            fingerprint=self.fingerprint,
            started=self.session_started,
        )
        rivals = RivalWatch(self.config, own, announcer.addresses)
        await rivals.start()
        self._rivals = rivals

    def rival_hubs(self) -> list[HubAdvert]:
        """Other hubs announcing this hub's class now (empty without discovery)."""
        return self._rivals.rivals() if self._rivals is not None else []

    async def stop(self) -> None:
        """Stop announcing, close every connection (1001), flush the store and end the session."""
        if not self._started:
            return
        self._started = False
        await self._shutdown(end=True)
        if self.config.email.enabled and self.session_id:
            # The report is written, then mailed, in a thread of its own: stop never waits.
            from smartsession.hub.mailer import start_session_mail

            self.mail_thread = start_session_mail(self.config, self.session_id)

    async def _shutdown(self, *, end: bool) -> None:
        tasks = [task for task in (self._retention_task, self._tick_task) if task is not None]
        self._retention_task = self._tick_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._rivals is not None:
            rivals, self._rivals = self._rivals, None
            await rivals.stop()
        if self._announcer is not None:
            announcer, self._announcer = self._announcer, None
            try:
                await announcer.stop()
            except Exception:
                log.exception("zeroconf shutdown failed")
        if self._server is not None:
            server, self._server = self._server, None
            await server.close()
        if end and self.session_id:
            now = time.time()
            spike = self.roster.pulse(now).spike
            if spike is not None:  # the class alert under way ends with the session
                self._store_spike(dataclasses.replace(spike, ended_at=now))
            self.store.end_session(self.session_id, now)
        if self.replicator is not None:
            replicator, self.replicator = self.replicator, None
            await self.store.flush(within=2.0)
            await replicator.stop()
        await self.store.close()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def summary(self) -> list[dict[str, Any]]:
        """Per-student summary of this session (from the store; see `schema.read_student_summaries`)."""
        return await self.store.student_summaries(self.session_id)


async def run_hub(config: Config, secret: bytes, stop: asyncio.Event) -> None:
    """Run a headless hub until ``stop`` is set."""
    async with Hub(config, secret):
        await stop.wait()
