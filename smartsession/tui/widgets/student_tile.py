"""One student's tile: name, state badge, main reason, sparkline, time since last message.

The tile is a slot: the grid hands it whichever student belongs at its position (after
sorting and filtering) with `show`. It draws itself in one `render` (no child widgets), so
a full lab of tiles stays cheap to lay out and repaint.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from smartsession.core.roster import StudentSnapshot
from smartsession.core.states import State
from smartsession.tui.labels import LabelMode, SparkSource, age_text, badge, fit, reason_text
from smartsession.tui.widgets.spark import attention_colour, confusion_colour, spark_content

#: Samples shown in a tile's sparkline (at 1 s per sample: the last two minutes).
SPARK_WINDOW = 120
#: Bars in a compact row's sparkline.
COMPACT_SPARK = 4

_BADGE_STYLES: dict[State, str] = {
    State.FOCUSED: "bold $success",
    State.CONFUSED: "bold $warning",
    State.ALERT: "bold $text on $error",
    State.OFFLINE: "bold $text-muted",
    State.CALIBRATING: "bold $primary-lighten-2",
    State.PAUSED: "bold $text-secondary",
}


class StudentTile(Widget, can_focus=True):
    """A student at a glance; carries one CSS class per state (``-focused``, ``-alert``, ...)."""

    BINDINGS = [Binding("enter", "open", "Details", show=False)]

    class Opened(Message):
        """The teacher asked for this student's detail screen (Enter or a click)."""

        def __init__(self, student_id: str) -> None:
            super().__init__()
            self.student_id = student_id

    def __init__(
        self,
        student: StudentSnapshot,
        *,
        now: float,
        label_mode: LabelMode = "states",
        sparkline: SparkSource = "attention",
        compact: bool = False,
        flash: bool = False,
    ) -> None:
        super().__init__()
        self.label_mode: LabelMode = label_mode
        self.spark_source: SparkSource = sparkline
        self.compact = compact
        self.student = student
        self.now = now
        self.flash = flash
        self._age = self.age
        self._apply_classes()

    # What the tile shows, as text (tests and the bench read these) ----------------------

    @property
    def badge_text(self) -> str:
        """The badge as shown, e.g. "▲ CONFUSED"."""
        return badge(self.student.state, self.label_mode).text

    @property
    def reason(self) -> str:
        """The main reason as shown."""
        return reason_text(self.student)

    @property
    def age(self) -> str:
        """Time since the student's last message, as shown."""
        return age_text(self.now - self.student.last_seen)

    @property
    def history(self) -> tuple[float, ...]:
        """The samples behind the sparkline (the last `SPARK_WINDOW`)."""
        student = self.student
        data = student.attention_history if self.spark_source == "attention" else student.confusion_history
        return data[-SPARK_WINDOW:]

    # Updates ----------------------------------------------------------------------------

    def show(self, student: StudentSnapshot, now: float, *, flash: bool = False) -> None:
        """Show ``student`` at time ``now``; repaints only when something visible changed."""
        if student is self.student and flash == self.flash and age_text(now - student.last_seen) == self._age:
            self.now = now
            return
        self.student, self.now, self.flash = student, now, flash
        self._age = self.age
        self._apply_classes()
        self.refresh()

    def set_view(self, *, sparkline: SparkSource, compact: bool) -> None:
        """Switch the sparkline source or the compact layout."""
        if (sparkline, compact) != (self.spark_source, self.compact):
            relayout = compact != self.compact
            self.spark_source, self.compact = sparkline, compact
            if relayout:
                self._apply_classes()
            self.refresh(layout=relayout)

    def _apply_classes(self) -> None:
        state = self.student.state
        for each in State:
            self.set_class(each is state, f"-{each.value}")
        self.set_class(self.flash, "-flash")
        self.set_class(self.compact, "-compact")

    # Drawing ----------------------------------------------------------------------------

    def render(self) -> Content:
        width = self.content_size.width
        if self.compact:
            return self._render_compact(width)
        student = self.student
        age = self.age
        name = fit(student.name, max(1, width - len(age) - 1))
        top = Content.assemble(
            Content.styled(name, "bold"),
            " " * max(1, width - len(name) - len(age)),
            Content.styled(age, "$text-muted"),
        )
        mark = badge(student.state, self.label_mode)
        colour = attention_colour if self.spark_source == "attention" else confusion_colour
        spark = spark_content(self.history, width, colour)
        if not student.connected:
            spark = spark.stylize("dim")
        return Content("\n").join(
            [
                top,
                Content.styled(
                    f" {mark.text} " if student.state is State.ALERT else mark.text,
                    _BADGE_STYLES[student.state],
                ),
                Content.styled(fit(self.reason, width), "$text-muted"),
                spark,
            ]
        )

    def _render_compact(self, width: int) -> Content:
        student = self.student
        colour = attention_colour if self.spark_source == "attention" else confusion_colour
        spark = spark_content(self.history, COMPACT_SPARK, colour)
        name = fit(student.name, max(1, width - 3 - COMPACT_SPARK))
        return Content.assemble(
            Content.styled(badge(student.state, self.label_mode).symbol, _BADGE_STYLES[student.state]),
            " ",
            Content.styled(name, "bold" if student.connected else "italic $text-muted"),
            " " * max(1, width - 2 - len(name) - spark.cell_length),
            spark,
        )

    # Input ------------------------------------------------------------------------------

    def action_open(self) -> None:
        self.post_message(self.Opened(self.student.student_id))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.focus()
        self.post_message(self.Opened(self.student.student_id))
