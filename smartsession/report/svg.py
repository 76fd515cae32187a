"""The report's charts as inline SVG: the class over time, and a state timeline per student.

Lecture segments are bands behind both, the times the hub was down dark bands over them;
every word comes from the report's label mode (`smartsession.core.wording`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from smartsession.core.states import AlertReason
from smartsession.core.wording import Words, words_for
from smartsession.report.format import hhmm
from smartsession.report.items import HUB_OFFLINE, ClassPoint, SessionReport

#: Fill colour of each state in the timelines (also the legend), and of the hub offline.
STATE_COLOURS: dict[str, str] = {
    "focused": "#2e7d32",
    "confused": "#ef6c00",
    "alert": "#c62828",
    "calibrating": "#9e9e9e",
    "paused": "#64b5f6",
}
OFFLINE_COLOUR = "#5d4037"
ATTENTION_COLOUR = "#1565c0"
CONFUSION_COLOUR = "#ef6c00"
BAND_COLOURS = ("#eef3fb", "#fbfbf3")

WIDTH = 960


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def reason_label(reason: str) -> str:
    """An alert reason in words ("looking away"), or the stored text."""
    try:
        return AlertReason(reason).label
    except ValueError:
        return reason or "-"


def _ticks(start: float, end: float, target: int = 8) -> list[float]:
    span = max(end - start, 1.0)
    step = 60.0 * 60.0
    for nice in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / nice <= target:
            step = float(nice)
            break
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


class _Axis:
    def __init__(self, start: float, end: float, left: float, right: float) -> None:
        self.start, self.end = start, max(end, start + 1.0)
        self.left, self.right = left, right

    def x(self, ts: float) -> float:
        ts = min(max(ts, self.start), self.end)
        return self.left + (ts - self.start) / (self.end - self.start) * (self.right - self.left)

    def labels(self, y: float, top: float) -> list[str]:
        out = []
        ticks = _ticks(self.start, self.end)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 60.0
        for t in ticks:
            x = self.x(t)
            label = hhmm(t) if step < 60 else hhmm(t)[:5]
            out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y - 12:.1f}" stroke="#ccc"/>')
            out.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{_e(label)}</text>')
        return out


def _bands(report: SessionReport, axis: _Axis, top: float, bottom: float, labels: bool) -> list[str]:
    out = []
    for g in report.segments:
        x0, x1 = axis.x(g.start), axis.x(g.end)
        colour = BAND_COLOURS[(g.index - 1) % 2]
        out.append(
            f'<rect class="segment" x="{x0:.1f}" y="{top:.1f}" width="{max(0.5, x1 - x0):.1f}"'
            f' height="{bottom - top:.1f}" fill="{colour}"><title>{_e(g.label)}</title></rect>'
        )
        if g.index > 1:
            out.append(
                f'<line x1="{x0:.1f}" y1="{top:.1f}" x2="{x0:.1f}" y2="{bottom:.1f}" stroke="#7a8ca5"'
                ' stroke-dasharray="4 3"/>'
            )
        if labels:
            text = g.label if len(g.label) <= 28 else g.label[:27] + "…"
            out.append(f'<text x="{x0 + 4:.1f}" y="{top + 12:.1f}" fill="#334">{_e(text)}</text>')
    return out


def _offline(report: SessionReport, axis: _Axis, top: float, bottom: float) -> list[str]:
    return [
        f'<rect class="hub-offline" x="{axis.x(g.start):.1f}" y="{top:.1f}"'
        f' width="{max(1.5, axis.x(g.end) - axis.x(g.start)):.1f}" height="{bottom - top:.1f}"'
        f' fill="{OFFLINE_COLOUR}" fill-opacity="0.35"><title>hub offline {hhmm(g.start)}&ndash;{hhmm(g.end)}'
        "</title></rect>"
        for g in report.hub_offline
    ]


def _spikes(report: SessionReport, axis: _Axis, top: float, bottom: float, words: Words) -> list[str]:
    out = []
    for a in report.class_alerts:
        x0, x1 = axis.x(a.start), axis.x(a.end)
        what = f"class alert: {a.confused} of {a.present} {words.confused}"
        out.append(
            f'<rect class="class-alert" x="{x0:.1f}" y="{top:.1f}" width="{max(1.5, x1 - x0):.1f}" height="6"'
            f' fill="{CONFUSION_COLOUR}"><title>{_e(what)} {hhmm(a.start)}&ndash;{hhmm(a.end)}</title></rect>'
        )
    return out


def class_chart(report: SessionReport) -> str:
    """The class attention index and the mean confusion over time, over the segment bands."""
    words = words_for(report.labels)
    height, top, bottom, left, right = 280.0, 24.0, 244.0, 44.0, WIDTH - 12.0
    axis = _Axis(report.started_at, report.end, left, right)
    title = f"Class attention index and mean {words.score} over time"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}"'
        f' role="img" aria-label="{_e(title)}">'
    ]
    parts += _bands(report, axis, top, bottom, labels=True)
    parts += _offline(report, axis, top, bottom)
    parts += _spikes(report, axis, top, bottom, words)
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - v * (bottom - top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    parts += axis.labels(height - 10, top)

    def line(points: Sequence[ClassPoint], value: str, at_end: bool, colour: str, dash: str) -> None:
        runs: list[list[str]] = [[]]
        for p in points:
            v = getattr(p, value)
            if v is None:
                runs.append([])
                continue
            moment = min(report.end, p.start + report.bucket_seconds) if at_end else p.start
            if not at_end:
                moment += report.bucket_seconds / 2
            runs[-1].append(f"{axis.x(moment):.1f},{bottom - v * (bottom - top):.1f}")
        name = words.key(value).replace("_", "-")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle class="{name}" cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline class="{name}" points="{" ".join(run)}" fill="none" stroke="{colour}"'
                    f' stroke-width="2.2" stroke-dasharray="{dash}" stroke-linejoin="round"/>'
                )

    line(report.timeline, "attention_index", True, ATTENTION_COLOUR, "none")
    line(report.timeline, "mean_confusion", False, CONFUSION_COLOUR, "6 3")
    parts.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none"'
        ' stroke="#999"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def timeline_chart(report: SessionReport) -> str:
    """One row per student: the state over time, coloured by `STATE_COLOURS` (`OFFLINE_COLOUR`: the
    hub was down while the student was connected)."""
    words = words_for(report.labels)
    students = [s for s in report.students if s.status != "absent"]
    row, top, name_w = 20.0, 20.0, 170.0
    height = top + row * max(1, len(students)) + 28
    axis = _Axis(report.started_at, report.end, name_w, WIDTH - 12.0)
    bottom = top + row * max(1, len(students))
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}"'
        ' role="img" aria-label="State timeline per student">'
    ]
    parts += _bands(report, axis, top, bottom, labels=False)
    parts += axis.labels(height - 8, top)
    for i, s in enumerate(students):
        y = top + i * row
        name = s.name if len(s.name) <= 24 else s.name[:23] + "…"
        parts.append(f'<text x="{name_w - 6}" y="{y + row * 0.68:.1f}" text-anchor="end">{_e(name)}</text>')
        parts.append(
            f'<rect x="{name_w}" y="{y + 3:.1f}" width="{WIDTH - 12 - name_w}" height="{row - 6:.1f}"'
            ' fill="#f4f4f4"/>'
        )
        for r in sorted(s.timeline, key=lambda run: run.state == HUB_OFFLINE):  # the hub's gaps on top
            x0, x1 = axis.x(r.start), axis.x(r.end)
            offline = r.state == HUB_OFFLINE
            fill = OFFLINE_COLOUR if offline else STATE_COLOURS.get(r.state, "#bbb")
            what = words.state(r.state) + (f": {reason_label(r.alert)}" if r.alert else "")
            parts.append(
                f'<rect class="run {_e(words.key(r.state))}" x="{x0:.1f}" y="{y + 3:.1f}"'
                f' width="{max(0.8, x1 - x0):.1f}" height="{row - 6:.1f}" fill="{fill}"><title>{_e(what)}'
                f" {hhmm(r.start)}&ndash;{hhmm(r.end)}</title></rect>"
            )
    parts.append("</svg>")
    return "\n".join(parts)
