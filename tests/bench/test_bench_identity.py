"""`smartsession bench identity --quick`: one JSON document with the cost and the distances."""

from __future__ import annotations

import json

from bench_cli import run_bench


def test_bench_identity_quick() -> None:
    result = run_bench("identity", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["benchmark"] == "identity" and data["quick"] is True
    assert 0 < data["cpu_ms_per_check"] < 100
    assert data["core_percent_at_interval"] < 0.5
    same, different = data["same_person"], data["different_people"]
    assert set(same["by_person"]) == {"grace_hopper", "astronaut"}
    assert same["count"] == 8 and different["count"] == 25
    assert same["max"] < data["threshold"] < different["min"]
    assert data["targets_met"] is True
