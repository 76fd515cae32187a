"""The class view: header, a grid of tiles, a name filter, footer with keys."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input

from smartsession.core.snapshots import StudentSnapshot
from smartsession.tui.labels import SORT_KEYS, LabelMode, SparkSource
from smartsession.tui.widgets.class_header import ClassHeader, HeaderData
from smartsession.tui.widgets.tile_grid import TileGrid


class ClassScreen(Screen[None]):
    """Every student as a tile, with counts per state above.

    The app calls `show_students` with the latest snapshots and `show_header` with the
    header's data; this screen lays out, forwards, and owns the view keys.
    """

    #: The first tile takes the focus once there is one (never the hidden filter input).
    AUTO_FOCUS = None

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "alerts_only", "Only alerts"),
        Binding("c", "compact", "Compact"),
        Binding("t", "toggle_spark", "Spark"),
        Binding("escape", "clear_filters", "Clear", show=False),
    ]

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
        self.filter_input = Input(
            placeholder="filter by name (enter keeps it, escape clears it)", id="name-filter"
        )
        self.filter_input.display = False
        self.filter_input.can_focus = False

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.grid
        yield self.filter_input
        yield Footer()

    def show_students(
        self, students: Mapping[str, StudentSnapshot], now: float, flashing: frozenset[str]
    ) -> None:
        """Redraw the tiles of ``students`` (everyone, join order); ``flashing`` have new alerts."""
        self.grid.show(students, now, flashing)
        stray = self.focused is None or (self.focused is self.filter_input and not self.filter_input.display)
        if stray and self.grid.tiles and not self.filter_input.display:
            self.grid.focus_index(0)

    def show_header(self, data: HeaderData) -> None:
        """Redraw the header when its data changed."""
        if data != self.header.data:
            self.header.data = data

    # View keys --------------------------------------------------------------------------

    def _view_changed(self) -> None:
        # Only the header says what the view is; the footer's keys never change (refreshing
        # the bindings would rebuild the footer and lay the screen out again on every key).
        refresh = getattr(self.app, "refresh_header", None)
        if refresh is not None:
            refresh()

    def action_cycle_sort(self) -> None:
        keys = SORT_KEYS
        self.grid.set_view(sort_key=keys[(keys.index(self.grid.sort_key) + 1) % len(keys)])
        self._view_changed()

    def action_alerts_only(self) -> None:
        self.grid.set_view(alerts_only=not self.grid.alerts_only)
        self._view_changed()

    def action_compact(self) -> None:
        self.grid.set_view(compact=not self.grid.compact)
        self._view_changed()

    def action_toggle_spark(self) -> None:
        self.grid.set_view(sparkline="confusion" if self.grid.spark_source == "attention" else "attention")
        self._view_changed()

    def action_filter(self) -> None:
        self.filter_input.display = True
        self.filter_input.can_focus = True
        self.filter_input.focus()

    def action_clear_filters(self) -> None:
        self.filter_input.value = ""
        self.filter_input.display = False
        self.filter_input.can_focus = False
        self.grid.set_view(name_filter="", alerts_only=False)
        self.grid.focus_index(0)
        self._view_changed()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self.filter_input:
            self.grid.set_view(name_filter=event.value)
            self._view_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self.filter_input:
            self.filter_input.display = self.filter_input.can_focus = bool(event.value)
            self.grid.focus_index(0)
