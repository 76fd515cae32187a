"""The HTML report: one self-contained page (inline CSS and SVG; no script, font or image fetched).

`render_html` returns the page; `write_html` writes it. It prints well (A4, tables keep their
header rows, colours kept). Numbers are the model's, printed with its digits; words are the
report's label mode's (`smartsession.core.wording`). The charts are `smartsession.report.svg`'s.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from smartsession.core.wording import Words, words_for
from smartsession.report.format import clock, hhmm, minutes, percent, score, seconds
from smartsession.report.items import SEAT_NOTE, STATES, SegmentReport, SessionReport, StudentReport
from smartsession.report.svg import (
    ATTENTION_COLOUR,
    BAND_COLOURS,
    CONFUSION_COLOUR,
    OFFLINE_COLOUR,
    STATE_COLOURS,
    class_chart,
    reason_label,
    timeline_chart,
)

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


def _title(word: str) -> str:
    return word[:1].upper() + word[1:]


def _attendance(students: Sequence[StudentReport]) -> str:
    rows, classes = [], []
    for s in students:
        late = f"{minutes(s.late_minutes)} late" if s.status == "late" else ""
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


def _states(students: Sequence[StudentReport], words: Words) -> str:
    rows = [
        [
            s.name,
            *[minutes(s.minutes_by_state.get(st)) for st in STATES],
            score(s.mean_attention),
            score(s.mean_confusion),
            score(s.peak_confusion),
        ]
        for s in students
        if s.status != "absent"
    ]
    header = [
        "Student",
        *[_title(words.state(st)) for st in STATES],
        "Mean attention",
        f"Mean {words.score}",
        f"Peak {words.score}",
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
    return _table(
        ["Student", *[reason_label(r) for r in reasons], "Total"], rows, set(range(1, len(reasons) + 2))
    )


def _alert_list(report: SessionReport) -> str:
    if not report.alerts:
        return ""
    rows = [
        [
            hhmm(a.ts),
            a.name,
            reason_label(a.reason),
            a.detail,
            hhmm(a.cleared_at) if a.cleared_at else "(still on)",
        ]
        for a in report.alerts
    ]
    return _table(["Time", "Student", "Reason", "Detail", "Cleared"], rows, set())


def _segments(segments: Sequence[SegmentReport], words: Words) -> str:
    rows = [
        [
            g.index,
            g.label,
            hhmm(g.start),
            hhmm(g.end),
            minutes(g.minutes),
            g.students,
            percent(g.confused_share),
            percent(g.not_attending_share),
            score(g.mean_attention),
            score(g.mean_confusion),
            g.class_alerts,
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
        _title(words.state("confused")),
        "Not attending",
        "Mean attention",
        f"Mean {words.score}",
        "Class alerts",
    ]
    return _table(header, rows, {0, 4, 5, 6, 7, 8, 9, 10})


def _class_alerts(report: SessionReport, words: Words) -> str:
    if not report.class_alerts:
        return (
            f'<p class="note">No class alert: the share of the class that {words.confused} never stayed'
            " high long enough.</p>"
        )
    rows = [
        [
            hhmm(a.start),
            a.segment,
            f"{a.confused} of {a.present}",
            a.peak,
            hhmm(a.end),
            ", ".join(a.names),
        ]
        for a in report.class_alerts
    ]
    header = ["Raised", "Segment", f"Students who {words.confused}", "Most at once", "Until", "Who"]
    return _table(header, rows, {1, 3})


def _hub_offline(report: SessionReport) -> str:
    if not report.hub_offline:
        return ""
    rows = [
        [hhmm(g.start), hhmm(g.end), seconds(g.seconds), ", ".join(g.names) or "-"]
        for g in report.hub_offline
    ]
    table = _table(["From", "To", "Down for", "Connected then"], rows, {2})
    return (
        '<section id="hub-offline"><h2>Hub offline</h2><p class="note">The hub stopped (a crash) and the'
        " session was resumed. Connections open when it stopped end at the last item it stored from that"
        f" student; the time it was down counts for nobody.</p>{table}</section>"
    )


def _seat_checks(report: SessionReport) -> str:
    students = report.seat_checked
    if not students:
        return ""
    rows = [
        [
            s.name,
            s.student_id,
            "yes" if s.seat.enrolled else "no",
            s.seat.checks,
            s.seat.matches,
            s.seat.mismatches,
            ", ".join(hhmm(t) for t in s.seat.mismatch_times) or "-",
        ]
        for s in students
        if s.seat is not None
    ]
    header = ["Student", "Id", "Enrolled", "Checks", "Passed", "Mismatches", "Mismatches at"]
    table = _table(header, rows, {3, 4, 5})
    return (
        f'<section id="seat-checks"><h2>Seat checks</h2><p class="note">{_e(SEAT_NOTE)}</p>{table}</section>'
    )


def render_html(report: SessionReport) -> str:
    """The report as one self-contained HTML page."""
    words = words_for(report.labels)
    c = report.counts
    ended = clock(report.ended_at) if report.ended_at is not None else f"{clock(report.end)} (last activity)"
    facts = [
        ("Duration", minutes(report.duration_minutes)),
        ("Present", str(c.get("students_present", 0))),
        ("Late", str(c.get("students_late", 0))),
        ("Absent", str(c.get("students_absent", 0))),
        ("Alerts", str(c.get("alerts", 0))),
        ("Class alerts", str(c.get("class_alerts", 0))),
    ]
    if report.hub_offline:
        facts.append(("Hub offline", seconds(report.hub_offline_seconds)))
    who = ""
    if report.absent:
        who += f"<p><b>Absent:</b> {_e(', '.join(s.name for s in report.absent))}</p>"
    if report.late:
        who += (
            "<p><b>Late:</b> "
            + _e(", ".join(f"{s.name} ({minutes(s.late_minutes)})" for s in report.late))
            + "</p>"
        )
    states_legend = _legend(
        [(_title(words.state(k)), v) for k, v in STATE_COLOURS.items()]
        + [("No data", "#f4f4f4")]
        + ([("Hub offline", OFFLINE_COLOUR)] if report.hub_offline else [])
    )
    chart_legend = _legend(
        [
            (f"Class attention index (smoothed, τ = {report.attention_smoothing:g} s)", ATTENTION_COLOUR),
            (f"Mean {words.score} (dashed)", CONFUSION_COLOUR),
            ("Segments (bands)", BAND_COLOURS[0]),
            ("Class alerts (marks at the top)", CONFUSION_COLOUR),
        ]
        + ([("Hub offline", OFFLINE_COLOUR)] if report.hub_offline else [])
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
<p>Each sample stands for {report.interval:g} s. Minutes in a state = samples in that state &times; that interval.
"Face on screen" counts samples with at least one face. "Connected" is the time the student's machine
was linked to the hub. "Present" counts everyone who joined, late or not; "Late" means first seen more than
{report.late_after_minutes:g} minutes after the session started. "Not attending" means attention below
{report.attention_low:.2f}. Attention and {_e(words.score)} run from 0 to 1. The class attention index is the
class's mean attention smoothed over time (an exponential moving average, time constant
{report.attention_smoothing:g} s), the number the class view's header shows. A class alert is raised when a
large share of the class {_e(words.confused)} at once. A flag or an alert is for a human to review, never a
conclusion.</p>
</section>
<section id="class-over-time">
<h2>The class over time</h2>
{chart_legend}
<figure>{class_chart(report)}</figure>
<p class="note">Per {report.bucket_seconds:g} s: the index at the end of each, the mean over the students with samples.</p>
</section>
<section id="timeline">
<h2>State timeline per student</h2>
{states_legend}
<figure>{timeline_chart(report)}</figure>
</section>
{_hub_offline(report)}
<section id="attendance">
<h2>Attendance</h2>
{_attendance(report.students)}
</section>
<section id="states">
<h2>Time in each state</h2>
{_states(report.students, words)}
</section>
<section id="segments">
<h2>Segments</h2>
{_segments(report.segments, words)}
</section>
<section id="class-alerts">
<h2>Class alerts</h2>
{_class_alerts(report, words)}
</section>
<section id="alerts">
<h2>Alerts by reason</h2>
{_alerts_by_reason(report)}
{_alert_list(report)}
</section>
{_seat_checks(report)}
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
