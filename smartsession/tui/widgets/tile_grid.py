"""The grid of student tiles: sorted, filtered, reflowed to the width, optionally compact.

One widget draws every tile through Textual's line API (`render_line` over a virtual size),
so a full lab costs no layout, no CSS and no per-tile compositing. Each `StudentTile` keeps
its lines until something it shows changes; only the tiles that changed are repainted. The
keyboard cursor follows the student, not the position, when the order changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle

from smartsession.core.snapshots import StudentSnapshot
from smartsession.tui.labels import LabelMode, SortKey, SparkSource, matches, sort_students
from smartsession.tui.widgets.student_tile import TILE_HEIGHT, StudentTile

#: Narrowest a tile gets; the grid fits as many columns of at least this width as it can.
TILE_MIN_WIDTH = 26
#: Narrowest a compact row gets.
COMPACT_MIN_WIDTH = 20


def columns_for(width: int, *, compact: bool = False) -> int:
    """How many tile columns fit in ``width`` cells (at least one)."""
    return max(1, width // (COMPACT_MIN_WIDTH if compact else TILE_MIN_WIDTH))


def _muted(variables: Mapping[str, str], under: Color) -> Color:
    """The theme's ``$text-muted`` (e.g. "auto 60%") as a solid colour over ``under``."""
    name, _, share = variables.get("text-muted", "auto 60%").partition(" ")
    alpha = float(share.rstrip("%")) / 100 if share.endswith("%") else 1.0
    try:
        colour = under.get_contrast_text(alpha) if name == "auto" else Color.parse(name).with_alpha(alpha)
    except ValueError:
        colour = under.get_contrast_text(0.6)
    return under + colour


