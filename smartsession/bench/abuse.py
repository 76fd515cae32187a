"""``smartsession bench abuse [--quick]``: honest agents against floods that need no secret.

A real hub runs in a process of its own (temporary folder, TLS, the default limits, zeroconf
on 127.0.0.1; ``join_timeout`` is shortened so the lockout loop below turns several times).
Then each flood runs in turn from another process (`smartsession.bench.floods`, source
addresses 127.0.0.2 and up): silent TCP, stalled TLS, unjoined WebSockets reopened after each
close (the lockout loop), fake zeroconf adverts. During each:

- honest agents stream samples from 127.0.0.1 (the bench's load generator,
  `smartsession.bench.hub_load`, in a process of its own);
- honest joins are timed: the bench's own joining code from 127.0.0.1, again and again; for
  the fake adverts, real ``smartsession agent --simulate attentive`` processes that must
  find the hub through zeroconf, timed in their log from "browsing" to "joined hub";
- the hub's resident memory is read from ``/proc`` before, at its peak, and a few seconds
  after (when the hub has given the flood's memory back), and its CPU during the flood (in
  percent of one core).

At the end the hub's SQLite file is read: ``lost`` is what the honest agents produced and the
hub did not store, less ``queued``: what the real agents of the advert flood still kept in
their persisted outbox when they were stopped (sent at their next connection, not lost). One JSON document is printed; ``targets_met`` says whether every flood
met: honest join p99 <= 2 s with no join refused, resident memory after within 50 MB of
before, nothing lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from smartsession.bench.hub_load import CLASS_ID, SECRET, STEP_TIMEOUT, load_process, open_client
from smartsession.bench.procfs import cpu_seconds, rss_mb
from smartsession.keys import MachineKey, write_machine_key
from smartsession.logs import parse_logfmt

TARGETS = {"join_p99_ms": 2000.0, "rss_growth_mb": 50.0, "lost": 0}
FLOODS = ("tcp", "tls", "ws", "adverts")
#: The bench hub's join timeout (default 10 s): the lockout loop reopens after each 4408.
JOIN_TIMEOUT = 2.0
#: Seconds between two timed honest joins.
PROBE_INTERVAL = 0.1
#: Seconds between two readings of the hub's resident memory during a flood.
RSS_INTERVAL = 0.05
HUB_ID = "abuse-hub"

_ctx = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Params:
    """What one run does."""

    seconds: float = 8.0
    settle: float = 3.0
    streamers: int = 4
    rate: float = 2.0
    sources: int = 30
    per_source: int = 32
    total: int = 6000
    ws_sources: int = 12
    ws_per_source: int = 12
    adverts: int = 20
    adverts_seconds: float = 15.0
    agents: int = 2
    agent_join_wait: float = 30.0
    kinds: tuple[str, ...] = FLOODS
    quick: bool = False


QUICK = Params(
    seconds=1.5,
    settle=1.5,
    streamers=2,
    rate=5.0,
    sources=8,
    per_source=16,
    total=600,
    ws_sources=4,
    ws_per_source=10,
    adverts=5,
    adverts_seconds=6.0,
    agents=1,
    agent_join_wait=20.0,
    quick=True,
)


def parse_args(argv: list[str]) -> Params:
    parser = argparse.ArgumentParser(prog="smartsession bench abuse", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small numbers (a smoke test, not a measurement)"
    )
    parser.add_argument("--seconds", type=float, help="seconds each connection flood lasts (default 8)")
    parser.add_argument(
        "--floods", help=f"comma-separated, in this order: some of {','.join(FLOODS)} (default all)"
    )
    args = parser.parse_args(argv)
    params = QUICK if args.quick else Params()
    if args.seconds is not None:
        if args.seconds <= 0:
            parser.error("--seconds must be positive")
        params = dataclasses.replace(params, seconds=args.seconds)
    if args.floods is not None:
        floods = tuple(name.strip() for name in args.floods.split(",") if name.strip())
        unknown = sorted(set(floods) - set(FLOODS))
        if unknown or not floods:
            parser.error(
                f"--floods: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(FLOODS)}"
            )
        params = dataclasses.replace(params, kinds=floods)
    return params


# The hub (its own process) -----------------------------------------------------------------


def _hub_process(pipe: Connection, folder: str) -> None:
    from smartsession.config import ClassConfig, Config, HubConfig, NetworkConfig, StorageConfig
    from smartsession.hub.service import Hub, tune_gc_for_serving

    logging.basicConfig(
        level=logging.INFO,
        filename=str(Path(folder) / "hub.log"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = Config(
        class_=ClassConfig(id=CLASS_ID),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=True),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id=HUB_ID, join_timeout=JOIN_TIMEOUT),
        storage=StorageConfig(database=str(Path(folder) / "hub.db")),
        base_dir=folder,
    )
    tune_gc_for_serving()  # as ``smartsession hub`` does

    async def run() -> None:
        async with Hub(config, SECRET) as hub:
            pipe.send({"url": hub.url, "port": hub.port, "pid": os.getpid()})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(run())


class _Child:
    """A ``multiprocessing`` child that reports once when ready, through a pipe."""

    def __init__(self, target: Any, *args: Any) -> None:
        self.pipe, child = _ctx.Pipe()
        self.process = _ctx.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()

    async def recv(self, within: float = STEP_TIMEOUT) -> dict[str, Any]:
        if not await asyncio.to_thread(self.pipe.poll, within):
            raise RuntimeError(f"{self.process.name} said nothing within {within:g} s")
        message: dict[str, Any] = self.pipe.recv()
        if "failed" in message:
            raise RuntimeError(f"{self.process.name} failed: {message['failed']}")
        return message

    async def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send("stop")
        await asyncio.to_thread(self.process.join, STEP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join)


# One flood -------------------------------------------------------------------------------


@dataclass
class FloodResult:
    """What one flood did to the hub and to the honest agents."""

    flood: str
    connections: int
    turned_away: int
    honest_joins: int
    join_failures: int
    join_p50_ms: float | None
    join_p99_ms: float | None
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    hub_cpu_percent: float
    produced: int = 0
    stored: int = 0
    queued: int = 0
    lost: int = 0
    errors: tuple[str, ...] = ()

    def met(self) -> bool:
        """True when this flood met every target."""
        return (
            self.join_failures == 0
            and self.join_p99_ms is not None
            and self.join_p99_ms <= TARGETS["join_p99_ms"]
            and self.rss_after_mb - self.rss_before_mb <= TARGETS["rss_growth_mb"]
            and self.lost == 0
        )


class _Run:
    """The hub and what the honest side did, flood after flood."""

    def __init__(self, params: Params, folder: Path, hub: dict[str, Any]) -> None:
        self.params = params
        self.folder = folder
        self.url: str = hub["url"]
        self.port: int = hub["port"]
        self.hub_pid: int = hub["pid"]
        self.produced: dict[str, dict[str, int]] = {}  # flood -> student -> items produced
        self.queued: dict[str, set[int]] = {}  # student -> seqs left in its outbox at stop

    async def flood(self, kind: str) -> FloodResult:
        streamers = _Child(
            load_process,
            {
                "url": self.url,
                "hub": True,
                "mode": "paced",
                "students": [f"{kind}-{n}" for n in range(self.params.streamers)],
                "window": 1,
                "rate": self.params.rate,
            },
        )
        await streamers.recv()  # connected and joined
        seconds = self.params.adverts_seconds if kind == "adverts" else self.params.seconds
        before = rss_mb(self.hub_pid)
        flood = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smartsession.bench.floods",
            json.dumps(self._job(kind, seconds)),
            stdout=asyncio.subprocess.PIPE,
        )
        assert flood.stdout is not None
        async with asyncio.timeout(STEP_TIMEOUT):
            await flood.stdout.readline()  # {"ready": true}
        start = time.monotonic()
        cpu_before = cpu_seconds(self.hub_pid)
        streamers.pipe.send((start, start + seconds, start, start + seconds))
        watching = asyncio.create_task(self._peak_rss(flood))
        if kind == "adverts":
            joins, failures, agents = await self._agents_through_discovery(flood)
        else:
            joins, failures = await self._probe(kind, flood)
            agents = {}
        stats = json.loads(await flood.stdout.readline())
        await flood.wait()
        cpu = 100.0 * (cpu_seconds(self.hub_pid) - cpu_before) / (time.monotonic() - start)
        peak = await watching
        streamed = await streamers.recv(STEP_TIMEOUT * 2)
        await streamers.stop()
        await asyncio.sleep(self.params.settle)  # the hub gives the flood's memory back
        self.produced[kind] = {**streamed["sent"], **agents}
        ordered = sorted(joins)
        return FloodResult(
            flood=kind,
            connections=int(stats["opened"]),
            turned_away=int(stats["failed"]) + int(stats["closed_by_hub"]),
            honest_joins=len(joins),
            join_failures=failures,
            join_p50_ms=_percentile(ordered, 50),
            join_p99_ms=_percentile(ordered, 99),
            rss_before_mb=round(before, 1),
            rss_peak_mb=round(max(peak, before), 1),
            rss_after_mb=round(rss_mb(self.hub_pid), 1),
            hub_cpu_percent=round(cpu, 1),
            errors=tuple(streamed["errors"]),
        )

    def _job(self, kind: str, seconds: float) -> dict[str, Any]:
        params = self.params
        job: dict[str, Any] = {"kind": kind, "port": self.port, "seconds": seconds, "total": params.total}
        if kind == "ws":
            job.update(sources=params.ws_sources, per_source=params.ws_per_source)
        elif kind == "adverts":
            job.update(per_source=params.adverts, class_id=CLASS_ID, hub_id=HUB_ID)
        else:
            job.update(sources=params.sources, per_source=params.per_source)
        return job

    async def _peak_rss(self, flood: asyncio.subprocess.Process) -> float:
        peak = 0.0
        while flood.returncode is None:
            peak = max(peak, rss_mb(self.hub_pid))
            await asyncio.sleep(RSS_INTERVAL)
        return peak

    async def _probe(self, kind: str, flood: asyncio.subprocess.Process) -> tuple[list[float], int]:
        """Join from 127.0.0.1 again and again while ``flood`` runs: the join times (ms), failures."""
        joins: list[float] = []
        failures = 0
        n = 0
        while flood.returncode is None:
            n += 1
            started = time.perf_counter()
            try:
                client = await open_client(self.url, f"probe-{kind}-{n}", True)
            except Exception:
                failures += 1
            else:
                joins.append((time.perf_counter() - started) * 1000.0)
                await client.ws.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_INTERVAL):
                    await flood.wait()
        return joins, failures

    async def _agents_through_discovery(
        self, flood: asyncio.subprocess.Process
    ) -> tuple[list[float], int, dict[str, int]]:
        """Real agents that find the hub among the fake adverts: join times (ms), failures, produced."""
        agents = [_Agent(self.folder, n) for n in range(self.params.agents)]
        for agent in agents:
            await agent.start()
        joins: list[float] = []
        failures = 0
        for agent in agents:
            joined = await agent.joined_ms(self.params.agent_join_wait)
            if joined is None:
                failures += 1
            else:
                joins.append(joined)
        await flood.wait()
        produced = {}
        for agent in agents:
            produced[agent.student_id] = await agent.stop()
            self.queued[agent.student_id] = agent.queued()
        return joins, failures, produced


class _Agent:
    """A real ``smartsession agent --simulate attentive`` that must find the hub by zeroconf."""

    def __init__(self, folder: Path, n: int) -> None:
        self.student_id = f"adverts-agent-{n}"
        self.n = n
        self.log = folder / f"{self.student_id}.log"
        self.report = folder / f"{self.student_id}.json"
        self.outbox = folder / f"{self.student_id}.outbox.sqlite"
        self.config = folder / f"{self.student_id}.toml"
        # Its own machine key, as `smartsession keygen --student` makes it from the class key.
        write_machine_key(
            folder / f"{self.student_id}.key", MachineKey.derive(SECRET, CLASS_ID, self.student_id)
        )
        self.config.write_text(
            f'[class]\nid = "{CLASS_ID}"\n'
            '[network]\ninterfaces = ["127.0.0.1"]\n'
            f'[agent]\nstudent_id = "{self.student_id}"\nkey_file = "{self.student_id}.key"\n'
            f'outbox_path = "{self.outbox.name}"\n'
            "reconnect_initial = 0.2\nreconnect_max = 1.0\n",
            encoding="utf-8",
        )
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartsession", "--log-file", str(self.log),
            "agent", "-c", str(self.config), "--simulate", "attentive", "--seed", str(self.n),
            "--report", str(self.report),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def joined_ms(self, within: float) -> float | None:
        """Milliseconds from "browsing" to "joined hub" in the agent's log (None: not within ``within`` s)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            browsing = joined = None
            for stamp, message in self._lines():
                if browsing is None and message.startswith("browsing for"):
                    browsing = stamp
                if message.startswith("joined hub"):
                    joined = stamp
                    break
            if browsing is not None and joined is not None:
                return (joined - browsing).total_seconds() * 1000.0
            await asyncio.sleep(0.1)  # another process's log file: nothing to await
        return None

    def _lines(self) -> list[tuple[datetime, str]]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            record = parse_logfmt(line)
            if "ts" in record:
                found.append(
                    (datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ"), record.get("msg", ""))
                )
        return found

    async def stop(self) -> int:
        """SIGTERM, then the number of items it produced (from its report)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if not self.report.exists():
            return 0
        return int(json.loads(self.report.read_text())["last_seq"])

    def queued(self) -> set[int]:
        """The seqs left in its persisted outbox (stopped: unacknowledged, kept for its next run)."""
        if not self.outbox.exists():
            return set()
        with contextlib.closing(sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True)) as conn:
            return {int(seq) for (seq,) in conn.execute("SELECT seq FROM items")}


# The whole run -----------------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered)) - 1))
    return round(ordered[index], 1)


def _stored(db: Path) -> dict[str, set[int]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT student_id, seq FROM samples UNION ALL SELECT student_id, seq FROM events"
        )
        stored: dict[str, set[int]] = {}
        for student_id, seq in rows:
            stored.setdefault(str(student_id), set()).add(int(seq))
        return stored


async def run(params: Params) -> dict[str, Any]:
    """Run every flood against one hub; returns the JSON-ready result."""
    results: list[FloodResult] = []
    with tempfile.TemporaryDirectory(prefix="smartsession-bench-abuse-") as tmp:
        folder = Path(tmp)
        hub = _Child(_hub_process, tmp)
        try:
            bench = _Run(params, folder, await hub.recv())
            for kind in params.kinds:
                results.append(await bench.flood(kind))
        finally:
            await hub.stop()
        stored = _stored(folder / "hub.db")
        for result in results:
            produced = bench.produced[result.flood]
            result.produced = sum(produced.values())
            result.stored = sum(len(stored.get(s, set()) & set(range(1, n + 1))) for s, n in produced.items())
            result.queued = sum(
                len((bench.queued.get(s, set()) - stored.get(s, set())) & set(range(1, n + 1)))
                for s, n in produced.items()
            )
            result.lost = result.produced - result.stored - result.queued
    return {
        "benchmark": "abuse",
        **asdict(params),
        "join_timeout": JOIN_TIMEOUT,
        "cpu_count": os.cpu_count(),
        "floods": [asdict(r) for r in results],
        "lost": sum(r.lost for r in results),
        "targets": TARGETS,
        "targets_met": all(r.met() for r in results),
    }


def main(argv: list[str]) -> int:
    """Run the abuse benchmark and print one JSON document; 0 unless the bench itself failed."""
    params = parse_args(argv)
    try:
        result = asyncio.run(run(params))
    except (RuntimeError, OSError) as exc:
        print(f"smartsession bench abuse: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
