"""One line across the top: class id, session clock, counts per state, alerts so far."""

from __future__ import annotations

from collections.abc import Collection

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from smartsession.core.states import State
from smartsession.tui.labels import STATE_ORDER, SYMBOLS, LabelMode, clock_text, state_word

#: States always counted in the header; the others appear only when someone is in them.
_ALWAYS_SHOWN = frozenset({State.FOCUSED, State.CONFUSED, State.ALERT, State.OFFLINE})

_STATE_STYLES: dict[State, str] = {
    State.FOCUSED: "$success",
    State.CONFUSED: "$warning",
    State.ALERT: "$error",
    State.OFFLINE: "$text-muted",
    State.CALIBRATING: "$accent",
    State.PAUSED: "$text-secondary",
}


class ClassHeader(Widget):
    """The class at a glance; assign new values to `counts`, `elapsed` and `alerts`."""

    counts: reactive[tuple[tuple[State, int], ...]] = reactive(())
    elapsed: reactive[float] = reactive(0.0)
    alerts: reactive[int] = reactive(0)

    def __init__(self, class_id: str, *, label_mode: LabelMode = "states", id: str | None = None) -> None:
        super().__init__(id=id)
        self.class_id = class_id
        self.label_mode: LabelMode = label_mode

    @property
    def count_by_state(self) -> dict[State, int]:
        """The counts as a dict (zero for states not present)."""
        counts = dict.fromkeys(STATE_ORDER, 0)
        counts.update(self.counts)
        return counts

    def render(self) -> Content:
        for worded in (STATE_ORDER, _ALWAYS_SHOWN):
            content = self._content(worded)
            if content.cell_length <= self.size.width:
                return content
        return self._content(frozenset())

    def _content(self, worded: Collection[State]) -> Content:
        """The header line; counts of states not in ``worded`` show only symbol and number."""
        parts: list[Content | str] = [
            Content.styled(f" {self.class_id}", "bold $accent"),
            "  ",
            clock_text(self.elapsed),
            " ",
        ]
        for state, count in self.count_by_state.items():
            if count or state in _ALWAYS_SHOWN:
                text = f"{SYMBOLS[state]}{count}"
                if state in worded:
                    text += " " + state_word(state, self.label_mode).lower()
                style = _STATE_STYLES[state] if count else "$text-muted"
                parts.extend([" ", Content.styled(text, style)])
        if self.alerts:
            parts.extend(["  ", Content.styled(f"alerts {self.alerts}", "$error")])
        return Content.assemble(*parts)
