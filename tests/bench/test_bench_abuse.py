"""`smartsession bench abuse --quick` runs every flood end to end and loses nothing.

Only the shape and the correctness are checked here, never the speed (the machines are shared).
"""

from __future__ import annotations

import json

import pytest
from bench_cli import run_bench

FLOOD_KEYS = {
    "flood",
    "connections",
    "honest_joins",
    "join_failures",
    "join_p99_ms",
    "rss_before_mb",
    "rss_peak_mb",
    "rss_after_mb",
    "produced",
    "stored",
    "lost",
}


def test_quick_abuse_bench_runs_every_flood_and_loses_nothing() -> None:
    done = run_bench("abuse", "--quick", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["quick"] is True
    assert isinstance(result["targets_met"], bool)
    assert [f["flood"] for f in result["floods"]] == ["tcp", "tls", "ws", "adverts"]
    for flood in result["floods"]:
        assert flood.keys() >= FLOOD_KEYS, FLOOD_KEYS - flood.keys()
        assert flood["honest_joins"] >= 1 and flood["join_failures"] == 0, flood
        assert flood["produced"] > 0 and flood["lost"] == 0, flood
        assert flood["stored"] + flood["queued"] == flood["produced"], flood
        assert flood["errors"] == []
        assert 0 < flood["rss_before_mb"] <= flood["rss_peak_mb"]
        if flood["flood"] != "adverts":
            assert flood["connections"] > 0
    assert result["lost"] == 0


@pytest.mark.parametrize("option", [["--seconds", "0"], ["--floods", "tcp,smurf"]])
def test_bad_options_are_refused(option: list[str]) -> None:
    done = run_bench("abuse", *option, timeout=60)
    assert done.returncode == 2
    assert option[0] in done.stderr
