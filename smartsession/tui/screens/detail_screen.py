"""One student in depth: state timeline, cue sparklines, reasons, alerts, time per state, connections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from smartsession.core.gaze import gaze_direction
from smartsession.core.snapshots import AlertRecord, HubGap, StudentSnapshot
from smartsession.core.wording import words_for
from smartsession.tui.labels import (
    STATE_ORDER,
    SYMBOLS,
    LabelMode,
    clock_time,
    duration_text,
    score_word,
    shown_reasons,
    state_word,
    student_badge,
)
from smartsession.tui.widgets.class_header import STATE_STYLES
from smartsession.tui.widgets.spark import (
    Colour,
    attention_colour,
    confusion_colour,
    neutral_colour,
    spark_content,
)

#: How the detail screen describes an agent's camera process (`VisionMode` values).
VISION_TEXT = {
    "isolated": "camera process without network",
    "unisolated": "camera process NOT isolated from the network",
    "simulated": "simulated signals",
    "unknown": "camera isolation not reported",
}


def seat_text(student: StudentSnapshot) -> str:
    """The seat check's line and, when there were any, the times of its mismatches ("" where
    the check is off)."""
    seat = student.seat
    if seat is None:
        return ""
    times = ", ".join(
        clock_time(ts) + (f" ({distance:.2f})" if distance is not None else "")
        for ts, distance in seat.mismatch_times[-10:]
    )
    return seat.line + (f"\nmismatches at {times}" if times else "")


def source_text(student: StudentSnapshot) -> str:
    """Where the student's signals come from and, when the agent says, how many frames a
    second it analyses (its effective rate: lower while the student sits still)."""
    vision = VISION_TEXT.get(student.vision, student.vision)
    if student.fps is None:
        return vision
    return f"{vision}, {student.fps:.1f} frames/s analysed"


class StudentSource(Protocol):
    """What the detail screen reads (the app): latest snapshots, alerts and the time."""

    def student(self, student_id: str) -> StudentSnapshot | None: ...

    def student_ids(self) -> list[str]: ...

    def student_alerts(self, student_id: str) -> list[AlertRecord]: ...

    def now(self) -> float: ...


#: A moment of the timeline when the hub was down (a crash before a resume).
HUB_GAP_SYMBOL = "▒"
HUB_GAP_STYLE = "$error"


def _in_gap(gaps: tuple[HubGap, ...], moment: float) -> bool:
    return any(gap.start <= moment < gap.end for gap in gaps)


def timeline_content(student: StudentSnapshot, now: float, width: int) -> Content:
    """The session as ``width`` cells, each the state's symbol in its colour at that moment
    (`HUB_GAP_SYMBOL` while the hub was down)."""
    if not student.timeline or width <= 0:
        return Content("")
    start = student.timeline[0][0]
    span = max(now - start, 1e-9)
    parts: list[tuple[str, str]] = []
    index = 0
    for cell in range(width):
        moment = start + span * (cell + 0.5) / width
        while index + 1 < len(student.timeline) and student.timeline[index + 1][0] <= moment:
            index += 1
        state = student.timeline[index][1]
        if _in_gap(student.hub_gaps, moment):
            parts.append((HUB_GAP_SYMBOL, HUB_GAP_STYLE))
        else:
            parts.append((SYMBOLS[state], STATE_STYLES[state]))
    return Content.assemble(*parts)


def connection_lines(student: StudentSnapshot) -> list[str]:
    """The connections, newest first, with the times the hub was down among them."""
    rows = [
        (
            start,
            f"{clock_time(start)} → "
            + (f"{clock_time(end)} ({duration_text(end - start)})" if end is not None else "now"),
        )
        for start, end in student.connections
    ]
    rows += [
        (
            gap.start,
            f"hub offline {clock_time(gap.start)} → {clock_time(gap.end)} ({duration_text(gap.end - gap.start)})",
        )
        for gap in student.hub_gaps
    ]
    return [text for _, text in sorted(rows, key=lambda row: -row[0])]


def gaze_label(student: StudentSnapshot) -> str:
    """The gaze row's label: "gaze away", then where the student looked (`gaze_direction` of the
    latest sample's head pose and gaze) when that sample saw a face."""
    cues = student.cues
    if cues.face_share <= 0.0:
        return "gaze away"
    return f"gaze away {gaze_direction(cues.yaw, cues.pitch, cues.gaze_away)}"


def _cue_rows(
    student: StudentSnapshot, mode: LabelMode
) -> list[tuple[str, Sequence[float], Colour, float, str]]:
    """(label, values, colour, scale top, latest value as text) for each cue sparkline."""
    cues = student.cue_history
    faces = [float(f) for f in cues.faces]
    rows: list[tuple[str, Sequence[float], Colour, float, str]] = [
        ("attention", student.attention_history, attention_colour, 1.0, f"{student.attention:.2f}"),
        (score_word(mode), student.confusion_history, confusion_colour, 1.0, f"{student.confusion:.2f}"),
        (
            "head pose (°)",
            cues.head_pose,
            neutral_colour,
            45.0,
            f"{cues.head_pose[-1]:.0f}°" if cues.head_pose else "-",
        ),
        (
            gaze_label(student),
            cues.gaze_away,
            neutral_colour,
            1.0,
            f"{cues.gaze_away[-1]:.2f}" if cues.gaze_away else "-",
        ),
        ("faces", faces, neutral_colour, 3.0, str(student.faces)),
    ]
    if mode == "states":  # the expression model's output is emotion inference: not in cues mode
        rows.append(
            (
                "neg. expression",
                cues.expression,
                neutral_colour,
                1.0,
                f"{cues.expression[-1]:.2f}" if cues.expression else "-",
            )
        )
    return rows


