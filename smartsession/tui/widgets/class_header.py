"""Three lines across the top: the class and its counts; attention and the hub; segments and view.

Line 1: class id, session clock, counts per state, roster students not joined yet, alerts so
far, and a class alert (a confusion spike) while it lasts.
Line 2: the class attention index (smoothed; `smartsession.core.classwide`) as a sparkline
and a number, replication to the school server (when configured), then the
hub (address, TLS); or, prominently, a storage error, or another hub announcing this class.
Line 3: the current segment and each segment's share of Confused time; the sort and filters.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from smartsession.core.classwide import Spike
from smartsession.core.snapshots import AlertRecord, HubStatus, SegmentStats
from smartsession.core.states import State
from smartsession.tui.labels import (
    STATE_ORDER,
    SYMBOLS,
    LabelMode,
    SortKey,
    SparkSource,
    clock_text,
    clock_time,
    fit,
    sort_word,
    spark_word,
    spike_text,
    state_word,
)
from smartsession.tui.widgets.spark import attention_colour, spark_content

#: States always counted in the header; the others appear only when someone is in them.
_ALWAYS_SHOWN = frozenset({State.FOCUSED, State.CONFUSED, State.ALERT, State.OFFLINE})
#: Bars of the class attention sparkline.
CLASS_SPARK = 24

STATE_STYLES: dict[State, str] = {
    State.FOCUSED: "$success",
    State.CONFUSED: "$warning",
    State.ALERT: "$error",
    State.OFFLINE: "$text-muted",
    State.CALIBRATING: "$primary-lighten-2",
    State.PAUSED: "$text-secondary",
}


@dataclass(frozen=True)
class HeaderData:
    """Everything the header shows; assign a new one to `ClassHeader.data`."""

    elapsed: float = 0.0
    counts: tuple[tuple[State, int], ...] = ()
    #: Roster students not joined yet.
    absent: int = 0
    alerts: int = 0
    #: The class alert under way, if any.
    spike: Spike | None = None
    #: The class attention index's recent values (oldest first) and its value now.
    attention: tuple[float, ...] = ()
    index: float | None = None
    status: HubStatus = field(default_factory=HubStatus)
    segments: tuple[SegmentStats, ...] = ()
    last_alert: AlertRecord | None = None
    sort_key: SortKey = "join"
    name_filter: str = ""
    alerts_only: bool = False
    spark: SparkSource = "attention"
    shown: int = 0
    total: int = 0


class ClassHeader(Widget):
    """The class at a glance; assign a new `HeaderData` to `data`."""

    data: reactive[HeaderData] = reactive(HeaderData)

    def __init__(self, class_id: str, *, label_mode: LabelMode = "states", id: str | None = None) -> None:
        super().__init__(id=id)
        self.class_id = class_id
        self.label_mode: LabelMode = label_mode

    @property
    def count_by_state(self) -> dict[State, int]:
        """The counts as a dict (zero for states not present)."""
        counts = dict.fromkeys(STATE_ORDER, 0)
        counts.update(self.data.counts)
        return counts

    def render(self) -> Content:
        width = self.size.width or 80
        return Content("\n").join(
            [self._counts_line(width), self._hub_line(width), self._segment_line(width)]
        )

    # line 1 -----------------------------------------------------------------------------

    def _counts_line(self, width: int) -> Content:
        for worded in (STATE_ORDER, _ALWAYS_SHOWN):
            content = self._counts(worded)
            if content.cell_length <= width:
                return content
        return self._counts(frozenset())

    def _counts(self, worded: Collection[State]) -> Content:
        """Counts of states not in ``worded`` show only symbol and number."""
        data = self.data
        parts: list[Content | str] = [
            Content.styled(f" {self.class_id}", "bold $accent"),
            "  ",
            clock_text(data.elapsed),
            " ",
        ]
        for state, count in self.count_by_state.items():
            if count or state in _ALWAYS_SHOWN:
                text = f"{SYMBOLS[state]}{count}"
                if state in worded:
                    text += " " + state_word(state, self.label_mode).lower()
                style = STATE_STYLES[state] if count else "$text-muted"
                parts.extend([" ", Content.styled(text, style)])
        if data.absent:
            parts.extend(["  ", Content.styled(f"absent {data.absent}", "$text-muted")])
        if data.alerts:
            parts.extend(["  ", Content.styled(f"alerts {data.alerts}", "$error")])
        if data.spike is not None:
            text = f"⚠ class: {spike_text(data.spike, self.label_mode)}"
            parts.extend(["  ", Content.styled(text, "bold $text on $warning")])
        return Content.assemble(*parts)

    # line 2 -----------------------------------------------------------------------------

    def _hub_line(self, width: int) -> Content:
        data = self.data
        status = data.status
        if not status.storage_ok:
            text = f" ⚠ STORAGE ERROR: {status.storage_error or 'writes fail'} (data is not being saved)"
            return Content.styled(fit(text, width).ljust(width), "bold $text on $error")
        if status.conflict:
            return Content.styled(fit(f" ⚠ {status.conflict}", width).ljust(width), "bold $text on $error")
        now = f"{data.index:4.0%}" if data.index is not None else "   -"
        hub = f"{status.url or 'hub'}  TLS {'on' if status.tls else 'off'}"
        spark = spark_content(data.attention, CLASS_SPARK, attention_colour)
        parts: list[Content | str] = [" class attention ", spark, f" {now}"]
        used = Content.assemble(*parts).cell_length
        room = width - used - 2
        school = school_text(status)
        if school and room > 8:
            shown = fit(school, room)
            parts.extend(
                ["  ", Content.styled(shown, "bold $warning" if status.school == "away" else "$text-muted")]
            )
            room -= len(shown) + 2
        if room > 8:
            parts.extend(["  ", Content.styled(fit(hub, room), "$text-muted" if status.tls else "$warning")])
        return Content.assemble(*parts)

    # line 3 -----------------------------------------------------------------------------

    def _segment_line(self, width: int) -> Content:
        data = self.data
        view = self._view_text()
        if data.last_alert is not None:
            alert = data.last_alert
            longer = f"last alert {clock_time(alert.ts)} {alert.name} · {view}"
            if len(longer) + 40 <= width:
                view = longer
        confused = state_word(State.CONFUSED, self.label_mode).lower()
        if data.segments:
            current = data.segments[-1]
            head = Content.assemble(
                " ",
                Content.styled(f"§{current.index} {current.label}", "bold"),
                f" {confused} {current.confused_share:.0%}",
            )
            earlier = [f"§{s.index} {s.confused_share:.0%}" for s in reversed(data.segments[:-1])]
        else:
            head = Content.styled(" no segment yet (m marks one)", "$text-muted")
            earlier = []
        room = width - head.cell_length - len(view) - 2
        shown: list[str] = []
        for text in earlier:
            if sum(len(t) + 2 for t in shown) + len(text) + 4 > room:
                break
            shown.append(text)
        middle = ("  " + "  ".join(shown)) if shown else ""
        gap = max(1, width - head.cell_length - len(middle) - len(view))
        return Content.assemble(
            head, Content.styled(middle, "$text-muted"), " " * gap, Content.styled(view, "$text-muted")
        )

    def _view_text(self) -> str:
        data = self.data
        parts = [f"sort {sort_word(data.sort_key, self.label_mode)}", spark_word(data.spark, self.label_mode)]
        if data.name_filter:
            parts.append(f'"{data.name_filter}"')
        if data.alerts_only:
            parts.append("alerts only")
        if data.shown != data.total:
            parts.append(f"{data.shown}/{data.total} shown")
        return " · ".join(parts) + " "


def school_text(status: HubStatus) -> str:
    """Replication to the school server in a few words ("" when the hub does not replicate)."""
    if not status.school:
        return ""
    lag = status.school_lag
    ago = f"{lag:.0f} s" if lag < 120 else f"{lag / 60:.0f} min"
    if status.school == "away":
        return f"school AWAY {ago}: {status.school_error}" if status.school_error else f"school AWAY {ago}"
    return f"school {status.school}, lag {ago}"
