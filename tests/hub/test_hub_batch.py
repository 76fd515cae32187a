"""How a batch of queued writes becomes SQL (the rules per row are tested through the store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartsession.hub.batch import touch_students
from smartsession.hub.schema import connect

NOW = 1_700_000_000.0


@pytest.mark.parametrize("update_from", [True, False])
def test_touching_students_only_moves_last_seen_forward(tmp_path: Path, update_from: bool) -> None:
    """One ``UPDATE ... FROM (VALUES ...)`` per chunk on SQLite >= 3.33, row by row before that."""
    conn = connect(tmp_path / "hub.db")
    for student in ("a", "b", "c"):
        conn.execute(
            "INSERT INTO students VALUES ('s', ?, ?, 'pc', ?, ?)", (student, student.upper(), NOW, NOW + 10)
        )
    rows = [("s", "a", NOW + 20), ("s", "b", NOW + 5), ("other", "c", NOW + 99), ("s", "nobody", NOW + 99)]
    touch_students(conn, rows, update_from)
    seen = dict(conn.execute("SELECT student_id, last_seen FROM students ORDER BY student_id").fetchall())
    conn.close()
    assert seen == {"a": NOW + 20, "b": NOW + 10, "c": NOW + 10}