class _Timeline(Widget):
    """The state timeline; redrawn with the screen."""

    DEFAULT_CSS = "_Timeline { height: 1; }"

    def __init__(self, content: Callable[[int], Content]) -> None:
        super().__init__()
        self._content = content

    def render(self) -> Content:
        return self._content(self.size.width)


class _Sparks(Widget):
    """The cue sparklines, one per line, label on the left, latest value on the right."""

    DEFAULT_CSS = "_Sparks { height: auto; }"

    def __init__(self, content: Callable[[int], Content]) -> None:
        super().__init__()
        self._content = content

    def render(self) -> Content:
        return self._content(self.size.width)


class DetailScreen(Screen[None]):
    """Enter on a tile opens this; escape goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Previous"),
    ]

    #: Seconds between redraws while open.
    REFRESH = 0.5

    def __init__(self, source: StudentSource, student_id: str, *, label_mode: LabelMode = "states") -> None:
        super().__init__()
        self.source = source
        self.student_id = student_id
        self.label_mode: LabelMode = label_mode
        self._shown: tuple[StudentSnapshot | None, int, int] | None = None
        self.title_line = Static(id="detail-title")
        self.reasons = Static(id="detail-reasons")
        self.seat = Static(id="detail-seat")
        self.timeline = _Timeline(self._timeline)
        self.durations = Static(id="detail-durations")
        self.sparks = _Sparks(self._sparks)
        self.alert_list = Static(id="detail-alerts")
        self.connection_list = Static(id="detail-connections")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield self.title_line
            yield Static("Why", classes="detail--heading")
            yield self.reasons
            yield self.seat
            yield Static("State timeline (session start → now)", classes="detail--heading")
            yield self.timeline
            yield self.durations
            yield Static("Cues (last minutes, fixed scales)", classes="detail--heading")
            yield self.sparks
            yield Static("Alerts", classes="detail--heading")
            yield self.alert_list
            yield Static("Connections", classes="detail--heading")
            yield self.connection_list
        yield Footer()

    def on_mount(self) -> None:
        self.update_view()
        self.set_interval(self.REFRESH, self.update_view)

    @property
    def student(self) -> StudentSnapshot | None:
        return self.source.student(self.student_id)

    def update_view(self) -> None:
        """Redraw when the student, the alerts or the second changed."""
        student = self.student
        now = self.source.now()
        alerts = self.source.student_alerts(self.student_id)
        key = (student, len(alerts), int(now))
        if key == self._shown:
            return
        self._shown = key
        if student is None:
            self.title_line.update(Content(f"{self.student_id}: unknown student"))
            return
        mode = self.label_mode
        mark = student_badge(student, mode)
        where = f" on {student.host}" if student.host else ""
        vision = f" ({source_text(student)})" if not student.absent else ""
        late = f", joined {student.late_by:.1f} min late" if student.late_by is not None else ""
        self.title_line.update(
            Content.assemble(
                Content.styled(student.name, "bold"),
                f"  {student.student_id}{where}{vision}  ",
                Content.styled(mark.text, f"bold {STATE_STYLES[student.state]}"),
                f" for {duration_text(now - student.state_since)}" if student.timeline else "",
                late,
            )
        )
        reasons = shown_reasons(student, mode)
        notice = (f"hub: {student.notice}",) if student.notice else ()
        self.reasons.update(Content("\n".join(f"• {reason}" for reason in (*reasons, *notice))))  # text
        seat = seat_text(student)
        self.seat.update(Content(seat))
        self.seat.display = bool(seat)
        spent = student.durations(now)
        total = sum(spent.values()) or 1.0
        gaps = sum(gap.end - gap.start for gap in student.hub_gaps)
        self.durations.update(
            Content.assemble(
                *[
                    part
                    for state in STATE_ORDER
                    if spent[state] > 0
                    for part in (
                        Content.styled(
                            f"{SYMBOLS[state]} {state_word(state, mode).lower()} {duration_text(spent[state])}"
                            f" ({spent[state] / total:.0%})",
                            STATE_STYLES[state],
                        ),
                        "   ",
                    )
                ],
                *(
                    [Content.styled(f"{HUB_GAP_SYMBOL} hub offline {duration_text(gaps)}", HUB_GAP_STYLE)]
                    if gaps
                    else []
                ),
            )
        )
        words = words_for(mode)
        self.alert_list.update(
            Content(
                "\n".join(
                    f"{clock_time(a.ts)}  {a.reason.label}"
                    + (f": {detail}" if (detail := words.reason(a.detail)) else "")
                    for a in reversed(alerts)
                )
                or "none this session"
            )
        )
        self.connection_list.update("\n".join(connection_lines(student)) or "never connected")
        self.timeline.refresh()
        self.sparks.refresh(layout=True)

    def _timeline(self, width: int) -> Content:
        student = self.student
        return timeline_content(student, self.source.now(), width) if student is not None else Content("")

    def _sparks(self, width: int) -> Content:
        student = self.student
        if student is None:
            return Content("")
        rows = _cue_rows(student, self.label_mode)
        room = max(1, width - 17 - 7)
        lines = [
            Content.assemble(
                f"{label:<16} ",
                spark_content(values[-room:], room, colour, 0.0, top),
                f" {latest:>6}",
            )
            for label, values, colour, top, latest in rows
        ]
        return Content("\n").join(lines)

    def action_step(self, step: int) -> None:
        ids = self.source.student_ids()
        if not ids:
            return
        index = ids.index(self.student_id) if self.student_id in ids else 0
        self.student_id = ids[(index + step) % len(ids)]
        self._shown = None
        self.update_view()
