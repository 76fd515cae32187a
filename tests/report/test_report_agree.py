"""One truth across formats: HTML, CSV, JSON, xlsx and the e-mail of one session, read back,
give the same present / late / absent, the same minutes and durations, with the same rounding,
field by field (and the cues mode's report the same numbers as the states mode's).

Each format is parsed into the same plain values (numbers as numbers, times as local
``HH:MM:SS``), then compared: a writer that printed a value it rounded itself (0.53 minutes
as "1 min") or counted on its own ("Present 6" beside ``students_present,5``) fails here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from smartsession.core.wording import words_for
from smartsession.report.items import STATES

from .conftest import Eventful
from .outputs import Outputs, render_all

Fields = dict[str, Any]


def hms(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def number(text: Any) -> float | None:
    """A number as a format printed it: ``0.1``, ``"0.1 min"``, ``"42%"`` (as 0.42), ``"11 s"``; None for blanks."""
    if text is None or text in ("", "-"):
        return None
    if isinstance(text, int | float):
        return float(text)
    value = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(min|s|%)?", str(text).strip())
    assert value is not None, f"not a number: {text!r}"
    return float(value[1]) / 100.0 if value[2] == "%" else float(value[1])


def clock_part(text: Any) -> str | None:
    """``HH:MM:SS`` of a table's ``YYYY-MM-DD HH:MM:SS`` (or of ``HH:MM:SS``)."""
    return None if text in (None, "", "-") else str(text)[-8:]


STATE_FIELDS = tuple(f"minutes_{state}" for state in STATES)


def from_json(doc: dict[str, Any], key: Callable[[str], str] = str) -> dict[str, Fields]:
    """The students of the JSON document; ``key`` names its keys (`Words.key` in cues mode)."""
    return {
        s["student_id"]: {
            "name": s["name"],
            "status": s["status"],
            "joined": hms(s["joined"]),
            "left": hms(s["left"]),
            "late_minutes": s["late_minutes"] if s["status"] == "late" else None,
            "minutes_connected": s["minutes_connected"],
            "minutes_face": s["minutes_face"],
            **{f"minutes_{st}": s["minutes_by_state"][key(st)] for st in STATES},
            "mean_attention": s["mean_attention"],
            "mean_confusion": s[key("mean_confusion")],
            "peak_confusion": s[key("peak_confusion")],
            "alerts": sum(s["alerts_by_reason"].values()),
        }
        for s in doc["students"]
    }


def from_table(rows: list[dict[str, Any]], key: Callable[[str], str] = str) -> dict[str, Fields]:
    """The students table of the CSV zip or of the xlsx workbook (the same columns; ``key``
    names them, `Words.key` in cues mode)."""
    return {
        str(r["student_id"]): {
            "name": r["name"],
            "status": r["status"],
            "joined": clock_part(r["joined"]),
            "left": clock_part(r["left"]),
            "late_minutes": number(r["late_by_minutes"]),
            "minutes_connected": number(r["minutes_connected"]),
            "minutes_face": number(r["minutes_face_on_screen"]),
            **{f: number(r[key(f)]) for f in STATE_FIELDS},
            "mean_attention": number(r["mean_attention"]),
            "mean_confusion": number(r[key("mean_confusion")]),
            "peak_confusion": number(r[key("peak_confusion")]),
            "alerts": number(r["alerts"]),
        }
        for r in rows
    }


def from_html(out: Outputs) -> dict[str, Fields]:
    page = out.html
    students: dict[str, Fields] = {}
    for r in page.table("attendance"):
        status = re.fullmatch(r"(present|late|absent)(?: \((.+) late\))?", r["Status"])
        assert status is not None, r["Status"]
        students[r["Id"]] = {
            "name": r["Student"],
            "status": status[1],
            "joined": clock_part(r["Joined"]),
            "left": clock_part(r["Left"]),
            "late_minutes": number(status[2]),
            "minutes_connected": number(r["Connected"]),
            "minutes_face": number(r["Face on screen"]),
        }
    by_name = {fields["name"]: sid for sid, fields in students.items()}
    alerts = (
        {r["Student"]: number(r["Total"]) for r in page.table("alerts")} if page.tables.get("alerts") else {}
    )
    for r in page.table("states"):
        cells = list(r.values())
        sid = by_name[cells[0]]
        students[sid] |= {f: number(v) for f, v in zip(STATE_FIELDS, cells[1:], strict=False)}
        students[sid] |= dict(
            zip(("mean_attention", "mean_confusion", "peak_confusion"), map(number, cells[-3:]), strict=True)
        )
        students[sid]["alerts"] = alerts.get(cells[0], 0.0)
    return students


