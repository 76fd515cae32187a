"""A sparkline on a fixed scale, so bars mean the same height for every student.

Textual's `Sparkline` scales each line to its own min and max, which makes a calm student's
small wobble look like a crisis next to a neighbour. Here 0 is always the lowest bar and 1
(or ``high``) the full bar, and each bar is coloured by its level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from smartsession.tui.labels import bar, bucket

#: Picks a style for one bar from its value on the 0..1 scale.
Colour = Callable[[float], str]


def attention_colour(share: float) -> str:
    """High attention is good (green), low is red."""
    if share < 0.4:
        return "$error"
    if share < 0.7:
        return "$warning"
    return "$success"


def confusion_colour(share: float) -> str:
    """A confusion score at or above the Confused threshold shows yellow."""
    return "$warning" if share >= 0.58 else "$text-muted"


def neutral_colour(share: float) -> str:
    """Cues that are neither good nor bad."""
    return "$accent"


def spark_content(
    values: Sequence[float],
    width: int,
    colour: Colour = neutral_colour,
    low: float = 0.0,
    high: float = 1.0,
) -> Content:
    """Up to ``width`` coloured bars of ``values`` on the fixed scale ``low``..``high``."""
    parts: list[tuple[str, str]] = []
    for value in bucket(values, width):
        share = (value - low) / (high - low) if high > low else 0.0
        style = colour(min(1.0, max(0.0, share)))
        char = bar(value, low, high)
        if parts and parts[-1][1] == style:
            parts[-1] = (parts[-1][0] + char, style)
        else:
            parts.append((char, style))
    return Content.assemble(*parts)


class Spark(Widget):
    """A one-line fixed-scale sparkline; assign a new tuple to `data` to redraw."""

    DEFAULT_CSS = """
    Spark { height: 1; width: 1fr; }
    """

    data: reactive[tuple[float, ...]] = reactive(())

    def __init__(
        self,
        data: tuple[float, ...] = (),
        *,
        colour: Colour = neutral_colour,
        low: float = 0.0,
        high: float = 1.0,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.colour = colour
        self.low, self.high = low, high
        self.set_reactive(Spark.data, data)

    def render(self) -> Content:
        return spark_content(self.data, self.size.width, self.colour, self.low, self.high)
