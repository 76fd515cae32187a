"""Reports from the school server: the same model as from a hub's file, and the course view."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from smartsession.core.states import State
from smartsession.report.commands import report_main, sessions_main
from smartsession.report.export import load_report
from smartsession.school.commands import course_report, school_report
from smartsession.school.course import build_course_report

from .conftest import School
from .hubs import hub_config, teach

F, C = State.FOCUSED, State.CONFUSED


def states(confused: int, total: int) -> list[State]:
    return [C] * confused + [F] * (total - confused)


def reader(school: School, folder: Path) -> tuple[str, Path]:
    url, password = school.add_officer("head")
    path = folder / "head.pass"
    path.write_text(password + "\n")
    os.chmod(path, 0o600)
    return url, path


async def test_course_view_across_two_sections(
    school: School, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two sections by class id prefix, a third by its [class] course key, one other course.
    rooms = {
        "room-a": (
            "cs101-10a",
            "",
            {
                "Intro": {"ann": states(1, 10), "ben": states(0, 10)},
                "Recursion": {"ann": states(3, 9), "ben": states(1, 9)},
            },
        ),
        "room-b": (
            "cs101-10b",
            "",
            {
                "intro": {"cy": states(2, 10), "dee": states(2, 10)},
                "recursion ": {"cy": states(5, 11), "dee": states(4, 11)},
            },
        ),
        "room-c": ("evening", "cs101", {"Recursion": {"eve": states(1, 4)}}),
        "room-d": ("math-9", "", {"Recursion": {"fay": states(4, 4)}}),
    }
    configs = {}
    for hub_id, (class_id, course, lesson) in rooms.items():
        configs[hub_id] = hub_config(school, tmp_path / hub_id, hub_id, class_id, course=course)
        await teach(configs[hub_id], lesson)
    url, password_file = reader(school, tmp_path)

    report = course_report(url, "cs101", password_file=password_file)
    assert report.sections == ("cs101-10a", "cs101-10b", "evening")
    assert [s.class_id for s in report.sessions] == ["cs101-10a", "cs101-10b", "evening"]
    (intro, recursion) = report.labels
    assert intro.label == "Intro" and recursion.label == "Recursion"
    shares = {k: round(c.confused_share or 0, 3) for k, c in recursion.cells.items()}
    assert shares == {"cs101-10a": round(4 / 18, 3), "cs101-10b": round(9 / 22, 3), "evening": 0.25}
    assert intro.cells["cs101-10b"].samples == 20 and "evening" not in intro.cells

    # The same view built from each hub's own file: the school server changed nothing.
    local = [load_report(configs[h].database_path) for h in ("room-a", "room-b", "room-c")]
    assert build_course_report("cs101", local) == report

    out = tmp_path / "course.json"
    args = [
        "--school",
        url,
        "--password-file",
        str(password_file),
        "--course",
        "cs101",
        "-f",
        "json",
        "-o",
        str(out),
    ]
    assert report_main(args) == 0
    text = capsys.readouterr().out
    line = next(row for row in text.splitlines() if row.startswith("Recursion"))
    assert "22% confused" in line and "41% confused" in line and "25% confused" in line
    assert f"wrote json course report of cs101 (3 sessions) to {out}" in text
    assert json.loads(out.read_text())["labels"][1]["cells"]["cs101-10b"]["samples"] == 22
    html = tmp_path / "course.html"
    assert report_main([*args[:-4], "-o", str(html)]) == 0
    assert "<h1>Course cs101</h1>" in html.read_text() and "41% confused" in html.read_text()


async def test_sessions_and_report_from_the_school_server_match_the_hubs(
    school: School, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = hub_config(school, tmp_path / "room", "room-s", "10S")
    # Ids that sort differently by code point (SQLite) and in en-US (the server's collation).
    ids = ("ann", "Ben", "a-b", "Zed", "z.x")
    lesson = {"intro": {sid: states(i, 8) for i, sid in enumerate(ids)}, "end": {"ann": states(1, 3)}}
    session_id = await teach(config, lesson)
    url, password_file = reader(school, tmp_path)

    assert school_report(url, session_id, password_file=password_file) == load_report(config.database_path)

    assert sessions_main(["--school", url, "--password-file", str(password_file), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert sessions_main(["--db", str(config.database_path), "--json"]) == 0
    assert [listed] == json.loads(capsys.readouterr().out)
    assert sessions_main(["--school", url, "--password-file", str(password_file)]) == 0
    assert f"room-s/{session_id}" in capsys.readouterr().out

    from_school, from_hub = tmp_path / "school.json", tmp_path / "hub.json"
    assert (
        report_main(
            [
                "--school",
                url,
                "--password-file",
                str(password_file),
                "latest",
                "-f",
                "json",
                "-o",
                str(from_school),
            ]
        )
        == 0
    )
    assert (
        report_main(["--db", str(config.database_path), session_id[:12], "-f", "json", "-o", str(from_hub)])
        == 0
    )
    assert from_school.read_text() == from_hub.read_text()
    assert f"of session room-s/{session_id}" in capsys.readouterr().out