class TileGrid(ScrollView, can_focus=True):
    """Student tiles; call `show` with every student's latest snapshot and the time."""

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "open", "Details", show=False),
    ]

    class Opened(Message):
        """The teacher asked for a student's detail screen (Enter or a click on the tile)."""

        def __init__(self, student_id: str) -> None:
            super().__init__()
            self.student_id = student_id

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
        #: Every student's tile (kept across sorting and filtering, so their lines stay cached).
        self._all: dict[str, StudentTile] = {}
        self._shown: list[StudentTile] = []
        self._order: list[str] = []
        self._cursor = 0
        self._palette: dict[tuple[str, str | None], RichStyle] = {}
        self._geometry_key: tuple[Size, bool, int] = (Size(0, 0), False, -1)
        self._geometry_cache: tuple[int, list[tuple[int, int]]] = (1, [(0, 1)])
        #: Times the view (sort, filter, sparkline, compact) changed; `drawn_view` is the last painted.
        self.view_changes = 0
        self.drawn_view = 0

    # Data -------------------------------------------------------------------------------

    @property
    def tiles(self) -> dict[str, StudentTile]:
        """The tiles shown, by student id, in screen order."""
        return {tile.student.student_id: tile for tile in self._shown}

    @property
    def order(self) -> list[str]:
        """Student ids in the order shown (after sorting and filtering)."""
        return list(self._order)

    @property
    def cursor_student(self) -> str | None:
        """The student under the cursor (whether or not the grid has the focus)."""
        return self._order[self._cursor] if self._order else None

    @property
    def focused_student(self) -> str | None:
        """The student under the cursor while the grid has the keyboard focus."""
        return self.cursor_student if self.has_focus else None

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
        if sparkline is not None:
            self.spark_source = sparkline
        self.view_changes += 1
        self._arrange(force=True)

    def _arrange(self, *, force: bool = False) -> None:
        shown = sort_students(
            (
                s
                for s in self._students.values()
                if matches(s, self.name_filter, alerts_only=self.alerts_only)
            ),
            self.sort_key,
        )
        cursor_id = self.cursor_student
        order = [s.student_id for s in shown]
        changed: list[int] = []
        tiles: list[StudentTile] = []
        for index, student in enumerate(shown):
            flash = student.student_id in self._flashing
            tile = self._all.get(student.student_id)
            if tile is None:
                tile = self._all[student.student_id] = StudentTile(self, student, now=self._now, flash=flash)
                changed.append(index)
            elif tile.show(student, self._now, flash=flash):
                changed.append(index)
            tiles.append(tile)
        if len(self._all) > len(self._students):
            self._all = {sid: tile for sid, tile in self._all.items() if sid in self._students}
        relayout = force or order != self._order
        self._shown, self._order = tiles, order
        if cursor_id is not None and cursor_id in order:
            self._cursor = order.index(cursor_id)
        self._cursor = max(0, min(self._cursor, len(order) - 1))
        if relayout:
            self._relayout()
            self.refresh()
        else:
            self._refresh_tiles(changed)

    # Geometry ---------------------------------------------------------------------------

    def _geometry(self) -> tuple[int, list[tuple[int, int]]]:
        """(width drawn, (x, width) of each column) for the current size, mode and tiles.

        Columns are fitted to the whole width when every row fits in the height, otherwise
        to the width left beside the vertical scrollbar.
        """
        key = (self.size, self.compact, len(self._shown))
        if key != self._geometry_key:
            full = self.size.width
            pad, gutter = (0, 0) if self.compact else (1, 1)
            width = full
            columns = columns_for(full - 2 * pad, compact=self.compact)
            if -(-len(self._shown) // columns) * self._row_height > self.size.height:
                width = max(1, full - self.styles.scrollbar_size_vertical)
                columns = columns_for(width - 2 * pad, compact=self.compact)
            room = max(columns, width - 2 * pad - gutter * (columns - 1))
            spans = [
                (pad + i * gutter + i * room // columns, (i + 1) * room // columns - i * room // columns)
                for i in range(columns)
            ]
            self._geometry_key, self._geometry_cache = key, (width, spans)
        return self._geometry_cache

    @property
    def columns(self) -> int:
        """Tile columns at the current width."""
        return len(self._geometry()[1])

    @property
    def _row_height(self) -> int:
        return 1 if self.compact else TILE_HEIGHT

    def tile_region(self, index: int) -> Region:
        """Where tile ``index`` is in the grid's virtual (scrollable) space."""
        spans = self._geometry()[1]
        row, column = divmod(index, len(spans))
        x, width = spans[column]
        return Region(x, row * self._row_height, width, self._row_height)

    def screen_region_of(self, student_id: str) -> Region:
        """Where a student's tile is on the screen (empty when hidden or scrolled out of view)."""
        if student_id not in self._order:
            return Region()
        region = self.tile_region(self._order.index(student_id))
        viewport = self.scrollable_content_region
        on_screen = region.translate(viewport.offset - self.scroll_offset)
        return on_screen.intersection(viewport)

    def index_at(self, x: int, y: int) -> int | None:
        """The tile at (``x``, ``y``) of the virtual space, if any."""
        spans = self._geometry()[1]
        row = y // self._row_height
        for column, (left, width) in enumerate(spans):
            if left <= x < left + width:
                index = row * len(spans) + column
                return index if 0 <= index < len(self._shown) else None
        return None

    def _relayout(self) -> None:
        """Size the virtual space to the tiles (rows of the current number of columns)."""
        width, spans = self._geometry()
        rows = -(-len(self._shown) // len(spans))
        self.virtual_size = Size(width, rows * self._row_height)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()
        self.refresh()

    def _refresh_tiles(self, indexes: list[int]) -> None:
        """Repaint the tiles at ``indexes`` that are in view."""
        viewport = Region(0, 0, *self.scrollable_content_region.size)
        offset = self.scroll_offset
        for index in indexes:
            if index < len(self._shown):
                region = self.tile_region(index).translate(-offset).intersection(viewport)
                if region:
                    self.refresh(region)

    # Drawing ----------------------------------------------------------------------------

    def _style(self, markup: str, background: str | None) -> RichStyle:
        """A Textual style (theme variables, alpha) resolved to a Rich style, cached.

        A leading ``~`` starts from the muted text colour (as CSS ``color: $text-muted`` does).
        """
        key = (markup, background)
        style = self._palette.get(key)
        if style is None:
            parse = self.app.stylesheet.parse_style
            resolved = self.visual_style
            if background:
                resolved += parse(f"on {background}")
            if markup.startswith("~"):
                markup = markup[1:]
                under = resolved.background or Color(0, 0, 0)
                resolved += VisualStyle(foreground=_muted(self.app.get_css_variables(), under))
            if markup:
                resolved += parse(markup)
            style = self._palette[key] = resolved.rich_style
        return style

    def notify_style_update(self) -> None:
        """The theme or the CSS changed: resolve the colours again and redraw every tile."""
        super().notify_style_update()
        self._palette.clear()
        for tile in self._all.values():
            tile.invalidate()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        self.drawn_view = self.view_changes
        row, line = divmod(scroll_y + y, self._row_height)
        blank = self._style("", None)
        segments: list[Segment] = []
        used = 0
        cursor = self._cursor if self.has_focus else -1
        spans = self._geometry()[1]
        first = row * len(spans)
        for index, (x, tile_width) in enumerate(spans, first):
            if index >= len(self._shown):
                break
            if x > used:
                segments.append(Segment(" " * (x - used), blank))
            segments.extend(self._shown[index].lines(tile_width, self._style, cursor=index == cursor)[line])
            used = x + tile_width
        if used < width:
            segments.append(Segment(" " * (width - used), blank))
        return Strip(segments, max(width, used)).crop(scroll_x, scroll_x + width)

    # Keyboard and mouse -----------------------------------------------------------------

    def focused_index(self) -> int | None:
        return self._cursor if self.has_focus and self._shown else None

    def focus_index(self, index: int) -> None:
        """Put the cursor on tile ``index`` (clamped), give the grid the focus, scroll to it."""
        if not self._shown:
            return
        index = max(0, min(index, len(self._shown) - 1))
        if index != self._cursor:
            self._refresh_tiles([self._cursor, index])
            self._cursor = index
        if not self.has_focus:
            self.focus(scroll_visible=False)
        self.scroll_to_region(self.tile_region(index), animate=False, force=True, immediate=True)

    def focus_student(self, student_id: str) -> None:
        """Put the cursor on a student's tile (if shown) and give the grid the focus."""
        if student_id in self._order:
            self.focus_index(self._order.index(student_id))

    def on_focus(self, event: events.Focus) -> None:
        self._refresh_tiles([self._cursor])

    def on_blur(self, event: events.Blur) -> None:
        self._refresh_tiles([self._cursor])

    def action_move(self, dx: int, dy: int) -> None:
        index = self.focused_index()
        if index is None:
            self.focus_index(0)
            return
        self.focus_index(index + dx + dy * self.columns)

    def action_page(self, direction: int) -> None:
        rows = max(1, self.scrollable_content_region.height // self._row_height)
        index = self.focused_index() or 0
        self.focus_index(index + direction * rows * self.columns)

    def action_jump(self, index: int) -> None:
        self.focus_index(index if index >= 0 else len(self._shown) - 1)

    def action_open(self) -> None:
        if self._order:
            self.post_message(self.Opened(self._order[self._cursor]))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.index_at(offset.x + self.scroll_offset.x, offset.y + self.scroll_offset.y)
        if index is None:
            return
        event.stop()
        self.focus_index(index)
        self.post_message(self.Opened(self._order[index]))
