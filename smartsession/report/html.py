"""The HTML report: one self-contained page (inline CSS and SVG; no script, font or image fetched).

`render_html` returns the page; `write_html` writes it. It prints well (A4, tables keep their
header rows, colours kept).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from smartsession.core.states import AlertReason
from smartsession.report.format import clock, hhmm, minutes, percent
from smartsession.report.model import STATES, ClassPoint, SegmentReport, SessionReport, StudentReport

#: Fill colour of each state in the timelines (also the legend).
STATE_COLOURS: dict[str, str] = {
    "focused": "#2e7d32",
    "confused": "#ef6c00",
    "alert": "#c62828",
    "calibrating": "#9e9e9e",
    "paused": "#64b5f6",
}
ATTENTION_COLOUR = "#1565c0"
CONFUSION_COLOUR = "#ef6c00"
BAND_COLOURS = ("#eef3fb", "#fbfbf3")

WIDTH = 960

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1b1b1b;
       margin: 24px auto; max-width: 1000px; padding: 0 16px; font-size: 14px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid #1565c0; padding-bottom: 2px; }
.sub { color: #555; margin: 0 0 12px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; padding: 0; list-style: none; }
.facts li { background: #f2f5f9; border-radius: 6px; padding: 6px 10px; }
.facts b { font-size: 18px; display: block; }
.meaning { border-left: 4px solid #ef6c00; background: #fff6ec; padding: 8px 12px; margin: 12px 0; }
.meaning p { margin: 4px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #e8eef6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.absent td { color: #8a1c1c; background: #fdf0f0; }
tr.late td.status { color: #a35200; font-weight: bold; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 4px 0 8px; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px;
          border-radius: 2px; }
svg { display: block; max-width: 100%; height: auto; font-family: inherit; }
svg text { font-size: 11px; fill: #333; }
.note { color: #555; font-size: 12px; }
footer { color: #666; font-size: 12px; margin-top: 24px; border-top: 1px solid #ddd; padding-top: 6px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; }
  figure, .meaning, .facts { break-inside: avoid; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _reason(reason: str) -> str:
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


def class_chart(report: SessionReport) -> str:
    """Class mean attention and confusion over time, over the segment bands (inline SVG)."""
    height, top, bottom, left, right = 280.0, 24.0, 244.0, 44.0, WIDTH - 12.0
    axis = _Axis(report.started_at, report.end, left, right)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}"'
        ' role="img" aria-label="Class attention and confusion over time">'
    ]
    parts += _bands(report, axis, top, bottom, labels=True)
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - v * (bottom - top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    parts += axis.labels(height - 10, top)

    def line(points: Sequence[ClassPoint], value: str, colour: str, dash: str) -> None:
        runs: list[list[str]] = [[]]
        half = report.bucket_seconds / 2
        for p in points:
            v = getattr(p, value)
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{axis.x(p.start + half):.1f},{bottom - v * (bottom - top):.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline class="{value}" points="{" ".join(run)}" fill="none" stroke="{colour}"'
                    f' stroke-width="2.2" stroke-dasharray="{dash}" stroke-linejoin="round"/>'
                )

    line(report.timeline, "mean_attention", ATTENTION_COLOUR, "none")
    line(report.timeline, "mean_confusion", CONFUSION_COLOUR, "6 3")
    parts.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none"'
        ' stroke="#999"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def timeline_chart(report: SessionReport) -> str:
    """One row per student: the state over time, coloured by `STATE_COLOURS` (inline SVG)."""
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
        for r in s.timeline:
            x0, x1 = axis.x(r.start), axis.x(r.end)
            colour = STATE_COLOURS.get(r.state, "#bbb")
            what = r.state + (f": {_reason(r.alert)}" if r.alert else "")
            parts.append(
                f'<rect class="run {_e(r.state)}" x="{x0:.1f}" y="{y + 3:.1f}" width="{max(0.8, x1 - x0):.1f}"'
                f' height="{row - 6:.1f}" fill="{colour}"><title>{_e(what)} {hhmm(r.start)}&ndash;{hhmm(r.end)}'
                "</title></rect>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(f'<span><i class="swatch" style="background:{c}"></i>{_e(t)}</span>' for t, c in items)
    return f'<div class="legend">{spans}</div>'


def _table(
    header: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int], classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        cells = "".join(
            f'<td class="n">{_e(v)}</td>' if j in numeric else f"<td>{_e(v)}</td>" for j, v in enumerate(r)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _attendance(students: Sequence[StudentReport]) -> str:
    rows, classes = [], []
    for s in students:
        late = f"{s.late_minutes:.1f} min late" if s.status == "late" and s.late_minutes is not None else ""
        rows.append(
            [
                s.name,
                s.student_id,
                s.status + (f" ({late})" if late else ""),
                hhmm(s.joined) if s.joined is not None else "-",
                hhmm(s.left) if s.left is not None else "-",
                minutes(s.minutes_connected),
                minutes(s.minutes_face),
            ]
        )
        classes.append(s.status)
    header = ["Student", "Id", "Status", "Joined", "Left", "Connected", "Face on screen"]
    return _table(header, rows, {5, 6}, classes)


def _states(students: Sequence[StudentReport]) -> str:
    rows = [
        [
            s.name,
            *[minutes(s.minutes_by_state.get(st)) for st in STATES],
            _f(s.mean_attention),
            _f(s.mean_confusion),
            _f(s.peak_confusion),
        ]
        for s in students
        if s.status != "absent"
    ]
    header = [
        "Student",
        *[st.capitalize() for st in STATES],
        "Mean attention",
        "Mean confusion",
        "Peak confusion",
    ]
    return _table(header, rows, set(range(1, len(header))))


def _alerts_by_reason(report: SessionReport) -> str:
    reasons = sorted({r for s in report.students for r in s.alerts_by_reason})
    if not reasons:
        return '<p class="note">No alerts were raised.</p>'
    rows = [
        [s.name, *[s.alerts_by_reason.get(r, 0) for r in reasons], sum(s.alerts_by_reason.values())]
        for s in report.students
        if s.status != "absent"
    ]
    return _table(["Student", *[_reason(r) for r in reasons], "Total"], rows, set(range(1, len(reasons) + 2)))


def _alert_list(report: SessionReport) -> str:
    if not report.alerts:
        return ""
    rows = [
        [
            hhmm(a.ts),
            a.name,
            _reason(a.reason),
            a.detail,
            hhmm(a.cleared_at) if a.cleared_at else "(still on)",
        ]
        for a in report.alerts
    ]
    return _table(["Time", "Student", "Reason", "Detail", "Cleared"], rows, set())


def _segments(segments: Sequence[SegmentReport]) -> str:
    rows = [
        [
            g.index,
            g.label,
            hhmm(g.start),
            hhmm(g.end),
            minutes((g.end - g.start) / 60.0),
            g.students,
            percent(g.confused_share),
            percent(g.not_attending_share),
            _f(g.mean_attention),
            _f(g.mean_confusion),
        ]
        for g in segments
    ]
    header = [
        "#",
        "Segment",
        "From",
        "To",
        "Length",
        "Students",
        "Confused",
        "Not attending",
        "Mean attention",
        "Mean confusion",
    ]
    return _table(header, rows, {0, 4, 5, 6, 7, 8, 9})


def render_html(report: SessionReport) -> str:
    """The report as one self-contained HTML page."""
    c = report.counts
    absent = [s for s in report.students if s.status == "absent"]
    late = [s for s in report.students if s.status == "late"]
    ended = clock(report.ended_at) if report.ended_at is not None else f"{clock(report.end)} (last activity)"
    facts = [
        ("Duration", f"{report.duration_minutes:.1f} min"),
        ("Present", str(c.get("students_present", 0) + c.get("students_late", 0))),
        ("Late", str(len(late))),
        ("Absent", str(len(absent))),
        ("Alerts", str(len(report.alerts))),
    ]
    who = ""
    if absent:
        who += f"<p><b>Absent:</b> {_e(', '.join(s.name for s in absent))}</p>"
    if late:
        who += (
            "<p><b>Late:</b> "
            + _e(", ".join(f"{s.name} ({(s.late_minutes or 0.0):.1f} min)" for s in late))
            + "</p>"
        )
    states_legend = _legend(
        [(k.capitalize(), v) for k, v in STATE_COLOURS.items()] + [("No data", "#f4f4f4")]
    )
    chart_legend = _legend(
        [
            ("Mean attention", ATTENTION_COLOUR),
            ("Mean confusion (dashed)", CONFUSION_COLOUR),
            ("Segments (bands)", BAND_COLOURS[0]),
        ]
    )
    body = f"""
