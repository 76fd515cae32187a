"""``smartsession bench agent [--quick] [--seconds S]``: the agent's vision cost, as JSON.

* ``bare_landmarker_cpu_ms``: process CPU per frame of a bare FaceLandmarker on the
  benchmark frames (real photos, one and two faces, 640x480);
* ``pipeline_cpu_ms``: the same frames through everything the agent runs per frame
  (landmarker, people counter, FER, cue maths, engagement engine), frame times 0.2 s apart
  (5 fps) so the people counter runs on its normal schedule; ``overhead_ratio`` is their
  ratio (blocks of both are interleaved, medians taken: this machine is shared and noisy);
* ``cpu_percent``: CPU of the isolated vision process plus this (agent) process over
  ``--seconds`` at the default 5 analysed frames/s, in percent of one core;
* ``rss_mb``: resident memory of the vision process plus this process at that time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from smartsession.core.engagement import EngagementEngine
from smartsession.core.settings import EngagementSettings

TARGETS = {"overhead_ratio": 1.25, "cpu_percent": 12.0, "rss_mb": 350.0}


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_live(frames: list[Any], seconds: float, frame_rate: float = 5.0) -> dict[str, Any]:
    """CPU and memory of the isolated vision process plus this process at ``frame_rate``."""
    from smartsession.agent.isolation import VisionProcess
    from smartsession.config import CameraConfig
    from smartsession.vision.benchdata import write_video

    with tempfile.TemporaryDirectory(prefix="smartsession-bench-") as folder:
        video = str(Path(folder) / "frames.avi")
        write_video(video, frames, frame_rate, repeat=5)
        source = VisionProcess(CameraConfig(device=video, allow_unisolated=True), frame_rate, loop_video=True)
        try:
            hello = source.start()
            engine = EngagementEngine(EngagementSettings())
            for _ in range(int(frame_rate)):  # warm up
                engine.update(source.read())
            pid = source.pid
            assert pid is not None
            child0, own0, wall0 = _proc_cpu_seconds(pid), time.process_time(), time.monotonic()
            analysed = 0
            while time.monotonic() - wall0 < seconds:
                engine.update(source.read())
                analysed += 1
            wall = time.monotonic() - wall0
            child_cpu = _proc_cpu_seconds(pid) - child0
            own_cpu = time.process_time() - own0
            vision_rss, agent_rss = _rss_mb(pid), _rss_mb(os.getpid())
        finally:
            source.close()
    return {
        "frame_rate": frame_rate,
        "seconds": round(wall, 2),
        "analysed_fps": round(analysed / wall, 2),
        "isolated": hello.isolated,
        "vision_cpu_percent": round(100 * child_cpu / wall, 2),
        "agent_cpu_percent": round(100 * own_cpu / wall, 2),
        "cpu_percent": round(100 * (child_cpu + own_cpu) / wall, 2),
        "vision_rss_mb": round(vision_rss, 1),
        "agent_rss_mb": round(agent_rss, 1),
        "rss_mb": round(vision_rss + agent_rss, 1),
    }


def measure_per_frame(frames: list[Any], blocks: int, rounds: int) -> dict[str, Any]:
    """Interleaved blocks of bare landmarker and whole pipeline; CPU ms per frame (medians)."""
    from smartsession.vision.landmarks import FaceLandmarker
    from smartsession.vision.pipeline import FrameAnalyzer

    bare_ms: list[float] = []
    pipeline_ms: list[float] = []
    with FaceLandmarker(max_faces=2) as landmarker, FrameAnalyzer() as analyzer:
        engine = EngagementEngine(EngagementSettings())
        t = 0.0
        for frame in frames:  # warm up both
            landmarker.detect(frame)
            analyzer.analyze(frame, t)
        for _ in range(blocks):
            start = time.process_time()
            for _ in range(rounds):
                for frame in frames:
                    landmarker.detect(frame)
            bare_ms.append((time.process_time() - start) * 1000 / (rounds * len(frames)))
            start = time.process_time()
            for _ in range(rounds):
                for frame in frames:
                    t += 0.2
                    engine.update(analyzer.analyze(frame, t))
            pipeline_ms.append((time.process_time() - start) * 1000 / (rounds * len(frames)))
        people_runs = analyzer.people_runs
    bare, pipeline = statistics.median(bare_ms), statistics.median(pipeline_ms)
    return {
        "frames": len(frames),
        "bare_landmarker_cpu_ms": round(bare, 2),
        "pipeline_cpu_ms": round(pipeline, 2),
        "overhead_ratio": round(pipeline / bare, 3),
        "people_counter_share": round(people_runs / ((blocks * rounds + 1) * len(frames)), 3),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print one JSON object; exit 0."""
    parser = argparse.ArgumentParser(prog="smartsession bench agent", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (for tests), numbers are rough")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of the 5 fps measurement")
    args = parser.parse_args(argv)
    seconds, blocks, rounds = (2.0, 2, 2) if args.quick else (args.seconds, 7, 10)
    from smartsession.vision.benchdata import benchmark_frames

    frames = benchmark_frames()
    live = measure_live(frames, seconds)  # first, before this process loads any model itself
    result: dict[str, Any] = {"benchmark": "agent", "quick": args.quick}
    result.update(measure_per_frame(frames, blocks, rounds))
    result.update(live)
    result["targets"] = TARGETS
    result["meets_targets"] = all(result[key] <= limit for key, limit in TARGETS.items())
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
