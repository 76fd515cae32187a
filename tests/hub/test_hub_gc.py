"""The garbage-collector policy of a hub process (process-wide, so checked in a fresh one)."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import gc
from smartsession.hub.service import GC_YOUNG_THRESHOLD, tune_gc_for_serving
before = gc.get_freeze_count()
tune_gc_for_serving()
print(before, gc.get_freeze_count(), gc.get_threshold()[0] == GC_YOUNG_THRESHOLD)
"""


def test_serving_freezes_what_start_up_made_and_collects_young_objects_less_often() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    before, after, threshold_set = done.stdout.split()
    assert int(before) == 0
    assert int(after) > 10_000  # modules, classes and functions of the hub
    assert threshold_set == "True"
