"""Real agents on the scripted clip (`smartsession.vision.clip`), for ``bench agent``.

`run_clip` starts a hub and one ``smartsession agent`` process per `AgentRun` (each with its
isolated vision process reading the clip's video in real time, as a camera), optionally
beside a CPU hog (a bounded busy loop on every core, started when the clip starts), and
measures for each agent over the clip: CPU of the agent and its vision process (in all,
and the busiest second), analysed frames per second (steady and in bursts), resident
memory, and the time of each alert and its clearing against the moment the clip showed its
cause. The hub's CPU is not counted.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from smartsession.bench.procfs import children, cpu_seconds, rss_mb
from smartsession.core.settings import Timing
from smartsession.logs import parse_logfmt
from smartsession.vision.clip import Scene, duration, expected_alerts, write_clip

#: Seconds after the clip's end before the agents stop (the last alert clears within this).
MARGIN = 2.5
_STARTED = re.compile(r"plays in real time at [0-9.]+ frames/s from ([0-9.]+)")


@dataclass(frozen=True)
class AgentRun:
    """One agent on the clip: its name (also its student id) and ``[agent]`` rates."""

    name: str
    steady_rate: float
    frame_rate: float = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 120.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench agent: timed out waiting for {what}")
        time.sleep(step)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _write_configs(folder: Path, video: str, port: int, runs: list[AgentRun]) -> dict[str, Path]:
    """The hub's config and one per agent (each with its own machine key and outbox)."""
    from smartsession.config import read_secret, write_secret
    from smartsession.keys import MachineKey, write_machine_key

    write_secret(folder / "class.secret")
    secret = read_secret(folder / "class.secret")
    common = f"""[class]
id = "bench"
secret_file = "class.secret"
[network]
interfaces = ["127.0.0.1"]
discovery = false
[hub]
host = "127.0.0.1"
port = {port}
tls_dir = "tls"
[storage]
database = "hub.sqlite"
[camera]
device = "{video}"
allow_unisolated = true
"""
    configs = {"hub": folder / "hub.toml"}
    configs["hub"].write_text(common)
    for run in runs:
        write_machine_key(folder / f"{run.name}.key", MachineKey.derive(secret, "bench", run.name))
        configs[run.name] = folder / f"{run.name}.toml"
        configs[run.name].write_text(
            common
            + f"""[agent]
student_id = "{run.name}"
key_file = "{run.name}.key"
hub_url = "wss://127.0.0.1:{port}/"
outbox_path = "{run.name}.outbox"
frame_rate = {run.frame_rate}
steady_rate = {run.steady_rate}
"""
        )
    return configs


def _hog(seconds: float) -> list[subprocess.Popen[bytes]]:
    """A busy loop on every core, each ending by itself after ``seconds``."""
    loop = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    return [
        subprocess.Popen([sys.executable, "-c", loop], stdin=subprocess.DEVNULL)
        for _ in range(os.cpu_count() or 1)
    ]


def _log_time(line: str) -> float:
    """The epoch time of one line of the agent's log (logfmt, the default format: ``ts=...Z``)."""
    return datetime.datetime.fromisoformat(parse_logfmt(line)["ts"]).timestamp()


class _Watched:
    """One running agent: its process, log, CPU samples over the clip."""

    def __init__(self, run: AgentRun, proc: subprocess.Popen[bytes], log: Path, report: Path) -> None:
        self.run = run
        self.proc = proc
        self.log = log
        self.report = report
        self.vision = 0
        self.clip_start = 0.0
        #: (monotonic seconds, CPU seconds of agent + vision) from the clip's start on.
        self.cpu: list[tuple[float, float]] = []
        #: CPU seconds of the vision process alone, at the first and last sample.
        self.vision_cpu: list[float] = []

    def started(self) -> bool:
        text = self.log.read_text() if self.log.exists() else ""
        found = _STARTED.search(text)
        if found is None:
            return False
        self.clip_start = float(found.group(1))
        (self.vision,) = children(self.proc.pid)
        return True

    def sample(self) -> None:
        vision = cpu_seconds(self.vision)
        self.cpu.append((time.monotonic(), cpu_seconds(self.proc.pid) + vision))
        self.vision_cpu = [self.vision_cpu[0] if self.vision_cpu else vision, vision]

    def vision_percent(self) -> float:
        """The vision process's share of `cpu_percent`."""
        wall = self.cpu[-1][0] - self.cpu[0][0]
        return round(100 * (self.vision_cpu[1] - self.vision_cpu[0]) / wall, 2)


def _cpu_figures(samples: list[tuple[float, float]]) -> dict[str, float]:
    """CPU percent of one core over all the samples, and over the busiest second."""
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    busiest = 0.0
    for i, (start, cpu) in enumerate(samples):
        later = next(((t, c) for t, c in samples[i:] if t - start >= 1.0), None)
        if later is not None:
            busiest = max(busiest, 100 * (later[1] - cpu) / (later[0] - start))
    return {
        "cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 2),
        "busiest_second_cpu_percent": round(busiest, 1),
    }


