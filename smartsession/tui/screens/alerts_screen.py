"""Every alert of the class, newest first, filterable by reason: the students' alerts, the hub's
notices about connections, and class alerts (a confusion spike)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from smartsession.core.classwide import Spike
from smartsession.core.snapshots import AlertRecord
from smartsession.core.states import AlertReason, NoticeKind
from smartsession.core.wording import LabelMode, words_for
from smartsession.tui.labels import clock_time, spike_text

#: The reason column (and filter) of a class alert.
CLASS_ALERT = "class alert"
Reason = AlertReason | NoticeKind | str
#: The reason filter cycles through "all", every alert reason, the hub's connection notices,
#: then class alerts.
_REASONS: tuple[Reason | None, ...] = (None, *AlertReason, *NoticeKind, CLASS_ALERT)

Row = AlertRecord | Spike


def _when(row: Row) -> float:
    return row.raised_at if isinstance(row, Spike) else row.ts


def _reason(row: Row) -> Reason:
    return CLASS_ALERT if isinstance(row, Spike) else row.reason


def _reason_label(reason: Reason) -> str:
    return reason.label if isinstance(reason, AlertReason | NoticeKind) else reason


class AlertsScreen(Screen[None]):
    """The class's alert log; ``r`` cycles the reason filter, Enter opens the student."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "cycle_reason", "Reason"),
    ]

    REFRESH = 0.5

    def __init__(
        self,
        alerts: Callable[[], list[AlertRecord]],
        class_alerts: Callable[[], list[Spike]],
        open_student: Callable[[str], None],
        *,
        label_mode: LabelMode = "states",
    ) -> None:
        super().__init__()
        self._alerts = alerts
        self._class_alerts = class_alerts
        self._open_student = open_student
        self.label_mode: LabelMode = label_mode
        self.reason: Reason | None = None
        self._shown: tuple[object, ...] | None = None
        self.title_line = Static(id="alerts-title")
        self.table: DataTable[str | Text] = DataTable(
            id="alerts-table", cursor_type="row", zebra_stripes=True
        )

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.table
        yield Footer()

    def on_mount(self) -> None:
        self.table.add_columns("time", "student", "reason", "detail")
        self.update_view()
        self.set_interval(self.REFRESH, self.update_view)
        self.table.focus()

    def _all(self) -> list[Row]:
        rows: list[Row] = [*self._alerts(), *self._class_alerts()]
        rows.sort(key=_when)
        return rows

    @property
    def rows(self) -> list[Row]:
        """The alerts shown, newest first."""
        return [a for a in reversed(self._all()) if self.reason is None or _reason(a) == self.reason]

    def update_view(self) -> None:
        everything = self._all()
        key = (tuple(everything), self.reason)
        if key == self._shown:
            return
        self._shown = key
        rows = self.rows
        which = "every reason" if self.reason is None else _reason_label(self.reason)
        self.title_line.update(f" Alerts: {len(rows)} of {len(everything)} ({which}; r changes the reason)")
        self.table.clear()
        words = words_for(self.label_mode)
        for index, row in enumerate(rows):
            if isinstance(row, Spike):
                cleared = f" (cleared {clock_time(row.ended_at)})" if row.ended_at is not None else ""
                cells = (CLASS_ALERT, spike_text(row, self.label_mode) + cleared)
                student_id, name = "", "class"
            else:
                cells = (row.reason.label, words.reason(row.detail) or "")
                student_id, name = row.student_id, row.name
            self.table.add_row(
                clock_time(_when(row)),
                Text(name),  # a str cell would be read as markup
                cells[0],
                Text(cells[1]),
                key=f"{index}:{student_id}",
            )

    def action_cycle_reason(self) -> None:
        self.reason = _REASONS[(_REASONS.index(self.reason) + 1) % len(_REASONS)]
        self.update_view()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        student_id = (event.row_key.value or "").partition(":")[2]
        if student_id:
            self._open_student(student_id)
