"""`smartsession demo --headless --json`, as the README tells a user to run it; the class it keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_headless_demo_prints_a_complete_json_summary_and_keeps_its_class(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}  # the user's data folder
    kept = tmp_path / "data" / "smartsession" / "demo"
    kept.mkdir(parents=True)
    (kept / "last-demo.db").write_text("the previous demo's class")
    result = subprocess.run(
        [sys.executable, "-m", "smartsession", "demo", "--headless", "--duration", "15", "--json", "-n", "8"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["complete"] is True
    students = summary["students"]
    assert len(students) == 8
    assert len({s["profile"] for s in students}) == 8
    for student in students:
        assert student["samples"] >= 8, student
        assert student["seq_min"] == 1
        assert student["seq_max"] == student["produced"] == student["stored"]
        assert "focused" in student["states_seen"] or "calibrating" in student["states_seen"]
    by_profile = {s["profile"]: s for s in students}
    assert "camera_unavailable" in by_profile["flaky_camera"]["alerts_seen"]
    assert not by_profile["attentive"]["alerts_seen"]

    # The class outlasts the demo, in the user's data folder, replacing the previous demo's.
    database, report = Path(summary["database"]), Path(summary["report"])
    assert database.parent == kept and database.is_file() and not (kept / "last-demo.db").exists()
    assert report.parent == kept / "reports" and "Class report: demo-class" in report.read_text()
    out = tmp_path / "after.json"
    command = ["report", "--db", str(database), "latest", "--format", "json", "-o", str(out)]
    again = subprocess.run(
        [sys.executable, "-m", "smartsession", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["session_id"] == summary["session_id"]
    assert {s["student_id"]: s["samples"] for s in doc["students"]} == {
        s["student_id"]: s["samples"] for s in students
    }
