"""``smartsession bench agent [--quick]``: the agent's vision cost, as JSON.

Per frame (this process, interleaved blocks, medians: the machine is shared and noisy), on
the benchmark frames (real photos, one and two faces, 640x480), each held for a second of
5 fps as a camera would show it:

* ``bare_landmarker_cpu_ms``: a bare MediaPipe FaceLandmarker in IMAGE mode (its public
  ``detect``, with the BGR to RGB conversion any OpenCV caller needs), every frame searched
  afresh; ``bare_landmarker_video_cpu_ms``: the same in VIDEO mode (``detect_for_video``: the
  face region follows the previous frame's landmarks); both with two faces allowed, what a
  bare landmarker needs to see a second person; ``bare_landmarker_video_one_face_cpu_ms``:
  VIDEO mode following one face (its detector rests while it follows one), as the pipeline
  runs it;
* ``pipeline_cpu_ms``: everything the agent runs per frame (the landmarker in VIDEO mode,
  people counter, FER, cue maths, engagement engine) at 5 fps frame times;
  ``overhead_ratio`` is its ratio to the bare VIDEO-mode landmarker with two faces
  (``overhead_ratio_one_face``: to the one following one face).

On the scripted clip (`smartsession.vision.clip`: sitting, a glance away, leaving, coming
back, a second person; about a minute), real ``smartsession agent`` processes, each with
its isolated vision process reading the clip in real time through the camera's capture
code, and a real hub in another process (`agent_clip.run_clip`):

* ``calm``: the agent with its default rates (``paced``) beside one analysing every frame
  at 5 fps (``fixed``, ``steady_rate = 5``): CPU over the clip in percent of one core (agent
  plus vision process), analysed frames per second at the steady rate and in bursts, memory,
  and each alert's latency from the moment the clip showed its cause, against ``fixed``'s;
* ``busy``: the paced agent alone beside a busy loop on every core (a student compiling):
  its alert latencies against the calm ``fixed`` run's, and its busiest second of CPU
  against `QUOTA_PERCENT`, the ``CPUQuota=`` its systemd unit carries.

The CPU target is checked at the machine speed it was set at: ``cpu_percent`` divided by
``speed_factor``, this run's bare landmarker against `REFERENCE_LANDMARKER_MS` (both are
printed). ``targets_met`` is true when every one of `TARGETS` holds. ``--quick`` runs a 16 s clip
with fewer per-frame rounds (for the test suite; rough numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from smartsession.bench.agent_clip import AgentRun, run_clip
from smartsession.core.engagement import EngagementEngine
from smartsession.core.settings import EngagementSettings
from smartsession.install_service import AGENT_CPU_QUOTA_PERCENT, AGENT_CPU_WEIGHT

#: The agent unit's ``CPUQuota=`` (percent of one core) and ``CPUWeight=``: the values
#: ``install-service agent`` writes into both agent units.
QUOTA_PERCENT = float(AGENT_CPU_QUOTA_PERCENT)
CPU_WEIGHT = AGENT_CPU_WEIGHT
#: The bare IMAGE-mode landmarker's CPU ms per frame (``bare_landmarker_cpu_ms``) on this
#: machine when the issue set its 5% target ("landmarker alone 13.5 ms per frame"). This
#: virtual machine's speed moves with its neighbours' load: the same landmarker measured
#: 12.7-23.4 ms in one afternoon, and the agent's CPU moves with it. ``speed_factor`` is
#: this run's landmarker against it, and ``cpu_percent_at_reference_speed`` the paced
#: agent's ``cpu_percent`` divided by it: the CPU target at the machine speed it was set at.
REFERENCE_LANDMARKER_MS = 13.5
#: The issue's targets. ``cpu_percent_at_reference_speed``: the paced agent over the calm
#: clip, at `REFERENCE_LANDMARKER_MS`;
#: ``alert_delay_s``: each alert fires later than in the fixed 5 fps run at most by this (the
#: clearings, ``clear_delay_s``, are reported but not a target); ``busy_alert_delay_s``: the
#: same beside the CPU hog; ``busy_cpu_percent``: its busiest second at most the quota;
#: ``overhead_ratio``: as before the paced agent.
TARGETS = {
    "overhead_ratio": 1.25,
    "cpu_percent_at_reference_speed": 5.0,
    "alert_delay_s": 0.5,
    "busy_alert_delay_s": 1.0,
    "busy_cpu_percent": QUOTA_PERCENT,
}
FIXED, PACED = AgentRun("fixed", steady_rate=5.0), AgentRun("paced", steady_rate=2.0)


def measure_per_frame(frames: list[Any], blocks: int, rounds: int, hold: int = 5) -> dict[str, Any]:
    """Interleaved blocks of the bare landmarker (IMAGE and VIDEO mode) and the whole
    pipeline, each frame shown ``hold`` times in a row; CPU ms per frame (medians)."""
    from smartsession.vision.landmarks import create_mediapipe_landmarker, detect_public, detect_public_video
    from smartsession.vision.pipeline import FrameAnalyzer

    stream = [frame for frame in frames for _ in range(hold)]
    clock = {"t": 0.0}

    def tick() -> float:
        clock["t"] += 0.2
        return clock["t"]

    def block(step: Callable[[Any], object]) -> float:
        start = time.process_time()
        for _ in range(rounds):
            for frame in stream:
                step(frame)
        return (time.process_time() - start) * 1000 / (rounds * len(stream))

    image = create_mediapipe_landmarker(max_faces=2)
    video = create_mediapipe_landmarker(max_faces=2, tracking=True)
    one = create_mediapipe_landmarker(max_faces=1, tracking=True)
    times: dict[str, list[float]] = {"image": [], "video": [], "one": [], "pipeline": []}
    with image, video, one, FrameAnalyzer(tracking=True) as analyzer:
        engine = EngagementEngine(EngagementSettings())
        steps: dict[str, Callable[[Any], object]] = {
            "image": lambda frame: detect_public(image, frame),
            "video": lambda frame: detect_public_video(video, frame, tick()),
            "one": lambda frame: detect_public_video(one, frame, tick()),
            "pipeline": lambda frame: engine.update(analyzer.analyze(frame, tick())),
        }
        for frame in frames:  # warm up every one
            for step in steps.values():
                step(frame)
        runs_before = analyzer.people_runs
        for _ in range(blocks):
            for name, step in steps.items():
                times[name].append(block(step))
        people_runs = analyzer.people_runs - runs_before
    bare, bare_video, bare_one, pipeline = (
        statistics.median(times[name]) for name in ("image", "video", "one", "pipeline")
    )
    return {
        "frames": len(frames),
        "bare_landmarker_cpu_ms": round(bare, 2),
        "bare_landmarker_video_cpu_ms": round(bare_video, 2),
        "bare_landmarker_video_one_face_cpu_ms": round(bare_one, 2),
        "pipeline_cpu_ms": round(pipeline, 2),
        "overhead_ratio": round(pipeline / bare_video, 3),
        "overhead_ratio_one_face": round(pipeline / bare_one, 3),
        "people_counter_share": round(people_runs / (blocks * rounds * len(stream)), 3),
    }


def _delays(run: dict[str, Any], baseline: dict[str, Any], key: str = "latency_s") -> float | None:
    """The largest delay of ``run``'s alerts (``key`` "latency_s": firing; "cleared_after_s":
    clearing) against ``baseline``'s, each also written into the alert as ``*_vs_fixed_s``;
    None when one is missing."""
    worst = 0.0
    for mine, theirs in zip(run["alerts"], baseline["alerts"], strict=True):
        if mine[key] is None or theirs[key] is None:
            return None
        mine[f"{key[:-2]}_vs_fixed_s"] = round(mine[key] - theirs[key], 3)
        worst = max(worst, mine[key] - theirs[key])
    return round(worst, 3)


def main(argv: list[str]) -> int:
    """Run the benchmark and print one JSON object; exit 0."""
    parser = argparse.ArgumentParser(prog="smartsession bench agent", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (for tests), numbers are rough")
    args = parser.parse_args(argv)
    from smartsession.vision.benchdata import benchmark_frames
    from smartsession.vision.clip import CLIP, QUICK_CLIP
    from smartsession.vision.native_log import native_stderr_to_log

    scenes = QUICK_CLIP if args.quick else CLIP
    blocks, rounds = (2, 1) if args.quick else (7, 3)
    # First, before this process loads any model itself.
    calm = run_clip(scenes, [FIXED, PACED])
    busy = run_clip(scenes, [PACED], hog=True)["paced"]
    result: dict[str, Any] = {"benchmark": "agent", "quick": args.quick}
    with native_stderr_to_log():  # the models' own chatter goes to the debug log
        result.update(measure_per_frame(benchmark_frames(), blocks, rounds))
    paced, fixed = calm["paced"], calm["fixed"]
    speed_factor = result["bare_landmarker_cpu_ms"] / REFERENCE_LANDMARKER_MS
    result.update(
        {
            "cpu_percent": paced["cpu_percent"],
            "speed_factor": round(speed_factor, 3),
            "cpu_percent_at_reference_speed": round(paced["cpu_percent"] / speed_factor, 2),
            "fixed_cpu_percent": fixed["cpu_percent"],
            "rss_mb": paced["rss_mb"],
            "alert_delay_s": _delays(paced, fixed),
            "busy_alert_delay_s": _delays(busy, fixed),
            "clear_delay_s": _delays(paced, fixed, "cleared_after_s"),
            "busy_clear_delay_s": _delays(busy, fixed, "cleared_after_s"),
            "busy_cpu_percent": busy["busiest_second_cpu_percent"],
            "calm": calm,
            "busy": busy,
            "unit": {"CPUQuota": f"{QUOTA_PERCENT:g}%", "CPUWeight": CPU_WEIGHT},
            "targets": TARGETS,
        }
    )
    result["targets_met"] = all(
        result[key] is not None and result[key] <= limit for key, limit in TARGETS.items()
    )
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
