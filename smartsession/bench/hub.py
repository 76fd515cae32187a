"""``smartsession bench hub``: the hub's ingest rate and latency against a bare WebSocket server.

Two servers, each in its own process:

- the **baseline**: a bare ``websockets`` server (``compression=None``, no TLS) that decodes
  each JSON frame and answers with cumulative acks, coalesced like the hub's;
- the **hub**: a real `smartsession.hub.service.Hub` with a temporary config (real
  handshake and proofs, validation, roster, SQLite; TLS when the hub does it by default).

Both are driven with the same frames by separate load-generator processes
(`smartsession.bench.hub_load`: asyncio clients, many connections per process):

1. saturation: ``--connections`` clients each keep up to ``--window`` items in flight
   (as fast as acks allow), baseline and hub taking turns for ``--rounds`` rounds (so a
   burst of load from other users of the machine hits one round, not one server) ->
   ``baseline_msgs_per_s``, ``hub_msgs_per_s`` and ``ingest_ratio`` = hub / baseline, the
   medians over the rounds (each round's numbers are in ``rounds``);
2. a paced class: ``--agents`` clients sending ``--rate`` samples/s each for ``--duration``
   seconds -> ``p50_ms`` / ``p99_ms`` from send to ack (hub and baseline: ``baseline_p50_ms``
   ...), the hub process's ``cpu_percent`` (of one core) and ``rss_mb``, and the machine's
   ``steal_percent`` (CPU time a hypervisor took away during the measurement, from
   ``/proc/stat``; tails grow with it).

At the end the hub's SQLite file is read: ``lost`` counts items sent but never stored,
``duplicated`` items stored more than once. One JSON object is printed on stdout.
Absolute numbers depend on the machine (and its other users); the ratio is what compares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from smartsession.bench.hub_load import CLASS_ID, SECRET, STEP_TIMEOUT, load_process
from smartsession.bench.procfs import cpu_seconds, rss_mb, steal_ticks


@dataclass
class Params:
    """What one run measures."""

    agents: int = 500
    rate: float = 2.0
    duration: float = 20.0
    connections: int = 64
    window: int = 128
    saturate_seconds: float = 5.0
    rounds: int = 3
    processes: int = 2
    batch_interval: float | None = None
    quick: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "rate": self.rate,
            "duration": self.duration,
            "connections": self.connections,
            "window": self.window,
            "saturate_seconds": self.saturate_seconds,
            "rounds": self.rounds,
            "load_processes": self.processes,
            "batch_interval": self.batch_interval,
            "quick": self.quick,
        }


def parse_args(argv: list[str]) -> Params:
    parser = argparse.ArgumentParser(prog="smartsession bench hub", description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, help="paced agents (default 500)")
    parser.add_argument("--rate", type=float, help="samples per second per paced agent (default 2)")
    parser.add_argument("--duration", type=float, help="seconds of paced load (default 20)")
    parser.add_argument("--connections", type=int, help="saturating connections (default 64)")
    parser.add_argument("--window", type=int, help="items in flight per saturating connection (default 128)")
    parser.add_argument("--saturate-seconds", type=float, help="seconds of saturation per server (default 5)")
    parser.add_argument("--rounds", type=int, help="saturation rounds per server, taking turns (default 3)")
    parser.add_argument("--processes", type=int, help="load-generator processes (default 2)")
    parser.add_argument(
        "--batch-interval", type=float, help="the hub's storage.batch_interval (default: the config default)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small numbers (a smoke test, not a measurement)"
    )
    args = parser.parse_args(argv)
    params = Params()
    if args.quick:
        params = Params(
            agents=20,
            rate=5.0,
            duration=1.5,
            connections=4,
            window=32,
            saturate_seconds=1.0,
            rounds=1,
            quick=True,
        )
    names = ("agents", "rate", "duration", "connections", "window", "saturate_seconds", "rounds", "processes")
    for name in names:
        value = getattr(args, name)
        if value is not None:
            setattr(params, name, value)
    params.batch_interval = args.batch_interval
    if min(params.agents, params.connections, params.processes, params.window, params.rounds) < 1:
        parser.error("--agents, --connections, --processes, --window and --rounds must be at least 1")
    if params.rate <= 0 or params.duration <= 0 or params.saturate_seconds <= 0:
        parser.error("--rate, --duration and --saturate-seconds must be positive")
    return params


# Servers (each runs in its own process) -------------------------------------------------


def _baseline_process(pipe: Connection) -> None:
    async def handler(ws: ServerConnection) -> None:
        # Decode every frame and answer with cumulative acks sent by a task of their own,
        # coalesced while a send is in flight: the same answering pattern as the hub's.
        latest = 0
        wanted = asyncio.Event()

        async def send_acks() -> None:
            acked = 0
            while True:
                await wanted.wait()
                wanted.clear()
                if latest > acked:
                    acked = latest
                    await ws.send(f'{{"type":"ack","seq":{acked}}}')

        acker = asyncio.create_task(send_acks())
        try:
            with contextlib.suppress(Exception):
                async for frame in ws:
                    latest = max(latest, int(json.loads(frame)["seq"]))
                    wanted.set()
        finally:
            acker.cancel()

    async def run() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=64 * 1024) as server:
            port = server.sockets[0].getsockname()[1]
            pipe.send({"url": f"ws://127.0.0.1:{port}/", "pid": os.getpid()})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(run())


def _hub_process(pipe: Connection, folder: str, max_agents: int, batch_interval: float | None) -> None:
    from smartsession.config import ClassConfig, Config, HubConfig, NetworkConfig, StorageConfig
    from smartsession.hub.service import Hub, tune_gc_for_serving

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    storage = StorageConfig(database=str(Path(folder) / "hub.db"))
    if batch_interval is not None:
        storage = StorageConfig(database=storage.database, batch_interval=batch_interval)
    config = Config(
        class_=ClassConfig(id=CLASS_ID),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        # The per-student limits are lifted: the saturating clients send far more than a real
        # agent would (the paced class stays far below it anyway). Every load connection comes
        # from 127.0.0.1, so the per-address limits on connections not joined yet are too.
        hub=HubConfig(
            host="127.0.0.1",
            port=0,
            hub_id="bench-hub",
            max_agents=max_agents,
            max_items_per_second=1e7,
            item_burst=100_000_000,
            session_quota=1_000_000_000,
            max_pending_per_address=max_agents,
            max_unauthenticated_per_address=max_agents,
            handshake_rate_per_address=1e6,
        ),
        storage=storage,
        base_dir=folder,
    )

    tune_gc_for_serving()  # as ``smartsession hub`` does

    async def run() -> None:
        async with Hub(config, SECRET) as hub:
            pipe.send({"url": hub.url, "pid": os.getpid(), "batch_interval": config.storage.batch_interval})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(run())


# The orchestration ----------------------------------------------------------------------


#: Seconds of load before the saturation measurement starts.
WARMUP = 0.5

_ctx = multiprocessing.get_context("spawn")


class _Server:
    """A server process and what it reported when ready."""

    def __init__(self, target: Any, *args: Any) -> None:
        self.pipe, child = _ctx.Pipe()
        self.process = _ctx.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        if not self.pipe.poll(STEP_TIMEOUT):
            self.stop()
            raise RuntimeError(f"{target.__name__} did not start")
        self.info: dict[str, Any] = self.pipe.recv()
        self.url: str = self.info["url"]
        self.pid: int = self.info["pid"]

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send("stop")
        self.process.join(STEP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _run_load(
    url: str, hub: bool, mode: str, students: list[str], params: Params, seconds: float, server_pid: int
) -> dict[str, Any]:
    """Drive ``url`` from ``params.processes`` processes; returns the merged results."""
    chunks = [students[i :: params.processes] for i in range(params.processes)]
    chunks = [c for c in chunks if c]
    workers: list[tuple[Any, Connection]] = []
    try:
        for chunk in chunks:
            parent, child = _ctx.Pipe()
            job = {
                "url": url,
                "hub": hub,
                "mode": mode,
                "students": chunk,
                "window": params.window,
                "rate": params.rate,
            }
            process = _ctx.Process(target=load_process, args=(child, job), daemon=True)
            process.start()
            workers.append((process, parent))
        for _, pipe in workers:
            if not pipe.poll(STEP_TIMEOUT * 2):
                raise RuntimeError("a load generator did not connect in time")
            ready = pipe.recv()
            if "failed" in ready:
                raise RuntimeError(f"load generator failed: {ready['failed']}")
        warmup = WARMUP if mode == "saturate" else 0.0
        start = time.monotonic() + 0.2
        mark_a, mark_b = start + warmup, start + warmup + seconds
        for _, pipe in workers:
            pipe.send((start, mark_b, mark_a, mark_b))
        time.sleep(max(0.0, mark_a - time.monotonic()))
        cpu_a, wall_a, ticks_a = cpu_seconds(server_pid), time.monotonic(), steal_ticks()
        time.sleep(max(0.0, mark_b - time.monotonic()))
        cpu_b, wall_b, ticks_b = cpu_seconds(server_pid), time.monotonic(), steal_ticks()
        rss = rss_mb(server_pid)
        results = []
        for _, pipe in workers:
            if not pipe.poll(STEP_TIMEOUT * 2):
                raise RuntimeError("a load generator did not finish in time")
            result = pipe.recv()
            if "failed" in result:
                raise RuntimeError(f"load generator failed: {result['failed']}")
            results.append(result)
    finally:
        for process, _ in workers:
            process.join(STEP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
    sent: dict[str, int] = {}
    for result in results:
        sent.update(result["sent"])
    return {
        "msgs_per_s": sum(r["acked_in_window"] for r in results) / seconds,
        "sent": sent,
        "unacked": sum(r["unacked"] for r in results),
        "latencies": sorted(x for r in results for x in r["latencies"]),
        "errors": sorted({e for r in results for e in r["errors"]}),
        "cpu_percent": 100.0 * (cpu_b - cpu_a) / (wall_b - wall_a),
        "steal_percent": 100.0 * (ticks_b[0] - ticks_a[0]) / max(1, ticks_b[1] - ticks_a[1]),
        "rss_mb": rss,
    }


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values)) - 1))
    return round(sorted_values[index], 3)


def _stored(db: Path) -> list[tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT student_id, seq FROM samples UNION ALL SELECT student_id, seq FROM events"
        )
        return [(str(s), int(q)) for s, q in rows]


def _lost_and_duplicated(sent: dict[str, int], rows: list[tuple[str, int]]) -> tuple[int, int]:
    seen: dict[str, set[int]] = {}
    duplicated = 0
    for student_id, seq in rows:
        seqs = seen.setdefault(student_id, set())
        if seq in seqs:
            duplicated += 1
        seqs.add(seq)
    lost = 0
    for student_id, count in sent.items():
        stored = seen.get(student_id, set())
        lost += sum(1 for seq in range(1, count + 1) if seq not in stored)
    return lost, duplicated


def run(params: Params) -> dict[str, Any]:
    """Run the whole benchmark; returns the JSON-ready result."""
    paced_ids = [f"pc-{i:04d}" for i in range(params.agents)]
    result: dict[str, Any] = {"benchmark": "hub", **params.as_dict(), "cpu_count": os.cpu_count()}
    rounds: list[dict[str, float]] = []
    sent: dict[str, int] = {}
    errors: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="smartsession-bench-") as folder:
        baseline = _Server(_baseline_process)
        try:
            max_agents = params.agents + params.rounds * params.connections + 10
            hub = _Server(_hub_process, folder, max_agents, params.batch_interval)
            try:
                result["hub_url_scheme"] = hub.url.split(":", 1)[0]
                result["batch_interval"] = hub.info["batch_interval"]
                for number in range(params.rounds):
                    # New student ids each round: a hub dedups seqs it has already stored.
                    sat_ids = [f"sat{number}-{i:04d}" for i in range(params.connections)]
                    seconds = params.saturate_seconds
                    base = _run_load(baseline.url, False, "saturate", sat_ids, params, seconds, baseline.pid)
                    sat = _run_load(hub.url, True, "saturate", sat_ids, params, seconds, hub.pid)
                    sent.update(sat["sent"])
                    errors.update(base["errors"], sat["errors"])
                    ratio = sat["msgs_per_s"] / base["msgs_per_s"] if base["msgs_per_s"] else 0.0
                    rounds.append(
                        {
                            "baseline_msgs_per_s": round(base["msgs_per_s"], 1),
                            "hub_msgs_per_s": round(sat["msgs_per_s"], 1),
                            "ingest_ratio": round(ratio, 3),
                        }
                    )
                base_paced = _run_load(
                    baseline.url, False, "paced", paced_ids, params, params.duration, baseline.pid
                )
                paced = _run_load(hub.url, True, "paced", paced_ids, params, params.duration, hub.pid)
            finally:
                hub.stop()
        finally:
            baseline.stop()
        result["rounds"] = rounds
        for key in ("baseline_msgs_per_s", "hub_msgs_per_s", "ingest_ratio"):
            result[key] = statistics.median(r[key] for r in rounds)
        result["baseline_p50_ms"] = _percentile(base_paced["latencies"], 50)
        result["baseline_p99_ms"] = _percentile(base_paced["latencies"], 99)
        result["baseline_cpu_percent"] = round(base_paced["cpu_percent"], 1)
        result["baseline_steal_percent"] = round(base_paced["steal_percent"], 1)
        result["p50_ms"] = _percentile(paced["latencies"], 50)
        result["p99_ms"] = _percentile(paced["latencies"], 99)
        result["mean_ms"] = round(statistics.fmean(paced["latencies"]), 3) if paced["latencies"] else None
        result["cpu_percent"] = round(paced["cpu_percent"], 1)
        result["rss_mb"] = round(paced["rss_mb"], 1)
        result["steal_percent"] = round(paced["steal_percent"], 1)
        sent.update(paced["sent"])
        result["sent"] = sum(sent.values())
        rows = _stored(Path(folder) / "hub.db")
        result["stored"] = len(rows)
        result["lost"], result["duplicated"] = _lost_and_duplicated(sent, rows)
        result["errors"] = sorted(errors | set(base_paced["errors"]) | set(paced["errors"]))
    result["targets_met"] = bool(
        result["ingest_ratio"] is not None
        and result["ingest_ratio"] >= 0.5
        and result["p99_ms"] is not None
        and result["p99_ms"] <= 20.0
        and result["lost"] == 0
        and result["duplicated"] == 0
    )
    return result


def main(argv: list[str]) -> int:
    """Run the hub benchmark and print one JSON object; 0 unless the bench itself failed."""
    params = parse_args(argv)
    try:
        result = run(params)
    except (RuntimeError, OSError) as exc:
        print(f"smartsession bench hub: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
