"""``smartsession bench hub``: the hub's ingest rate and latency against a bare WebSocket server.

Two servers, each in its own process:

- the **baseline**: a bare ``websockets`` server (``compression=None``, no TLS) that decodes
  each JSON frame and answers with cumulative acks, coalesced like the hub's;
- the **hub**: a real `smartsession.hub.service.Hub` with a temporary config (real
  handshake and proofs, validation, roster, SQLite; TLS when the hub does it by default).

Both are driven with the same frames by separate load-generator processes (asyncio clients,
many connections per process):

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
import hashlib
import json
import logging
import multiprocessing
import os
import random
import secrets
import sqlite3
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from smartsession.core.protocol import (
    PROTOCOL_VERSION,
    Error,
    Join,
    Welcome,
    agent_proof,
    decode_hub_message,
    encode,
    hub_proof,
    proofs_match,
)

#: Seconds any single network step may take before the bench gives up.
STEP_TIMEOUT = 60.0
#: Handshakes in flight at once per load process.
CONNECT_CONCURRENCY = 32
#: Seconds of load before the saturation measurement starts.
WARMUP = 0.5

_SECRET = bytes(range(32))

_SAMPLE = (
    '{"type":"sample","seq":%d,"ts":%.3f,"state":"focused","attention":0.82,"confusion":0.12,'
    '"faces":1,"alert":null,"reasons":["looking at the screen"],"cues":{"yaw":2.5,"pitch":-3.1,'
    '"roll":0.4,"gaze_away":0.05,"brow_down":0.1,"smile":0.2,"face_share":0.3}}'
)


def sample_frame(seq: int) -> str:
    """One valid protocol v1 sample as a JSON text frame (about 260 bytes)."""
    return _SAMPLE % (seq, time.time())


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
        class_=ClassConfig(id="bench"),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        # The per-agent rate limit is lifted: the saturating clients send far more than a real
        # agent would (the paced class stays far below it anyway).
        hub=HubConfig(
            host="127.0.0.1",
            port=0,
            hub_id="bench-hub",
            max_agents=max_agents,
            max_messages_per_second=1e6,
            message_burst=1_000_000,
        ),
        storage=storage,
        base_dir=folder,
    )

    tune_gc_for_serving()  # as ``smartsession hub`` does

    async def run() -> None:
        async with Hub(config, _SECRET) as hub:
            pipe.send({"url": hub.url, "pid": os.getpid(), "batch_interval": config.storage.batch_interval})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(run())


# Load generators (each runs in its own process) -----------------------------------------


@dataclass
class _Client:
    """One load connection: what it sent, what came back, and when."""

    student_id: str
    ws: ClientConnection
    sent: int = 0
    acked: int = 0
    send_times: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""

    async def receive(self) -> None:
        try:
            async for frame in self.ws:
                message = json.loads(frame)
                kind = message.get("type")
                if kind not in ("ack", "sample"):
                    self.error = f"{kind}: {message.get('message', '')}"
                    continue
                seq = int(message["seq"])
                now = time.monotonic()
                if seq > self.acked:
                    if self.send_times:
                        for s in range(self.acked + 1, seq + 1):
                            sent_at = self.send_times.pop(s, None)
                            if sent_at is not None:
                                self.latencies.append((now - sent_at) * 1000.0)
                    self.acked = seq
                    self.progress.set()
        except Exception as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        self.progress.set()


def _client_ssl(url: str) -> ssl.SSLContext | None:
    if not url.startswith("wss:"):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The HMAC proofs bind the certificate's fingerprint; no CA is involved (docs/protocol.md).
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _open(url: str, student_id: str, hub: bool) -> _Client:
    ws = await connect(url, compression=None, ssl=_client_ssl(url), open_timeout=STEP_TIMEOUT, max_size=None)
    if hub:
        fingerprint = ""
        ssl_object = ws.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            fingerprint = hashlib.sha256(ssl_object.getpeercert(binary_form=True)).hexdigest()
        async with asyncio.timeout(STEP_TIMEOUT):
            hello = json.loads(await ws.recv())
            nonce = secrets.token_hex(16)
            proof = agent_proof(_SECRET, hello["nonce"], nonce, student_id, fingerprint)
            join = Join(
                v=PROTOCOL_VERSION,
                student_id=student_id,
                name=student_id,
                host="bench",
                agent_version="bench",
                nonce=nonce,
                proof=proof,
            )
            await ws.send(encode(join))
            welcome = decode_hub_message(await ws.recv())
        if isinstance(welcome, Error):
            raise RuntimeError(f"hub refused {student_id}: {welcome.code} {welcome.message}")
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"expected a welcome, got {welcome!r}")
        expected = hub_proof(_SECRET, hello["nonce"], nonce, student_id, fingerprint)
        if not proofs_match(expected, welcome.proof):
            raise RuntimeError("the hub's proof does not match")
    return _Client(student_id=student_id, ws=ws)


async def _saturate(client: _Client, window: int, stop_at: float) -> None:
    while time.monotonic() < stop_at and not client.error:
        while client.sent - client.acked >= window:
            client.progress.clear()
            if client.error or client.ws.close_code is not None:
                return
            await client.progress.wait()
        client.sent += 1
        await client.ws.send(sample_frame(client.sent))


async def _paced(client: _Client, rate: float, start: float, stop_at: float) -> None:
    period = 1.0 / rate
    due = start + random.uniform(0.0, period)
    while due < stop_at and not client.error:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        client.sent += 1
        client.send_times[client.sent] = time.monotonic()
        await client.ws.send(sample_frame(client.sent))
        due += period


async def _drain(client: _Client, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while client.acked < client.sent and not client.error:
                client.progress.clear()
                if client.ws.close_code is not None:
                    break
                await client.progress.wait()


async def _load(pipe: Connection, job: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(student_id: str) -> _Client:
        async with gate:
            return await _open(job["url"], student_id, job["hub"])

    clients = await asyncio.gather(*(open_one(sid) for sid in job["students"]))
    receivers = [asyncio.create_task(c.receive()) for c in clients]
    pipe.send({"ready": len(clients)})
    start, stop_at, mark_a, mark_b = await loop.run_in_executor(None, pipe.recv)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    marks: list[int] = []

    async def sample_marks() -> None:
        for mark in (mark_a, mark_b):
            await asyncio.sleep(max(0.0, mark - time.monotonic()))
            marks.append(sum(c.acked for c in clients))

    marker = asyncio.create_task(sample_marks())
    if job["mode"] == "saturate":
        senders = [_saturate(c, job["window"], stop_at) for c in clients]
    else:
        senders = [_paced(c, job["rate"], start, stop_at) for c in clients]
    await asyncio.gather(*senders)
    await marker
    await asyncio.gather(*(_drain(c, 30.0) for c in clients))
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    pipe.send(
        {
            "acked_in_window": marks[1] - marks[0] if len(marks) == 2 else 0,
            "sent": {c.student_id: c.sent for c in clients},
            "unacked": sum(c.sent - c.acked for c in clients),
            "latencies": [x for c in clients for x in c.latencies],
            "errors": sorted({c.error for c in clients if c.error}),
        }
    )


def _load_process(pipe: Connection, job: dict[str, Any]) -> None:
    try:
        asyncio.run(_load(pipe, job))
    except BaseException as exc:
        pipe.send({"failed": f"{type(exc).__name__}: {exc}"})
        raise


# The orchestration ----------------------------------------------------------------------


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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of the whole machine so far, from ``/proc/stat``.

    Steal is time the hypervisor gave this VM's CPUs to someone else: a share of it during
    a latency measurement says the machine, not the code, was slow.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


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
            process = _ctx.Process(target=_load_process, args=(child, job), daemon=True)
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
        cpu_a, wall_a, ticks_a = _cpu_seconds(server_pid), time.monotonic(), _cpu_ticks()
        time.sleep(max(0.0, mark_b - time.monotonic()))
        cpu_b, wall_b, ticks_b = _cpu_seconds(server_pid), time.monotonic(), _cpu_ticks()
        rss = _rss_mb(server_pid)
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
