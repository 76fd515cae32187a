"""Every alert of the class, newest first, filterable by reason."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from smartsession.core.roster import AlertRecord
from smartsession.core.states import AlertReason, NoticeKind
from smartsession.tui.labels import clock_time

#: The reason filter cycles through "all", every alert reason, then the hub's connection notices.
_REASONS: tuple[AlertReason | NoticeKind | None, ...] = (None, *AlertReason, *NoticeKind)


class AlertsScreen(Screen[None]):
    """The class's alert log; ``r`` cycles the reason filter, Enter opens the student."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "cycle_reason", "Reason"),
    ]

    REFRESH = 0.5

    def __init__(self, alerts: Callable[[], list[AlertRecord]], open_student: Callable[[str], None]) -> None:
        super().__init__()
        self._alerts = alerts
        self._open_student = open_student
        self.reason: AlertReason | NoticeKind | None = None
        self._shown: tuple[int, AlertReason | NoticeKind | None] | None = None
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

    @property
    def rows(self) -> list[AlertRecord]:
        """The alerts shown, newest first."""
        return [a for a in reversed(self._alerts()) if self.reason is None or a.reason is self.reason]

    def update_view(self) -> None:
        alerts = self._alerts()
        key = (len(alerts), self.reason)
        if key == self._shown:
            return
        self._shown = key
        rows = self.rows
        which = "every reason" if self.reason is None else self.reason.label
        self.title_line.update(f" Alerts: {len(rows)} of {len(alerts)} ({which}; r changes the reason)")
        self.table.clear()
        for index, alert in enumerate(rows):
            self.table.add_row(
                clock_time(alert.ts),
                Text(alert.name),  # a str cell would be read as markup
                alert.reason.label,
                Text(alert.detail),
                key=f"{index}:{alert.student_id}",
            )

    def action_cycle_reason(self) -> None:
        self.reason = _REASONS[(_REASONS.index(self.reason) + 1) % len(_REASONS)]
        self.update_view()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""
        self._open_student(key.partition(":")[2])
