"""`smartsession bench agent --quick` runs end to end and prints the promised keys."""

from __future__ import annotations

import json
import subprocess
import sys

KEYS = {"bare_landmarker_cpu_ms", "pipeline_cpu_ms", "overhead_ratio", "cpu_percent", "rss_mb", "isolated"}


def test_bench_agent_quick_prints_json_with_the_keys() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartsession", "bench", "agent", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" not in result.stderr and "InitGoogle" not in result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= KEYS
    assert data["pipeline_cpu_ms"] > 0 and data["bare_landmarker_cpu_ms"] > 0
    ratio = data["pipeline_cpu_ms"] / data["bare_landmarker_cpu_ms"]
    assert abs(data["overhead_ratio"] - ratio) < 0.01
    assert 0 < data["rss_mb"] < 2000
    assert data["analysed_fps"] > 0