def from_mail(body: str) -> dict[str, Any]:
    """What the mail's summary says: counts, who was late by how much, who was absent, the gaps."""
    lines = body.splitlines()
    counts = re.search(r"^Present: (\d+) \(late (\d+)\), absent: (\d+)$", body, re.M)
    assert counts is not None, body
    late = next((line.removeprefix("Late: ") for line in lines if line.startswith("Late: ")), "")
    absent = next((line.removeprefix("Absent: ") for line in lines if line.startswith("Absent: ")), "")
    return {
        "duration": number(lines[1].rsplit(", ", 1)[1]),
        "present": int(counts[1]),
        "late": int(counts[2]),
        "absent": int(counts[3]),
        "late_minutes": {name: number(m) for name, m in re.findall(r"(.+?) \(([\d.]+ min)\)(?:, |$)", late)},
        "absent_names": absent.split(", ") if absent else [],
        "class_alerts": [
            (at, int(c), int(p), int(seg))
            for at, c, p, seg in re.findall(
                r"^Class alert (\S+): (\d+) of (\d+) .* \(segment (\d+)\)$", body, re.M
            )
        ],
        "hub_offline": [
            (a, b, number(s)) for a, b, s in re.findall(r"^Hub offline (\S+)-(\S+) \((\d+ s)\)$", body, re.M)
        ],
        "segments": [
            (int(i), number(c), number(n))
            for i, c, n in re.findall(
                r"^Segment (\d+) '.*': (\d+%) of the class .*, (\d+%) not attending$", body, re.M
            )
        ],
    }


