"""`smartsession bench school --quick` runs end to end: hubs replicate through an outage of a real
PostgreSQL, and nothing is lost or duplicated. Only shape and correctness are checked, not speed."""

from __future__ import annotations

import json

from bench_cli import run_bench

KEYS = {
    "rooms",
    "rooms_run",
    "rooms_note",
    "students",
    "rate",
    "rows_per_s",
    "lag_p50_s",
    "lag_p99_s",
    "hub_cpu_percent_without",
    "hub_cpu_percent_with",
    "replication_cpu_overhead",
    "lost",
    "duplicated",
    "extra",
    "lost_at_hub",
    "acked_during_outage",
    "catch_up_seconds",
    "targets",
    "targets_met",
}


def test_quick_bench_school_survives_an_outage_and_loses_nothing() -> None:
    done = run_bench("school", "--quick", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result.keys() >= KEYS, KEYS - result.keys()
    assert result["quick"] is True and result["rooms_run"] == result["rooms"] == 2
    assert result["errors"] == []
    assert result["sent"] > 0 and result["unacked"] == 0
    assert (
        result["stored_on_server"] == result["stored_in_hubs"] == result["sent"]
    )  # agents send samples only
    assert (result["lost"], result["duplicated"], result["extra"], result["lost_at_hub"]) == (0, 0, 0, 0)
    assert result["rows_per_s"] > 0 and result["lag_samples"] > 0
    assert 0.0 <= result["lag_p50_s"] <= result["lag_p99_s"]
    # The hubs kept acking while the server was away, and caught up once it was back.
    assert result["acked_during_outage"] >= 0.8 * result["expected_acks_during_outage"] > 0
    assert result["catch_up_seconds"] is not None and result["catch_up_backlog_rows"] > 0
    assert isinstance(result["targets_met"], bool)


def test_bad_options_are_refused() -> None:
    done = run_bench("school", "--rooms", "0", timeout=60)
    assert done.returncode == 2
    assert "--rooms" in done.stderr
