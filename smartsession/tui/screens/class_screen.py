"""The class view: header, a grid of tiles, footer with keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from smartsession.core.roster import StudentSnapshot
from smartsession.core.states import State
from smartsession.tui.labels import LabelMode, count_states
from smartsession.tui.widgets.class_header import ClassHeader
from smartsession.tui.widgets.student_tile import SparkSource
from smartsession.tui.widgets.tile_grid import TileGrid


class ClassScreen(Screen[None]):
    """Every student as a tile, with counts per state above.

    The app calls `show_students` with the latest snapshots of every student and
    `tick` with the time; this screen only lays out and forwards.
    """

    def __init__(
        self,
        class_id: str,
        *,
        label_mode: LabelMode = "states",
        sparkline: SparkSource = "attention",
    ) -> None:
        super().__init__()
        self.header = ClassHeader(class_id, label_mode=label_mode, id="class-header")
        self.grid = TileGrid(label_mode=label_mode, sparkline=sparkline, id="tiles")

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.grid
        yield Footer()

    def show_students(
        self, students: list[StudentSnapshot], changed: list[StudentSnapshot], now: float
    ) -> None:
        """Redraw the counts over ``students`` (everyone) and the tiles of ``changed``."""
        self.grid.show(changed, now)
        counts: dict[State, int] = count_states(students)
        self.header.counts = tuple(counts.items())

    def show_alert_count(self, alerts: int) -> None:
        """How many alerts this session so far."""
        self.header.alerts = alerts

    def tick(self, now: float, elapsed: float) -> None:
        """Advance the clocks: session time in the header, "seconds ago" on the tiles."""
        self.header.elapsed = elapsed
        self.grid.tick(now)
