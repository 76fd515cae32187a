"""The grid of student tiles: sorted, filtered, reflowed to the width, optionally compact.

Tiles are slots: after sorting and filtering, slot ``i`` shows the ``i``-th student. The
keyboard focus follows the student, not the slot, when the order changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer

from smartsession.core.roster import StudentSnapshot
from smartsession.tui.labels import LabelMode, SortKey, SparkSource, matches, sort_students
from smartsession.tui.widgets.student_tile import StudentTile

#: Narrowest a tile gets; the grid fits as many columns of at least this width as it can.
TILE_MIN_WIDTH = 26
#: Narrowest a compact row gets.
COMPACT_MIN_WIDTH = 20


def columns_for(width: int, *, compact: bool = False) -> int:
    """How many tile columns fit in ``width`` cells (at least one)."""
    return max(1, width // (COMPACT_MIN_WIDTH if compact else TILE_MIN_WIDTH))


class TileGrid(ScrollableContainer):
    """Student tiles; call `show` with every student's latest snapshot and the time."""

    can_focus = False

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    def __init__(
        self,
        *,
        label_mode: LabelMode = "states",
        sparkline: SparkSource = "attention",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label_mode: LabelMode = label_mode
        self.spark_source: SparkSource = sparkline
        self.sort_key: SortKey = "join"
        self.name_filter = ""
        self.alerts_only = False
        self.compact = False
        self._students: Mapping[str, StudentSnapshot] = {}
        self._flashing: frozenset[str] = frozenset()
        self._now = 0.0
        self._slots: list[StudentTile] = []
        self._order: list[str] = []
        self._composed = False

    def compose(self) -> ComposeResult:
        self._composed = True
        yield from self._slots

    # Data -------------------------------------------------------------------------------

    @property
    def tiles(self) -> dict[str, StudentTile]:
        """The tiles shown, by student id, in screen order."""
        return {tile.student.student_id: tile for tile in self._slots}

    @property
    def order(self) -> list[str]:
        """Student ids in the order shown (after sorting and filtering)."""
        return list(self._order)

    @property
    def columns(self) -> int:
        return columns_for(self.size.width, compact=self.compact)

    def show(self, students: Mapping[str, StudentSnapshot], now: float, flashing: frozenset[str]) -> None:
        """Show every student (in join order) at time ``now``; ``flashing`` have a new alert."""
        self._students, self._now, self._flashing = students, now, flashing
        self._arrange()

    def set_view(
        self,
        *,
        sort_key: SortKey | None = None,
        name_filter: str | None = None,
        alerts_only: bool | None = None,
        compact: bool | None = None,
        sparkline: SparkSource | None = None,
    ) -> None:
        """Change how the students are laid out and redraw at once."""
        if sort_key is not None:
            self.sort_key = sort_key
        if name_filter is not None:
            self.name_filter = name_filter
        if alerts_only is not None:
            self.alerts_only = alerts_only
        if compact is not None:
            self.compact = compact
            self.set_class(compact, "-compact")
            self._reflow()
        if sparkline is not None:
            self.spark_source = sparkline
        for tile in self._slots:
            tile.set_view(sparkline=self.spark_source, compact=self.compact)
        self._arrange()

    def _arrange(self) -> None:
        shown = [
            s for s in self._students.values() if matches(s, self.name_filter, alerts_only=self.alerts_only)
        ]
        shown = sort_students(shown, self.sort_key)
        focused = self.screen.focused if self.is_attached else None
        focused_id = focused.student.student_id if isinstance(focused, StudentTile) else None
        self._order = [s.student_id for s in shown]
        extra = self._slots[len(shown) :]
        self._slots = self._slots[: len(shown)]
        for tile, student in zip(self._slots, shown, strict=False):
            tile.show(student, self._now, flash=student.student_id in self._flashing)
        new = [
            StudentTile(
                student,
                now=self._now,
                label_mode=self.label_mode,
                sparkline=self.spark_source,
                compact=self.compact,
                flash=student.student_id in self._flashing,
            )
            for student in shown[len(self._slots) :]
        ]
        self._slots.extend(new)
        if extra:
            self.remove_children(extra)
        if new and self._composed:
            self.mount_all(new)
        if focused_id is not None and focused_id in self._order:
            target = self._slots[self._order.index(focused_id)]
            if target is not focused:
                target.focus(scroll_visible=False)

    # Layout -----------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._reflow()

    def _reflow(self) -> None:
        self.styles.grid_size_columns = columns_for(self.size.width, compact=self.compact)

    # Keyboard ---------------------------------------------------------------------------

    def focused_index(self) -> int | None:
        focused = self.screen.focused
        if isinstance(focused, StudentTile) and focused in self._slots:
            return self._slots.index(focused)
        return None

    def focus_index(self, index: int) -> None:
        if self._slots:
            self._slots[max(0, min(index, len(self._slots) - 1))].focus()

    def action_move(self, dx: int, dy: int) -> None:
        index = self.focused_index()
        if index is None:
            self.focus_index(0)
            return
        self.focus_index(index + dx + dy * self.columns)

    def action_page(self, direction: int) -> None:
        tile_height = 1 if self.compact else 6
        rows = max(1, self.scrollable_content_region.height // tile_height)
        index = self.focused_index() or 0
        self.focus_index(index + direction * rows * self.columns)

    def action_jump(self, index: int) -> None:
        self.focus_index(index if index >= 0 else len(self._slots) - 1)
