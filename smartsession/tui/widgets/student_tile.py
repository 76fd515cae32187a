"""One student's tile: name, state badge (and "late", and the seat-check mark where that
check is on), main reason, sparkline, time since last message.

A tile is not a widget: the `TileGrid` draws every tile itself through Textual's line API,
one `Strip` per tile line. A tile keeps its lines until something it shows changes (a new
snapshot, the "seconds ago" text, the highlight, the cursor, the view), so a repaint of the
grid only rebuilds the tiles that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.geometry import Region
from textual.strip import Strip

from smartsession.core.identity import SeatResult
from smartsession.core.snapshots import StudentSnapshot
from smartsession.core.states import State
from smartsession.tui.labels import age_text, bar, bucket, fit, reason_text, student_badge
from smartsession.tui.widgets.spark import Colour, attention_colour, confusion_colour

if TYPE_CHECKING:
    from smartsession.tui.widgets.tile_grid import TileGrid

#: Samples shown in a tile's sparkline (at 1 s per sample: the last two minutes).
SPARK_WINDOW = 120
#: Bars in a compact row's sparkline.
COMPACT_SPARK = 4
#: Lines of a tile: border, name and age, badge, reason, sparkline, border.
TILE_HEIGHT = 6

#: Resolves a Textual style (``"bold $success"``) on a background (``"$error 25%"`` or None);
#: a leading ``~`` starts from the muted text colour.
Palette = Callable[[str, "str | None"], RichStyle]

_BADGE_STYLES: dict[State, str] = {
    State.FOCUSED: "bold $success",
    State.CONFUSED: "bold $warning",
    State.ALERT: "bold $text on $error",
    State.OFFLINE: "bold $text-muted",
    State.CALIBRATING: "bold $primary-lighten-2",
    State.PAUSED: "bold $text-secondary",
}

#: Border per state: (top left, top, top right, side, bottom left, bottom, bottom right), colour.
_ROUND = ("╭", "─", "╮", "│", "╰", "─", "╯")
_DASHED = ("┏", "╍", "┓", "╏", "┗", "╍", "┛")
_HEAVY = ("┏", "━", "┓", "┃", "┗", "━", "┛")
_BORDERS: dict[State, tuple[tuple[str, ...], str]] = {
    State.FOCUSED: (_ROUND, "$success"),
    State.CONFUSED: (_ROUND, "$warning"),
    State.ALERT: (_HEAVY, "$error"),
    State.CALIBRATING: (_DASHED, "$primary-lighten-2"),
    State.PAUSED: (_DASHED, "$text-secondary"),
    State.OFFLINE: (_DASHED, "$foreground 40%"),
}


def _line(parts: Sequence[tuple[str, RichStyle]], width: int, pad: RichStyle) -> list[Segment]:
    """``parts`` as segments, cut or padded to exactly ``width`` cells."""
    out: list[Segment] = []
    used = 0
    for text, style in parts:
        if used >= width:
            break
        length = cell_len(text)
        if used + length > width:
            text = Strip([Segment(text, style)]).crop(0, width - used).text
            length = cell_len(text)
        out.append(Segment(text, style))
        used += length
    if used < width:
        out.append(Segment(" " * (width - used), pad))
    return out


def spark_parts(
    values: Sequence[float], width: int, colour: Colour, style: Callable[[str], RichStyle]
) -> list[tuple[str, RichStyle]]:
    """Up to ``width`` bars on the fixed 0..1 scale, consecutive bars of one colour merged."""
    parts: list[tuple[str, RichStyle]] = []
    last = ""
    for value in bucket(values, width):
        markup = colour(min(1.0, max(0.0, value)))
        char = bar(value)
        if parts and markup == last:
            parts[-1] = (parts[-1][0] + char, parts[-1][1])
        else:
            parts.append((char, style(markup)))
            last = markup
    return parts


class StudentTile:
    """A student at a glance, as the grid draws it; its classes name the state (``-alert``...)."""

    def __init__(self, grid: TileGrid, student: StudentSnapshot, *, now: float, flash: bool = False) -> None:
        self._grid = grid
        self.student = student
        self.now = now
        self.flash = flash
        self._age = self.age
        self._lines: list[Strip] = []
        self._key: tuple[object, ...] = ()

    # What the tile shows, as text (tests and the bench read these) ----------------------

    @property
    def badge_text(self) -> str:
        """The badge as shown, e.g. "▲ CONFUSED"."""
        return student_badge(self.student, self._grid.label_mode).text

    @property
    def late(self) -> str:
        """How late the student joined ("late 7.2 min"; "" when on time), shortened to fit when drawn."""
        late_by = self.student.late_by
        return f"late {late_by:.1f} min" if late_by is not None else ""

    def _late_within(self, room: int) -> str:
        late_by = self.student.late_by
        if late_by is None:
            return ""
        return next((t for t in (self.late, f"late {late_by:.1f}m") if len(t) <= room), "late")

    @property
    def seat(self) -> str:
        """The seat-check mark ("seat ✓", "seat ?", "seat ✗"; "" where the check is off)."""
        seat = self.student.seat
        return seat.mark if seat is not None else ""

    @property
    def reason(self) -> str:
        """The main reason (drawn shortened or cut to the tile's width)."""
        return reason_text(self.student, self._grid.label_mode)

    @property
    def age(self) -> str:
        """Time since the student's last message, as shown ("" for a student not joined yet)."""
        if self.student.absent:
            return ""
        return age_text(self.now - self.student.last_seen)

    @property
    def history(self) -> tuple[float, ...]:
        """The samples behind the sparkline (the last `SPARK_WINDOW`)."""
        student = self.student
        if self._grid.spark_source == "attention":
            return student.attention_history[-SPARK_WINDOW:]
        return student.confusion_history[-SPARK_WINDOW:]

    @property
    def classes(self) -> frozenset[str]:
        """The state as a class (``-focused``, ``-alert``, ...), plus ``-absent``, ``-late``,
        ``-flash`` and ``-compact``."""
        names = {f"-{self.student.state.value}"}
        if self.student.absent:
            names.add("-absent")
        if self.student.late_by is not None:
            names.add("-late")
        if self.flash:
            names.add("-flash")
        if self._grid.compact:
            names.add("-compact")
        return frozenset(names)

    def has_class(self, *names: str) -> bool:
        """Whether the tile carries every one of ``names``."""
        return self.classes.issuperset(names)

    @property
    def region(self) -> Region:
        """Where the tile is on the screen (empty when scrolled out of view)."""
        return self._grid.screen_region_of(self.student.student_id)

    def focus(self) -> None:
        """Put the grid's cursor (and the keyboard focus) on this tile."""
        self._grid.focus_student(self.student.student_id)

    # Updates ----------------------------------------------------------------------------

    def show(self, student: StudentSnapshot, now: float, *, flash: bool = False) -> bool:
        """Show ``student`` at time ``now``; True when something visible changed."""
        self.now = now
        if student is self.student and flash == self.flash and self.age == self._age:
            return False
        self.student, self.flash = student, flash
        self._age = self.age
        self._lines = []
        return True

    def invalidate(self) -> None:
        """Forget the cached lines (the colours changed)."""
        self._lines = []

    # Drawing ----------------------------------------------------------------------------

    def lines(self, width: int, palette: Palette, *, cursor: bool) -> list[Strip]:
        """The tile's lines at ``width`` cells (cached until something shown changes)."""
        grid = self._grid
        key = (width, cursor, grid.compact, grid.spark_source, grid.label_mode)
        if not self._lines or key != self._key:
            self._key = key
            if grid.compact:
                self._lines = [Strip(self._compact(width, palette, cursor), width)]
            else:
                self._lines = [Strip(line, width) for line in self._tile(width, palette, cursor)]
        return self._lines

    def _background(self, cursor: bool) -> str | None:
        if self._grid.compact and self.student.state is State.ALERT:
            return "$error 20%"
        if self.flash:
            return "$error 40%" if cursor else "$error 25%"
        return "$primary 30%" if cursor else None

    def _tile(self, width: int, palette: Palette, cursor: bool) -> list[list[Segment]]:
        student = self.student
        background = self._background(cursor)

        def style(markup: str) -> RichStyle:
            return palette(markup, background)

        offline = student.state is State.OFFLINE
        muted = style("$text-muted")
        base = style("~") if offline else style("")
        (tl, top, tr, side, bl, bottom, br), colour = _BORDERS[student.state]
        edge = style(colour)
        inner = max(0, width - 4)
        age = self.age
        name = fit(student.name, max(1, inner - len(age) - 1))
        mark = student_badge(student, self._grid.label_mode)
        mark_text = f" {mark.text} " if student.state is State.ALERT else mark.text
        # Right of the badge: "late ..." and the seat-check mark, each where it fits.
        room = inner - cell_len(mark_text) - 1
        seat = self.seat if len(self.seat) <= room else ""
        late = self._late_within(room - len(seat) - 1 if seat else room)
        gap = " " if seat and late else ""
        differs = student.seat is not None and student.seat.result is SeatResult.MISMATCH
        seat_style = style("$error" if differs else "$text-muted")
        spark_colour = attention_colour if self._grid.spark_source == "attention" else confusion_colour
        dim = "" if student.connected else " dim"
        spark = spark_parts(self.history, inner, spark_colour, lambda markup: style(markup + dim))
        rows: list[list[tuple[str, RichStyle]]] = [
            [
                (name, style("~bold" if offline else "bold")),
                (" " * max(1, inner - len(name) - len(age)), base),
                (age, muted),
            ],
            [
                (mark_text, style(_BADGE_STYLES[student.state])),
                (" " * max(1, inner - cell_len(mark_text) - len(late) - len(gap) - len(seat)), base),
                (late, style("$warning")),
                (gap, base),
                (seat, seat_style),
            ],
            [(fit(reason_text(student, self._grid.label_mode, inner), inner), muted)],
            spark,
        ]
        left, right = [Segment(side, edge), Segment(" ", base)], [Segment(" ", base), Segment(side, edge)]
        return [
            [Segment(tl + top * max(0, width - 2) + tr, edge)],
            *([*left, *_line(row, inner, base), *right] for row in rows),
            [Segment(bl + bottom * max(0, width - 2) + br, edge)],
        ]

    def _compact(self, width: int, palette: Palette, cursor: bool) -> list[Segment]:
        student = self.student
        background = self._background(cursor)

        def style(markup: str) -> RichStyle:
            return palette(markup, background)

        inner = max(0, width - 1)
        spark_colour = attention_colour if self._grid.spark_source == "attention" else confusion_colour
        spark = spark_parts(self.history, COMPACT_SPARK, spark_colour, style)
        spark_len = sum(len(text) for text, _ in spark)
        name = fit(student.name, max(1, inner - 3 - COMPACT_SPARK))
        base = style("")
        parts = [
            (student_badge(student, self._grid.label_mode).symbol, style(_BADGE_STYLES[student.state])),
            (" ", base),
            (name, style("bold" if student.connected else "italic $text-muted")),
            (" " * max(1, inner - 2 - len(name) - spark_len), base),
            *spark,
        ]
        return _line(parts, width, base)
