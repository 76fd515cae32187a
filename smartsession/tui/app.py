"""The teacher's TUI: wires a `ClassFeed` (the hub) to the class screen.

Build it with `create_app`, for the CLI and for tests alike. Roster events arrive through
the feed's listener as cheap messages; the app keeps the latest snapshot per student and
redraws at most `FLUSH_INTERVAL` apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from smartsession.config import TuiConfig
from smartsession.core.roster import AlertRaised, ClassFeed, RosterEvent, StudentChanged, StudentSnapshot
from smartsession.tui.logs import TerminalLogGuard
from smartsession.tui.messages import AlertArrived, StudentUpdated
from smartsession.tui.screens.class_screen import ClassScreen

log = logging.getLogger(__name__)

Service = contextlib.AbstractAsyncContextManager[object]


class SmartSessionApp(App[None]):
    """The class at a glance. Construct it with `create_app`."""

    TITLE = "SmartSession"
    CSS_PATH = [
        "widgets/class_header.tcss",
        "widgets/student_tile.tcss",
        "widgets/tile_grid.tcss",
        "screens/class_screen.tcss",
    ]
    BINDINGS = [Binding("q", "quit", "Quit")]

    #: Seconds between redraws of changed tiles.
    FLUSH_INTERVAL = 0.25
    #: Seconds between clock updates (session time, "seconds ago").
    TICK_INTERVAL = 1.0

    def __init__(
        self,
        feed: ClassFeed,
        tui: TuiConfig,
        *,
        service: Service | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.tui = tui
        self._service = service
        self._clock = clock
        self._started_at = clock()
        self._students: dict[str, StudentSnapshot] = {}
        self._changed: set[str] = set()
        self._dirty = False
        self._alert_count = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._service_worker: Worker[None] | None = None
        self._stop_service = asyncio.Event()
        self._log_guard = TerminalLogGuard()
        #: Why the service could not be entered (the app then exits with return code 1).
        self.service_error: Exception | None = None
        self.class_screen = ClassScreen(feed.class_id, label_mode=tui.label_mode, sparkline=tui.sparkline)

    def get_default_screen(self) -> ClassScreen:
        return self.class_screen

    # Lifecycle --------------------------------------------------------------------------

    def on_load(self) -> None:
        self._log_guard.install()

    def on_mount(self) -> None:
        self._unsubscribe = self.feed.subscribe(self._on_roster_event)
        for student in self.feed.students():
            self._students[student.student_id] = student
            self._changed.add(student.student_id)
        self._alert_count = len(self.feed.alerts())
        self._dirty = True
        self._redraw()
        self._tick()
        self.set_interval(self.FLUSH_INTERVAL, self._redraw, name="flush")
        self.set_interval(self.TICK_INTERVAL, self._tick, name="tick")
        if self._service is not None:
            self._service_worker = self.run_worker(
                self._run_service(self._service), name="service", exit_on_error=False
            )

    async def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._close_service()
        self._log_guard.restore()

    async def action_quit(self) -> None:
        """Close the service (the hub), then leave."""
        await self._close_service()
        self.exit()

    # Service (the hub) ------------------------------------------------------------------

    async def _run_service(self, service: Service) -> None:
        """Hold the service open until the app closes; an error to enter it ends the app."""
        try:
            async with service:
                log.info("service started")
                await self._stop_service.wait()
        except Exception as exc:
            log.exception("service failed")
            if not self._stop_service.is_set():
                self.service_error = exc
                self.exit(return_code=1, message=f"SmartSession could not start: {exc}")

    async def _close_service(self) -> None:
        self._stop_service.set()
        worker, self._service_worker = self._service_worker, None
        if worker is None:
            return
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await worker.wait()

    # Feed -> messages -> state ----------------------------------------------------------

    def _on_roster_event(self, event: RosterEvent) -> None:
        """Feed listener (on the event loop): post a message and return."""
        if isinstance(event, StudentChanged):
            self.post_message(StudentUpdated(event.student))
        elif isinstance(event, AlertRaised):
            self.post_message(AlertArrived(event.alert))

    def on_student_updated(self, message: StudentUpdated) -> None:
        self._students[message.student.student_id] = message.student
        self._changed.add(message.student.student_id)
        self._dirty = True

    def on_alert_arrived(self, message: AlertArrived) -> None:
        self._alert_count += 1
        self._dirty = True
        alert = message.alert
        self.notify(f"{alert.name}: {alert.reason.label}", title="Alert", severity="warning")
        if self.tui.bell:
            self.bell()

    # Redraws ----------------------------------------------------------------------------

    def _redraw(self) -> None:
        """Push the latest snapshots to the screen if anything changed since last time."""
        if not self._dirty:
            return
        self._dirty = False
        changed, self._changed = self._changed, set()
        self.class_screen.show_students(
            list(self._students.values()),
            [student for student_id, student in self._students.items() if student_id in changed],
            self._clock(),
        )
        self.class_screen.show_alert_count(self._alert_count)

    def _tick(self) -> None:
        now = self._clock()
        self.class_screen.tick(now, now - self._started_at)


def create_app(
    feed: ClassFeed,
    tui: TuiConfig,
    *,
    service: Service | None = None,
    clock: Callable[[], float] = time.time,
) -> SmartSessionApp:
    """Build the teacher's app over ``feed``.

    ``service`` (normally the hub) is entered when the app mounts and exited when it
    closes; if entering fails the app exits with return code 1 and the error as its
    message. ``clock`` gives the time shown (session clock, "seconds ago").
    Run it with ``app.run()`` or ``await app.run_async()``.
    """
    return SmartSessionApp(feed, tui, service=service, clock=clock)
