"""The teacher's TUI: wires a `ClassFeed` (the hub) to the class, detail, alerts and help screens.

Build it with `create_app`, for the CLI and for tests alike. Roster events arrive through
the feed's listener as cheap messages (a newer student update replaces a queued one); the
app keeps the latest snapshot per student and redraws at most `FLUSH_INTERVAL` apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from smartsession.config import TuiConfig
from smartsession.core.classwide import Spike
from smartsession.core.snapshots import (
    AlertRaised,
    AlertRecord,
    ClassAlertChanged,
    ClassFeed,
    ClassPulse,
    ClassRestored,
    HubStatus,
    RosterEvent,
    SegmentChanged,
    SegmentStats,
    StudentChanged,
    StudentSnapshot,
)
from smartsession.core.states import NoticeKind
from smartsession.tui.labels import count_absent, count_states, spike_text
from smartsession.tui.logs import TerminalLogGuard
from smartsession.tui.messages import (
    AlertArrived,
    ClassAlertUpdated,
    ClassReloaded,
    SegmentUpdated,
    StudentUpdated,
)
from smartsession.tui.screens import AlertsScreen, ClassScreen, DetailScreen, HelpScreen, PromptScreen
from smartsession.tui.widgets.class_header import HeaderData
from smartsession.tui.widgets.tile_grid import TileGrid

log = logging.getLogger(__name__)

Service = contextlib.AbstractAsyncContextManager[object]


class SmartSessionApp(App[None]):
    """The class at a glance. Construct it with `create_app`."""

    TITLE = "SmartSession"
    CSS_PATH = [
        "widgets/class_header.tcss",
        "widgets/tile_grid.tcss",
        "screens/class_screen.tcss",
        "screens/detail_screen.tcss",
        "screens/alerts_screen.tcss",
        "screens/help_screen.tcss",
        "screens/prompt_screen.tcss",
    ]
    BINDINGS = [
        Binding("a", "alerts", "Alerts"),
        Binding("m", "mark_segment", "Segment"),
        Binding("e", "export", "Export"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]
    #: Seconds a tile stays highlighted after a new alert.
    FLASH_SECONDS = 10.0
    #: Seconds between redraws of changed tiles.
    FLUSH_INTERVAL = 0.5
    #: Seconds between clock updates (session time, "seconds ago").
    TICK_INTERVAL = 1.0
    #: Least seconds between two alert toasts (and bells); alerts in between share one toast.
    ALERT_TOAST_INTERVAL = 2.0

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
        self._dirty = False
        self._alert_count = 0
        self._last_alert: AlertRecord | None = None
        self._flash_until: dict[str, float] = {}
        self._flashing: frozenset[str] = frozenset()
        self._unannounced: list[AlertRecord] = []
        self._announced_at = -self.ALERT_TOAST_INTERVAL
        self._segments: dict[int, SegmentStats] = {}
        self._pulse = ClassPulse()
        self._class_alerts: dict[int, Spike] = {}
        self._elapsed = 0.0
        self._status = HubStatus()
        self._storage_ok = True
        self._unsubscribe: Callable[[], None] | None = None
        self._service_worker: Worker[None] | None = None
        self._stop_service = asyncio.Event()
        self._log_guard = TerminalLogGuard()
        #: Why the service could not be entered (the app then exits with return code 1).
        self.service_error: Exception | None = None
        self.label_mode = tui.label_mode
        self.class_screen = ClassScreen(feed.class_id, label_mode=tui.label_mode, sparkline=tui.sparkline)

    def get_default_screen(self) -> ClassScreen:
        return self.class_screen

    # Lifecycle --------------------------------------------------------------------------

    def on_load(self) -> None:
        self._log_guard.install()

    def on_mount(self) -> None:
        self._unsubscribe = self.feed.subscribe(self._on_roster_event)
        self._read_feed()
        self._redraw()
        self._tick()
        self.set_interval(self.FLUSH_INTERVAL, self._redraw, name="flush")
        self.set_interval(self.TICK_INTERVAL, self._tick, name="tick")
        if self._service is not None:
            self._service_worker = self.run_worker(
                self._run_service(self._service), name="service", exit_on_error=False
            )

    def _read_feed(self) -> None:
        """Take everything the feed holds now (at mount, and when the hub restored a session)."""
        self._students = {student.student_id: student for student in self.feed.students()}
        alerts = self.feed.alerts()
        self._alert_count = len(alerts)
        self._last_alert = alerts[-1] if alerts else None
        self._class_alerts = {spike.index: spike for spike in self.feed.class_alerts()}
        self._segments = {segment.index: segment for segment in self.feed.segments()}
        self._dirty = True

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
                self.exit(return_code=1, message=Text(f"SmartSession could not start: {exc}"))

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
        elif isinstance(event, SegmentChanged):
            self.post_message(SegmentUpdated(event.segment))
        elif isinstance(event, ClassAlertChanged):
            self.post_message(ClassAlertUpdated(event.spike))
        elif isinstance(event, ClassRestored):
            self.post_message(ClassReloaded())

    def on_class_reloaded(self, message: ClassReloaded) -> None:
        self._read_feed()

    def on_class_alert_updated(self, message: ClassAlertUpdated) -> None:
        """A class alert: a toast (and the bell) when raised; the header follows either way."""
        spike = message.spike
        self._class_alerts[spike.index] = spike
        self._pulse = dataclasses.replace(self._pulse, spike=spike if spike.ended_at is None else None)
        self._dirty = True
        if spike.ended_at is not None:
            return
        self.notify(f"Class: {spike_text(spike, self.label_mode)}", title="Class", severity="warning")
        if self.tui.bell:
            self.bell()

    def on_student_updated(self, message: StudentUpdated) -> None:
        self._students[message.student.student_id] = message.student
        self._dirty = True

    def on_alert_arrived(self, message: AlertArrived) -> None:
        self._alert_count += 1
        self._dirty = True
        alert = message.alert
        self._last_alert = alert
        self._flash_until[alert.student_id] = self._clock() + self.FLASH_SECONDS
        self._flashing = frozenset(self._flash_until)
        self._unannounced.append(alert)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's `App.notify`, plain text by default: toasts carry students' names and reasons,
        and a name such as ``[@click=app.quit]x[/]`` must show as typed, never act."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _announce_alerts(self) -> None:
        """One toast (and bell) for the alerts since the last one, at most every `ALERT_TOAST_INTERVAL`."""
        now = time.monotonic()
        if not self._unannounced or now - self._announced_at < self.ALERT_TOAST_INTERVAL:
            return
        alerts, self._unannounced, self._announced_at = self._unannounced, [], now
        if len(alerts) == 1:
            message = f"{alerts[0].name}: {alerts[0].reason.label}"
        else:
            names = list(dict.fromkeys(alert.name for alert in reversed(alerts)))
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            message = f"{len(alerts)} new alerts: {', '.join(names[:3])}{more} (a: alerts screen)"
        connection = any(isinstance(alert.reason, NoticeKind) for alert in alerts)
        self.notify(
            message,
            title="Connection" if connection else "Alert",
            severity="error" if connection else "warning",
        )
        if self.tui.bell:
            self.bell()

    def on_segment_updated(self, message: SegmentUpdated) -> None:
        self._segments[message.segment.index] = message.segment
        self._dirty = True

    # What the screens read -------------------------------------------------------------

    def now(self) -> float:
        """The app's clock."""
        return self._clock()

    def student(self, student_id: str) -> StudentSnapshot | None:
        """The latest snapshot of a student."""
        return self._students.get(student_id)

    def student_ids(self) -> list[str]:
        """Student ids in the class view's order."""
        order = self.class_screen.grid.order
        return order or list(self._students)

    def student_alerts(self, student_id: str) -> list[AlertRecord]:
        """A student's alerts, oldest first."""
        return [alert for alert in self.feed.alerts() if alert.student_id == student_id]

    @property
    def segments(self) -> list[SegmentStats]:
        """The segments seen so far, oldest first."""
        return [self._segments[index] for index in sorted(self._segments)]

    # Actions ----------------------------------------------------------------------------

    def on_tile_grid_opened(self, message: TileGrid.Opened) -> None:
        self.open_student(message.student_id)

    def open_student(self, student_id: str) -> None:
        """Show a student's detail screen."""
        if student_id in self._students:
            self.push_screen(DetailScreen(self, student_id, label_mode=self.label_mode))

    def action_alerts(self) -> None:
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(
                AlertsScreen(
                    self.feed.alerts, self.feed.class_alerts, self.open_student, label_mode=self.label_mode
                )
            )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.label_mode))

    def action_mark_segment(self) -> None:
        if isinstance(self.screen, PromptScreen):
            return
        prompt = PromptScreen(
            "New lecture segment: type its label and press Enter", 'e.g. "slide 12: recursion"'
        )
        self.push_screen(prompt, self._segment_label)

    def _segment_label(self, label: str | None) -> None:
        if label:
            self._start_worker(self._mark_segment(label), "segment")

    async def _mark_segment(self, label: str) -> None:
        try:
            await self.feed.mark_segment(label)
        except Exception as exc:
            log.exception("marking a segment failed")
            self.notify(f"Could not mark the segment: {exc}", title="Segment", severity="error")
        else:
            self.notify(f"Segment started: {label}", title="Segment")

    def action_export(self) -> None:
        self.notify("Writing the report…", title="Export")
        self._start_worker(self._export(), "export")

    async def _export(self) -> None:
        try:
            path = await self.feed.export_report()
        except Exception as exc:
            log.exception("report export failed")
            self.notify(f"Export failed: {exc}", title="Export", severity="error", timeout=10)
        else:
            self.notify(f"Report written to {path}", title="Export", timeout=10)

    def _start_worker(self, work: Coroutine[Any, Any, None], group: str) -> None:
        """Run ``work`` off the key handler (Textual's worker manager keeps the reference)."""
        self.run_worker(work, group=group, exit_on_error=False)

    # Redraws ----------------------------------------------------------------------------

    def _redraw(self) -> None:
        """Push the latest snapshots to the screen if anything changed since last time."""
        if not self._dirty:
            return
        self._dirty = False
        self.class_screen.show_students(self._students, self._clock(), self._flashing)
        self.refresh_header()
        self._announce_alerts()

    def refresh_header(self) -> None:
        """Rebuild the header's data (cheap; the header redraws only when it differs)."""
        grid = self.class_screen.grid
        students = self._students.values()
        self.class_screen.show_header(
            HeaderData(
                elapsed=self._elapsed,
                counts=tuple(count_states(students).items()),
                absent=count_absent(students),
                alerts=self._alert_count + len(self._class_alerts),
                spike=self._pulse.spike,
                attention=self._pulse.history,
                index=self._pulse.attention,
                status=self._status,
                segments=tuple(self.segments),
                last_alert=self._last_alert,
                sort_key=grid.sort_key,
                name_filter=grid.name_filter,
                alerts_only=grid.alerts_only,
                spark=grid.spark_source,
                shown=len(grid.order),
                total=len(self._students),
            )
        )

    def _tick(self) -> None:
        """Once a second: clocks, the class attention index, flashing tiles, hub status."""
        now = self._clock()
        self._elapsed = now - self._started_at
        try:
            self._pulse = self.feed.pulse()
        except Exception:
            log.exception("class pulse failed")
        self._flash_until = {sid: until for sid, until in self._flash_until.items() if until > now}
        self._flashing = frozenset(self._flash_until)
        try:
            self._status = self.feed.status()
        except Exception:
            log.exception("hub status failed")
        if self._status.storage_ok != self._storage_ok:
            self._storage_ok = self._status.storage_ok
            if not self._storage_ok:
                self.notify(
                    f"Storage error: {self._status.storage_error}. Data is not being saved.",
                    title="Storage",
                    severity="error",
                    timeout=30,
                )
        self._dirty = True
        self._redraw()


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
