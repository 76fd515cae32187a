"""One student's tile: name, state badge, main reason, sparkline, time since last message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from smartsession.core.roster import StudentSnapshot
from smartsession.core.states import State
from smartsession.tui.labels import LabelMode, age_text, badge, reason_text

#: Samples shown in a tile's sparkline (at 1 s per sample: the last two minutes).
SPARK_WINDOW = 120

SparkSource = Literal["attention", "confusion"]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


#: Placeholder until a tile gets its first snapshot (the constructor always sets one).
_EMPTY = StudentSnapshot(
    student_id="",
    name="",
    host="",
    state=State.OFFLINE,
    alert=None,
    reasons=(),
    attention=0.0,
    confusion=0.0,
    faces=0,
    connected=False,
    joined_at=0.0,
    last_seen=0.0,
    samples=0,
    attention_history=(),
    confusion_history=(),
    alerts=0,
)


class StudentTile(Widget):
    """A student at a glance.

    Assign a new `StudentSnapshot` to `student` and a new time to `now`; the watchers only
    redraw. The tile carries one CSS class per state (``-focused``, ``-alert``, ...).
    """

    student: reactive[StudentSnapshot] = reactive(_EMPTY, init=False)
    now: reactive[float] = reactive(0.0, init=False)

    def __init__(
        self,
        student: StudentSnapshot,
        *,
        now: float,
        label_mode: LabelMode = "states",
        sparkline: SparkSource = "attention",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=f"-spark-{sparkline}")
        self.label_mode: LabelMode = label_mode
        self.spark_source: SparkSource = sparkline
        self._name_label = Label(classes="tile--name")
        self._age_label = Label(classes="tile--age")
        self._age_text = ""
        self._badge_label = Label(classes="tile--badge")
        self._reason_label = Label(classes="tile--reason")
        self._spark = Sparkline((), summary_function=_mean, classes="tile--spark")
        self.set_reactive(StudentTile.now, now)
        self.set_reactive(StudentTile.student, student)
        self._show_student(student)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="tile--top"):
            yield self._name_label
            yield self._age_label
        yield self._badge_label
        yield self._reason_label
        yield self._spark

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

    def watch_student(self, student: StudentSnapshot) -> None:
        self._show_student(student)

    def watch_now(self, now: float) -> None:
        self._show_age()

    def _show_age(self) -> None:
        age = self.age
        if age != self._age_text:
            self._age_text = age
            self._age_label.update(age)

    def _show_student(self, student: StudentSnapshot) -> None:
        for state in State:
            self.set_class(student.state is state, f"-{state.value}")
        self._name_label.update(student.name)
        self._badge_label.update(self.badge_text)
        self._reason_label.update(self.reason)
        self._show_age()
        history = student.attention_history if self.spark_source == "attention" else student.confusion_history
        self._spark.data = history[-SPARK_WINDOW:]
        self._spark.visible = bool(history)
        self.tooltip = f"{student.name} ({student.student_id} on {student.host})"
