"""The grid of student tiles; the number of columns follows the available width."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import ScrollableContainer

from smartsession.core.roster import StudentSnapshot
from smartsession.tui.labels import LabelMode
from smartsession.tui.widgets.student_tile import SparkSource, StudentTile

#: Narrowest a tile gets; the grid fits as many columns of at least this width as it can.
TILE_MIN_WIDTH = 26


def columns_for(width: int) -> int:
    """How many tile columns fit in ``width`` cells (at least one)."""
    return max(1, width // TILE_MIN_WIDTH)


class TileGrid(ScrollableContainer):
    """Student tiles in join order, reflowed on resize.

    Call `show` with the latest snapshots (new students get a tile, known ones are
    updated) and `tick` with the current time to refresh the "seconds ago" labels.
    """

    can_focus = False

    def __init__(
        self,
        *,
        label_mode: LabelMode = "states",
        sparkline: SparkSource = "attention",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._label_mode: LabelMode = label_mode
        self._sparkline: SparkSource = sparkline
        self._tiles: dict[str, StudentTile] = {}
        self._tiles_composed = False

    def compose(self) -> ComposeResult:
        self._tiles_composed = True
        yield from self._tiles.values()

    @property
    def tiles(self) -> dict[str, StudentTile]:
        """The tiles by student id (a copy)."""
        return dict(self._tiles)

    def show(self, students: list[StudentSnapshot], now: float) -> None:
        """Update known tiles and mount tiles for new students."""
        new: list[StudentTile] = []
        for student in students:
            tile = self._tiles.get(student.student_id)
            if tile is None:
                tile = StudentTile(student, now=now, label_mode=self._label_mode, sparkline=self._sparkline)
                self._tiles[student.student_id] = tile
                new.append(tile)
            else:
                tile.student = student
                tile.now = now
        if new and self._tiles_composed:
            self.mount_all(new)

    def tick(self, now: float) -> None:
        """Set every tile's clock (ages are redrawn, nothing else)."""
        for tile in self._tiles.values():
            tile.now = now

    def on_resize(self, event: events.Resize) -> None:
        self.styles.grid_size_columns = columns_for(event.size.width)
