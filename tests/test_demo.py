"""`smartsession demo --headless --json`, as the README tells a user to run it."""

from __future__ import annotations

import json
import subprocess
import sys


def test_headless_demo_prints_a_complete_json_summary() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartsession", "demo", "--headless", "--duration", "15", "--json", "-n", "8"],
        capture_output=True,
        text=True,
        timeout=120,
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