def _alert_times(
    database: Path, student: str, clip_start: float, scenes: tuple[Scene, ...], timing: Timing
) -> list[dict[str, Any]]:
    """Each alert the clip must raise: seconds from its cause to the alert and to its clearing."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT ts, kind, reason FROM events WHERE student_id = ? ORDER BY seq", (student,)
        ).fetchall()
    out: list[dict[str, Any]] = []
    for expected in expected_alerts(scenes, timing):
        onset, end = clip_start + expected.onset, clip_start + expected.end
        fired = [
            ts for ts, kind, reason in rows if kind == "alert" and reason == expected.reason and ts >= onset
        ]
        cleared = [
            ts
            for ts, kind, reason in rows
            if kind == "alert_cleared" and reason == expected.reason and ts >= end
        ]
        out.append(
            {
                "reason": expected.reason.value,
                "at": expected.onset,
                "hold": expected.hold,
                "latency_s": round(fired[0] - onset, 3) if fired and fired[0] < end else None,
                "cleared_after_s": round(cleared[0] - end, 3) if cleared else None,
            }
        )
    return out


def run_clip(
    scenes: tuple[Scene, ...], runs: list[AgentRun], *, hog: bool = False
) -> dict[str, dict[str, Any]]:
    """Every `AgentRun` on the clip at once (beside a CPU hog with ``hog``); a dict of results
    by run name (see the module docstring)."""
    seconds = duration(scenes)
    with tempfile.TemporaryDirectory(prefix="smartsession-bench-") as name:
        folder = Path(name)
        video = str(folder / "clip.avi")
        write_clip(video, scenes)
        port = _free_port()
        configs = _write_configs(folder, video, port, runs)
        command = [sys.executable, "-m", "smartsession"]
        hub_log = folder / "hub.log"
        hub = subprocess.Popen(
            [*command, "--log-file", str(hub_log), "hub", "-c", str(configs["hub"])], stdin=subprocess.DEVNULL
        )
        watched: list[_Watched] = []
        hogs: list[subprocess.Popen[bytes]] = []
        try:
            _wait_for(lambda: hub_log.exists() and "TLS certificate" in hub_log.read_text(), "the hub")
            for run in runs:
                log, report = folder / f"{run.name}.log", folder / f"{run.name}.json"
                proc = subprocess.Popen(
                    [
                        *command,
                        "--log-file",
                        str(log),
                        "agent",
                        "-c",
                        str(configs[run.name]),
                        "--report",
                        str(report),
                    ],
                    stdin=subprocess.DEVNULL,
                )
                watched.append(_Watched(run, proc, log, report))
            for agent in watched:
                _wait_for(agent.started, f"{agent.run.name}'s clip to start", step=0.02)
                agent.sample()
            if hog:
                hogs = _hog(seconds + MARGIN)
            end = max(agent.clip_start for agent in watched) + seconds
            while time.time() < end:
                time.sleep(0.25)
                for agent in watched:
                    if time.time() <= agent.clip_start + seconds:
                        agent.sample()
            time.sleep(MARGIN)
            rss = {a.run.name: (rss_mb(a.vision), rss_mb(a.proc.pid)) for a in watched}
            for agent in watched:
                _stop(agent.proc)
        finally:
            for proc in [*hogs, *(a.proc for a in watched)]:
                _stop(proc)
            _stop(hub)
        results: dict[str, dict[str, Any]] = {}
        for agent in watched:
            report = msgspec.json.decode(agent.report.read_bytes())
            log_text = agent.log.read_text()
            lines = log_text.splitlines()
            ran = _log_time(next(x for x in lines if "agent stopped" in x)) - _log_time(
                next(x for x in lines if "notice to the student:" in x)
            )
            vision_rss, agent_rss = rss[agent.run.name]
            results[agent.run.name] = {
                "steady_rate": agent.run.steady_rate,
                "isolated": "runs without network" in log_text,
                **_cpu_figures(agent.cpu),
                "vision_cpu_percent": agent.vision_percent(),
                "analysed_fps": round(report["frames"] / ran, 2),
                "steady_fps": report["steady_fps"],
                "burst_fps": report["burst_fps"],
                "burst_share": report["burst_share"],
                "items_acked": report["acked_seq"] - report["first_seq"] + 1 if report["acked_seq"] else 0,
                "vision_rss_mb": round(vision_rss, 1),
                "agent_rss_mb": round(agent_rss, 1),
                "rss_mb": round(vision_rss + agent_rss, 1),
                "alerts": _alert_times(
                    folder / "hub.sqlite", agent.run.name, agent.clip_start, scenes, Timing()
                ),
            }
    return results
