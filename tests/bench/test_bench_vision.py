"""`smartsession bench vision --quick`: one JSON document, every split, every promised number."""

from __future__ import annotations

import json

from bench_cli import run_bench

SPLIT_KEYS = {
    "frames",
    "face_free_frames",
    "false_faces",
    "false_faces_per_1000",
    "counter_alone_false_faces_per_1000",
    "recall_by_size",
    "recall_60px_up",
    "multi_face_clips",
    "count_exact_share",
    "cpu_ms_per_frame",
    "confirmations_per_1000_frames",
}


def test_bench_vision_quick() -> None:
    result = run_bench("vision", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["benchmark"] == "vision" and data["quick"] is True
    assert set(data["splits"]) == {"tune", "heldout", "check"}
    for split in data["splits"].values():
        assert set(split) >= SPLIT_KEYS
        assert split["face_free_frames"] >= 80 and split["false_faces"] == 0
        assert set(split["recall_by_size"]) == {"under 40", "40-60", "60-100", "100-200", "200+"}
        assert split["cpu_ms_per_frame"]["faces"] > 0
    assert isinstance(data["targets_met"], bool)
