"""``smartsession bench identity [--quick]``: what a seat check costs and how far faces are.

Runs the check's own path (FaceMesh landmarks, dlib's 5-point chip, the numpy port of dlib's
face network) on the seat-check set (`smartsession.vision.identity_set`: the two portraits
and altered copies of each) and prints one JSON document:

* ``load_seconds``: reading and checking the 22 MB model, once per vision process;
* ``cpu_ms_per_check``: process CPU of one check on a frame whose landmarks the pipeline
  already has (chip plus network; median of repeated runs), and ``core_percent_at_interval``:
  that cost spread over the default interval (``identity.interval``, 30 s);
* ``same_person``: per person, each altered copy's distance to her portrait (and min,
  median, max over all); ``different_people``: every picture of one against every picture of
  the other (count, min, median, max);
* ``threshold`` (`core.identity.DEFAULT_THRESHOLD`) and ``gap``: the smallest different-person
  distance minus the largest same-person one.

``targets_met``: a check under 100 ms of CPU, under 0.5% of a core at the default interval,
and every same-person distance below the threshold, every different-person one above it.
``--quick`` uses four alterations per portrait and fewer timing runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from smartsession.core.identity import DEFAULT_INTERVAL, DEFAULT_THRESHOLD

TARGETS = {"cpu_ms_per_check_below": 100.0, "core_percent_at_interval_below": 0.5}


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print one JSON document; exit 0."""
    parser = argparse.ArgumentParser(prog="smartsession bench identity", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four alterations per portrait (for tests)")
    args = parser.parse_args(argv)
    from smartsession.vision.face_chip import chip_from_landmarks
    from smartsession.vision.face_net import FaceNet
    from smartsession.vision.facephotos import portraits
    from smartsession.vision.identity_set import descriptors, different_distances, same_distances
    from smartsession.vision.landmarks import FaceLandmarker
    from smartsession.vision.native_log import native_stderr_to_log

    started = time.monotonic()
    load_start = time.perf_counter()
    net = FaceNet.load()
    load_seconds = time.perf_counter() - load_start
    with native_stderr_to_log():
        people = descriptors(net, quick=args.quick)
        photo = portraits()[0]
        with FaceLandmarker(max_faces=1, details=False) as landmarker:
            landmarks = landmarker.detect(photo.image)[0].landmarks
    runs = 5 if args.quick else 30
    times = []
    for _ in range(runs + 1):
        cpu = time.process_time()
        net.descriptor(chip_from_landmarks(photo.image, landmarks))
        times.append((time.process_time() - cpu) * 1000.0)
    cpu_ms = statistics.median(times[1:])  # the first run warms the caches
    core_percent = cpu_ms / (DEFAULT_INTERVAL * 1000.0) * 100.0
    same = same_distances(people)
    same_all = [d for by_copy in same.values() for d in by_copy.values()]
    different = different_distances(people)
    result: dict[str, Any] = {
        "benchmark": "identity",
        "quick": args.quick,
        "load_seconds": round(load_seconds, 3),
        "cpu_ms_per_check": round(cpu_ms, 1),
        "interval_seconds": DEFAULT_INTERVAL,
        "core_percent_at_interval": round(core_percent, 4),
        "same_person": {
            "by_person": {
                person: {k: round(v, 3) for k, v in by_copy.items()} for person, by_copy in same.items()
            },
            **_spread(same_all),
            "count": len(same_all),
        },
        "different_people": {"count": len(different), **_spread(different)},
        "threshold": DEFAULT_THRESHOLD,
        "gap": round(min(different) - max(same_all), 3),
        "targets": TARGETS,
        "targets_met": (
            cpu_ms < TARGETS["cpu_ms_per_check_below"]
            and core_percent < TARGETS["core_percent_at_interval_below"]
            and max(same_all) < DEFAULT_THRESHOLD < min(different)
        ),
        "seconds": round(time.monotonic() - started, 1),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
