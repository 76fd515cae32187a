"""`smartsession bench hub --quick` runs end to end and reports a complete, lossless result.

Only the shape and the correctness are checked here, never the speed (the machines are shared).
"""

from __future__ import annotations

import json

from bench_cli import run_bench

KEYS = {
    "baseline_msgs_per_s",
    "hub_msgs_per_s",
    "ingest_ratio",
    "p50_ms",
    "p99_ms",
    "lost",
    "duplicated",
    "cpu_percent",
    "rss_mb",
    "agents",
    "rate",
    "duration",
    "connections",
    "batch_interval",
    "rounds",
    "steal_percent",
    "baseline_steal_percent",
}


def test_quick_bench_prints_every_key_and_loses_nothing() -> None:
    done = run_bench("hub", "--quick", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result.keys() >= KEYS, KEYS - result.keys()
    assert result["quick"] is True
    assert result["errors"] == []
    assert result["sent"] > 0
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["stored"] == result["sent"]
    assert result["baseline_msgs_per_s"] > 0
    assert result["hub_msgs_per_s"] > 0
    (only_round,) = result["rounds"]  # --quick: one saturation round per server
    assert only_round["ingest_ratio"] == result["ingest_ratio"]
    assert result["p50_ms"] is not None and result["p99_ms"] >= result["p50_ms"]
    assert result["rss_mb"] > 0
    assert 0.0 <= result["steal_percent"] <= 100.0


def test_bad_options_are_refused() -> None:
    done = run_bench("hub", "--agents", "0", timeout=60)
    assert done.returncode == 2
    assert "--agents" in done.stderr