<header>
<h1>Class report: {_e(report.class_id)}</h1>
<p class="sub">Session {_e(report.session_id)} &middot; {_e(clock(report.started_at))} &ndash; {_e(ended)} &middot; hub {_e(report.hub_id)}</p>
<ul class="facts">{"".join(f"<li>{_e(k)}<b>{_e(v)}</b></li>" for k, v in facts)}</ul>
{who}
</header>
<section class="meaning" id="meaning">
<h2>What these numbers mean</h2>
<p>{_e(report.meaning)}</p>
<p>Each sample stands for {report.interval:.2f} s. Minutes in a state = samples in that state &times; that interval.
"Face on screen" counts samples with at least one face. "Connected" is the time the student's machine
was linked to the hub. "Late" means first seen more than {report.late_after_minutes:g} minutes after the
session started. "Not attending" means attention below {report.attention_low:.2f}. Attention and confusion
run from 0 to 1. A flag or an alert is for a human to review, never a conclusion.</p>
</section>
<section id="class-over-time">
<h2>Class attention and confusion over time</h2>
{chart_legend}
<figure>{class_chart(report)}</figure>
<p class="note">Means over the students with samples, per {report.bucket_seconds:g} s.</p>
</section>
<section id="timeline">
<h2>State timeline per student</h2>
{states_legend}
<figure>{timeline_chart(report)}</figure>
</section>
<section id="attendance">
<h2>Attendance</h2>
{_attendance(report.students)}
</section>
<section id="states">
<h2>Time in each state</h2>
{_states(report.students)}
</section>
<section id="segments">
<h2>Segments</h2>
{_segments(report.segments)}
</section>
<section id="alerts">
<h2>Alerts by reason</h2>
{_alerts_by_reason(report)}
{_alert_list(report)}
</section>
<footer>Made by SmartSession from numbers computed on the students' own machines; no images were
recorded. Times are local to the machine that made this report.</footer>
"""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Class report {_e(report.class_id)} {_e(clock(report.started_at))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>{body}</body>\n</html>\n"
    )


def write_html(report: SessionReport, path: Path) -> None:
    """Write `render_html` to ``path``."""
    path.write_text(render_html(report), encoding="utf-8")