@pytest.fixture(scope="module")
def states(eventful: Eventful, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return render_all(eventful.db, eventful.teacher_toml("states"), tmp_path_factory.mktemp("agree-states"))


@pytest.fixture(scope="module")
def cues(eventful: Eventful, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    return render_all(eventful.db, eventful.teacher_toml("cues"), tmp_path_factory.mktemp("agree-cues"))


def test_every_student_field_is_the_same_in_every_format(states: Outputs) -> None:
    truth = from_json(states.json)
    assert {f["status"] for f in truth.values()} == {"present", "late", "absent"}  # all three are compared
    assert any(f["late_minutes"] for f in truth.values())
    formats = {
        "csv": from_table(states.csv["students"]),
        "xlsx": from_table(states.xlsx["students"]),
        "html": from_html(states),
    }
    for fmt, students in formats.items():
        assert set(students) == set(truth), fmt
        for sid, fields in truth.items():
            shown = students[sid]
            if fmt == "html" and fields["status"] == "absent":
                fields = {k: v for k, v in fields.items() if k in shown}  # no state table row
            assert shown == fields, f"{fmt}, {sid}"
    mail = from_mail(states.body)
    assert mail["late_minutes"] == {
        f["name"]: f["late_minutes"] for f in truth.values() if f["status"] == "late"
    }
    assert mail["absent_names"] == [f["name"] for f in truth.values() if f["status"] == "absent"]


def test_counts_and_durations_agree(states: Outputs) -> None:
    doc, page, mail = states.json, states.html, from_mail(states.body)
    counts = doc["counts"]
    statuses = [s["status"] for s in doc["students"]]
    assert counts["students_present"] == statuses.count("present") + statuses.count(
        "late"
    )  # late ones are present
    assert counts["students_late"] == statuses.count("late") and counts["students_absent"] == statuses.count(
        "absent"
    )
    csv_session = {r["key"]: r["value"] for r in states.csv["session"]}
    xlsx_session = {r["key"]: r["value"] for r in states.xlsx["session"]}
    for key, fact in (
        ("students_present", "Present"),
        ("students_late", "Late"),
        ("students_absent", "Absent"),
        ("alerts", "Alerts"),
        ("class_alerts", "Class alerts"),
    ):
        assert (
            number(csv_session[key]) == number(xlsx_session[key]) == number(page.facts[fact]) == counts[key]
        ), key
    assert (mail["present"], mail["late"], mail["absent"]) == (
        counts["students_present"],
        counts["students_late"],
        counts["students_absent"],
    )
    duration = doc["duration_minutes"]
    assert number(csv_session["duration_minutes"]) == number(xlsx_session["duration_minutes"]) == duration
    assert number(page.facts["Duration"]) == mail["duration"] == duration
    assert number(csv_session["sample_interval_seconds"]) == doc["interval"]
    assert f"Each sample stands for {doc['interval']:g} s." in page.text
    # the hub offline: the same seconds, rounded once
    (gap,) = doc["hub_offline"]
    assert gap["seconds"] == round(gap["seconds"])
    assert (
        number(page.facts["Hub offline"])
        == number(csv_session["hub_offline_seconds"])
        == doc["hub_offline_seconds"]
    )
    (row,) = page.table("hub-offline")
    (csv_gap,) = [r for r in states.csv["class_events"] if r["kind"] == "hub_offline"]
    assert number(row["Down for"]) == number(csv_gap["seconds"]) == gap["seconds"]
    assert mail["hub_offline"] == [(hms(gap["start"]), hms(gap["end"]), gap["seconds"])]
    assert (row["From"], row["To"]) == (hms(gap["start"]), hms(gap["end"]))
    assert (clock_part(csv_gap["start"]), clock_part(csv_gap["end"])) == (hms(gap["start"]), hms(gap["end"]))


def test_segments_and_class_alerts_agree(states: Outputs) -> None:
    doc, page, mail = states.json, states.html, from_mail(states.body)
    html_segments = page.table("segments")
    assert len(html_segments) == len(states.csv["segments"]) == len(doc["segments"]) >= 2
    for g, row, csv_row, xlsx_row in zip(
        doc["segments"], html_segments, states.csv["segments"], states.xlsx["segments"], strict=True
    ):
        assert (
            number(row["Length"]) == number(csv_row["minutes"]) == number(xlsx_row["minutes"]) == g["minutes"]
        )
        assert number(row["Confused"]) == number(csv_row["confused_share"]) == g["confused_share"]
        assert (
            number(row["Not attending"]) == number(csv_row["not_attending_share"]) == g["not_attending_share"]
        )
        assert number(row["Mean attention"]) == number(csv_row["mean_attention"]) == g["mean_attention"]
        assert number(row["Class alerts"]) == number(csv_row["class_alerts"]) == g["class_alerts"]
        assert (row["From"], row["To"]) == (hms(g["start"]), hms(g["end"]))
    assert mail["segments"] == [
        (g["index"], g["confused_share"], g["not_attending_share"])
        for g in doc["segments"]
        if g["confused_share"] is not None
    ]
    (spike,) = doc["class_alerts"]
    (row,) = page.table("class-alerts")
    (csv_spike,) = [r for r in states.csv["class_events"] if r["kind"] == "class_alert"]
    assert row["Students who confused"] == f"{spike['confused']} of {spike['present']}"
    assert (number(csv_spike["students"]), number(csv_spike["present"])) == (
        spike["confused"],
        spike["present"],
    )
    assert number(row["Segment"]) == number(csv_spike["segment"]) == spike["segment"]
    assert mail["class_alerts"] == [
        (hms(spike["start"]), spike["confused"], spike["present"], spike["segment"])
    ]


def test_cues_mode_prints_the_same_numbers(states: Outputs, cues: Outputs) -> None:
    key = words_for("cues").key
    truth = from_json(states.json)
    for fields in (
        from_json(cues.json, key),
        from_table(cues.csv["students"], key),
        from_table(cues.xlsx["students"], key),
    ):
        assert {sid: {k: v for k, v in f.items() if k != "status"} for sid, f in fields.items()} == {
            sid: {k: v for k, v in f.items() if k != "status"} for sid, f in truth.items()
        }
    assert from_mail(cues.body) == from_mail(states.body)
    assert cues.html.facts == states.html.facts
