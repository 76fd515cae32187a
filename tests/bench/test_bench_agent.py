"""`smartsession bench agent --quick` runs end to end and prints the promised keys."""

from __future__ import annotations

import json

import pytest
from bench_cli import run_bench

KEYS = {
    "bare_landmarker_cpu_ms",
    "bare_landmarker_video_cpu_ms",
    "bare_landmarker_video_one_face_cpu_ms",
    "pipeline_cpu_ms",
    "overhead_ratio",
    "overhead_ratio_one_face",
    "cpu_percent",
    "speed_factor",
    "cpu_percent_at_reference_speed",
    "fixed_cpu_percent",
    "rss_mb",
    "alert_delay_s",
    "busy_alert_delay_s",
    "clear_delay_s",
    "busy_clear_delay_s",
    "busy_cpu_percent",
    "calm",
    "busy",
    "unit",
    "targets",
    "targets_met",
}
RUN_KEYS = {"cpu_percent", "busiest_second_cpu_percent", "analysed_fps", "steady_fps", "burst_fps", "alerts"}


def test_bench_agent_quick_prints_json_with_the_keys() -> None:
    result = run_bench("agent", "--quick", timeout=400)
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" not in result.stderr and "InitGoogle" not in result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= KEYS
    assert isinstance(data["targets_met"], bool)
    # The targets, no more and no fewer; the quota the one the agent's unit carries.
    assert set(data["targets"]) == {
        "cpu_percent_at_reference_speed", "alert_delay_s", "overhead_ratio", "busy_alert_delay_s",
        "busy_cpu_percent",
    }  # fmt: skip
    assert data["targets"]["cpu_percent_at_reference_speed"] == 5.0
    assert data["targets"]["alert_delay_s"] == 0.5
    # The CPU at the machine speed the target was set at: this run's landmarker against 13.5 ms.
    assert data["speed_factor"] == pytest.approx(data["bare_landmarker_cpu_ms"] / 13.5, abs=0.002)
    at_reference = data["cpu_percent"] / data["speed_factor"]
    assert data["cpu_percent_at_reference_speed"] == pytest.approx(at_reference, abs=0.02)
    assert data["targets"]["busy_alert_delay_s"] == 1.0
    assert data["unit"]["CPUQuota"] == f"{data['targets']['busy_cpu_percent']:g}%"
    assert data["targets_met"] == all(
        data[key] is not None and data[key] <= limit for key, limit in data["targets"].items()
    )
    assert data["pipeline_cpu_ms"] > 0 and data["bare_landmarker_video_cpu_ms"] > 0
    ratio = data["pipeline_cpu_ms"] / data["bare_landmarker_video_cpu_ms"]
    assert abs(data["overhead_ratio"] - ratio) < 0.01
    one_face = data["pipeline_cpu_ms"] / data["bare_landmarker_video_one_face_cpu_ms"]
    assert abs(data["overhead_ratio_one_face"] - one_face) < 0.01
    runs = {"fixed": data["calm"]["fixed"], "paced": data["calm"]["paced"], "busy": data["busy"]}
    for name, run in runs.items():
        assert set(run) >= RUN_KEYS, name
        assert run["isolated"] and 0 < run["rss_mb"] < 2000
        # Both alerts of the quick clip (no face, then a second person) fire and clear.
        assert [a["reason"] for a in run["alerts"]] == ["no_face", "multiple_faces"], name
        for alert in run["alerts"]:
            assert alert["hold"] - 0.05 <= alert["latency_s"] <= alert["hold"] + 1.5, (name, alert)
            assert alert["cleared_after_s"] is not None, (name, alert)
    # Analysing every frame at 5 fps; paced, fewer frames while the student sits still.
    assert 4.5 <= runs["fixed"]["analysed_fps"] <= 5.5
    assert runs["paced"]["steady_fps"] < runs["paced"]["burst_fps"]
    assert runs["paced"]["analysed_fps"] < 0.8 * runs["fixed"]["analysed_fps"]
    for name in ("paced", "busy"):
        for alert in runs[name]["alerts"]:
            assert {"latency_vs_fixed_s", "cleared_after_vs_fixed_s"} <= set(alert), (name, alert)
