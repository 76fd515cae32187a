"""`smartsession bench tui --quick` runs the real app headless and prints the promised JSON."""

from __future__ import annotations

import json

import pytest

from smartsession.bench.tui import main


def test_bench_tui_quick_prints_the_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--students", "20", "--width", "120", "--height", "40"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("students", "updates_per_s", "cpu_percent", "p95_frame_ms", "key_to_screen_p95_ms"):
        assert key in result, key
    assert result["students"] == 20
    assert result["updates_per_s"] > 20
    assert result["key_presses"] == 4
    assert 0 < result["key_to_screen_p95_ms"] < 5000
    assert result["frames"] > 0
