"""``smartsession bench school``: a school of hubs replicating to one PostgreSQL server.

Runs one real hub process (``smartsession hub``) per room, as many rooms as the machine's
memory holds (the JSON says how many ran), each with ``--students`` simulated agents
(`smartsession.bench.school_load`: the real handshake and proofs, ``--rate`` samples per
second each). Without ``--url`` it starts a throwaway PostgreSQL (`ThrowawayPostgres`, fsync
on, Unix socket only); with ``--url`` (a role that may create roles) it uses that server and
removes its rows and roles at the end.

1. side by side: half the rooms without ``[school]``, half replicating, the same load, for
   ``--duration`` seconds -> the mean hub CPU of each half (a shared machine's other load
   falls on both alike), ``replication_cpu_overhead`` = with / without - 1;
2. replicated: every room replicating, fresh hubs, ``--duration`` seconds -> rows per second
   into PostgreSQL, and per row the lag from the agent's timestamp to the shipment that
   stored it (``stored_at``), p50 / p99; ``replicator_thread_cpu_percent`` is the
   replicator's own thread (reading SQLite, building and sending the statements), from each
   hub's log, over the whole phase;
3. outage (throwaway server only): the server is stopped for ``--outage`` seconds, then
   started again -> acks the agents got meanwhile, and the catch-up time: until the server
   holds everything each hub had stored when it came back;
4. the agents stop, the hubs stop (shipping their last rows), and every replicating hub's
   SQLite file (of both phases) is compared with the server: ``lost`` (in SQLite, not on the server), ``duplicated`` (rows
   beyond one per key), ``extra`` (on the server only); ``lost_at_hub`` counts samples sent
   but not stored by the hubs.

Every process it started is stopped at the end, also on SIGTERM or Ctrl-C. Prints one JSON
document, with ``targets_met`` for 40 rooms x 30 students x 1/s: lag p99
<= 5 s, replication costs the hub <= 10% more CPU, nothing lost or duplicated, catch-up
within 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from smartsession.bench.hub_load import SECRET, STEP_TIMEOUT
from smartsession.bench.procfs import cpu_seconds, rss_mb
from smartsession.bench.school_load import load_process
from smartsession.logs import parse_logfmt
from smartsession.school import pgschema
from smartsession.school.connection import Connection as PgConnection
from smartsession.school.connection import connect
from smartsession.school.throwaway import ThrowawayPostgres

#: Seconds of load before a measurement window opens.
WARMUP = 3.0
#: Seconds to wait for every hub to listen, and for the catch-up after an outage.
START_TIMEOUT = 180.0
CATCH_UP_TIMEOUT = 180.0
#: Memory (MiB) one room takes: a hub process and its share of the load generators.
ROOM_MB = 120.0
#: Agents per load-generator process.
AGENTS_PER_LOAD = 400
#: The targets (at 40 rooms x 30 students x 1/s).
TARGETS = {"lag_p99_s": 5.0, "replication_cpu_overhead": 0.10, "catch_up_seconds": 60.0}


@dataclass
class Params:
    """What one run measures."""

    rooms: int = 40
    students: int = 30
    rate: float = 1.0
    duration: float = 60.0
    outage: float = 30.0
    url: str = ""
    quick: bool = False


def parse_args(argv: list[str]) -> Params:
    parser = argparse.ArgumentParser(prog="smartsession bench school", description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, help="hub processes, one per room (default 40)")
    parser.add_argument("--students", type=int, help="simulated agents per room (default 30)")
    parser.add_argument("--rate", type=float, help="samples per second per agent (default 1)")
    parser.add_argument("--duration", type=float, help="seconds of each measurement window (default 60)")
    parser.add_argument("--outage", type=float, help="seconds the server is stopped (default 30)")
    parser.add_argument("--url", default="", help="a PostgreSQL server to use (default: a throwaway one)")
    parser.add_argument(
        "--quick", action="store_true", help="small numbers (a smoke test, not a measurement)"
    )
    args = parser.parse_args(argv)
    params = Params(url=args.url)
    if args.quick:
        params = Params(rooms=2, students=5, rate=2.0, duration=3.0, outage=3.0, url=args.url, quick=True)
    for name in ("rooms", "students", "rate", "duration", "outage"):
        value = getattr(args, name)
        if value is not None:
            setattr(params, name, value)
    if params.rooms < 1 or params.students < 1:
        parser.error("--rooms and --students must be at least 1")
    if params.rate <= 0 or params.duration <= 0 or params.outage <= 0:
        parser.error("--rate, --duration and --outage must be positive")
    return params


# The machine ----------------------------------------------------------------------------


def rooms_the_machine_holds(requested: int) -> tuple[int, str]:
    """How many rooms fit in the memory available now (half of it), and why fewer if so."""
    available = 0.0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) / 1024.0
    fits = max(1, int(available * 0.5 / ROOM_MB))
    if fits >= requested:
        return requested, ""
    return (
        fits,
        f"the machine holds {fits} rooms ({available:.0f} MiB available, about {ROOM_MB:.0f} MiB a room)",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Rooms: hub processes ----------------------------------------------------------------------


@dataclass
class _Room:
    index: int
    hub_id: str
    class_id: str
    folder: Path
    port: int
    students: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/"

    @property
    def db(self) -> Path:
        return self.folder / "hub.db"

    @property
    def log(self) -> Path:
        return self.folder / "hub.log"


def _make_rooms(folder: Path, count: int, students: int, prefix: str, phase: str) -> list[_Room]:
    rooms = []
    for i in range(count):
        hub_id = f"{prefix}-{i:02d}"
        room = _Room(
            index=i,
            hub_id=hub_id,
            class_id=f"bench-{i:02d}",
            folder=folder / phase / f"room-{i:02d}",
            port=_free_port(),
            students=[f"{hub_id}-s{j:02d}" for j in range(students)],  # unique in the whole run
        )
        room.folder.mkdir(parents=True)
        (room.folder / "class.secret").write_text(SECRET.hex() + "\n")
        os.chmod(room.folder / "class.secret", 0o600)
        rooms.append(room)
    return rooms


def _write_config(room: _Room, school: tuple[str, Path] | None) -> Path:
    lines = [
        f"[class]\nid = {json.dumps(room.class_id)}",
        '[network]\ninterfaces = ["127.0.0.1"]\ndiscovery = false',
        f'[hub]\nhost = "127.0.0.1"\nport = {room.port}\nhub_id = {json.dumps(room.hub_id)}',
        '[storage]\ndatabase = "hub.db"\nretention_days = 0',
    ]
    if school is not None:
        url, password_file = school
        lines.append(
            f"[school]\ndatabase_url = {json.dumps(url)}\npassword_file = {json.dumps(str(password_file))}"
        )
    path = room.folder / "teacher.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _start_hubs(rooms: list[_Room], configs: list[Path]) -> None:
    for room, config in zip(rooms, configs, strict=True):
        room.process = subprocess.Popen(
            [sys.executable, "-m", "smartsession", "--log-file", str(room.log), "hub", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + START_TIMEOUT
    for room in rooms:
        while True:
            assert room.process is not None
            if room.process.poll() is not None:
                tail = room.log.read_text().strip().splitlines()[-1:] if room.log.exists() else []
                raise RuntimeError(f"hub {room.hub_id} exited ({room.process.returncode}): {' '.join(tail)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", room.port), 0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub {room.hub_id} did not listen within {START_TIMEOUT:.0f} s")
            time.sleep(0.2)


def _stop_hubs(rooms: list[_Room]) -> None:
    for room in rooms:
        if room.process is not None and room.process.poll() is None:
            room.process.send_signal(signal.SIGTERM)
    for room in rooms:
        if room.process is None:
            continue
        try:
            room.process.wait(STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            room.process.kill()
            room.process.wait()


def _hub_cpu(rooms: list[_Room]) -> float:
    return sum(cpu_seconds(room.process.pid) for room in rooms if room.process is not None)


def _replicator_cpu(rooms: list[_Room]) -> float:
    """CPU seconds the hubs' replicator threads used, from the line each hub logs at stop."""
    total = 0.0
    for room in rooms:
        for line in room.log.read_text().splitlines() if room.log.exists() else []:
            message = parse_logfmt(line).get("msg", "")
            if "school replication stopped:" in message:
                total += float(message.rsplit(", ", 1)[1].split(" s of CPU")[0])
    return total


def _hub_errors(rooms: list[_Room]) -> list[str]:
    found: set[str] = set()
    for room in rooms:
        if room.log.exists():
            records = [parse_logfmt(line) for line in room.log.read_text().splitlines()]
            found.update(r.get("msg", "") for r in records if r.get("level") == "error")
    return sorted(found)


# The agents -------------------------------------------------------------------------------

_ctx = multiprocessing.get_context("spawn")


class _Load:
    """Load-generator processes driving every room's students; `stop` returns the merged results."""

    def __init__(self, rooms: list[_Room], rate: float) -> None:
        agents = sum(len(r.students) for r in rooms)
        count = max(1, math.ceil(agents / AGENTS_PER_LOAD))
        shares: list[list[_Room]] = [rooms[i::count] for i in range(count)]
        self._workers: list[tuple[Any, Connection]] = []
        for share in (s for s in shares if s):
            parent, child = _ctx.Pipe()
            job = {"rooms": [(r.url, r.class_id, r.students) for r in share], "rate": rate}
            process = _ctx.Process(target=load_process, args=(child, job), daemon=True)
            process.start()
            self._workers.append((process, parent))
        for _, pipe in self._workers:
            if not pipe.poll(START_TIMEOUT):
                raise RuntimeError("the simulated agents did not join in time")
            ready = pipe.recv()
            if "failed" in ready:
                raise RuntimeError(f"simulated agents failed: {ready['failed']}")

    def stop(self) -> dict[str, Any]:
        for _, pipe in self._workers:
            pipe.send("stop")
        merged: dict[str, Any] = {"sent": {}, "acked": {}, "acks_per_second": {}, "errors": set()}
        try:
            for _, pipe in self._workers:
                if not pipe.poll(STEP_TIMEOUT * 2):
                    raise RuntimeError("the simulated agents did not finish in time")
                result = pipe.recv()
                if "failed" in result:
                    raise RuntimeError(f"simulated agents failed: {result['failed']}")
                merged["sent"].update(result["sent"])
                merged["acked"].update(result["acked"])
                for second, n in result["acks_per_second"].items():
                    merged["acks_per_second"][int(second)] = merged["acks_per_second"].get(int(second), 0) + n
                merged["errors"].update(result["errors"])
        finally:
            for process, _ in self._workers:
                process.join(STEP_TIMEOUT)
                if process.is_alive():
                    process.kill()
                    process.join()
        merged["errors"] = sorted(merged["errors"])
        return merged


# The server ------------------------------------------------------------------------------


class _School:
    """The PostgreSQL side: a throwaway server (or ``url``), hub roles, and what it holds."""

    def __init__(self, url: str, folder: Path) -> None:
        self.server: ThrowawayPostgres | None = None
        self.folder = folder
        self.roles: list[str] = []
        if url:
            self.admin_url = url
            self.kind = "the server at --url"
        else:
            self.server = ThrowawayPostgres(durable=True)
            self.server.start()
            with connect(self.server.url()) as conn:
                conn.execute("CREATE DATABASE bench")
            self.admin_url = self.server.url(database="bench")
            self.kind = "a throwaway PostgreSQL 15 (Unix socket, no TCP, fsync on)"
        with self.admin() as conn:
            pgschema.migrate(conn)

    def admin(self) -> PgConnection:
        return connect(self.admin_url, application_name="smartsession bench")

    def add_hub(self, hub_id: str) -> tuple[str, Path]:
        role = pgschema.default_role(hub_id)
        password = secrets.token_urlsafe(18)
        with self.admin() as conn:
            pgschema.add_hub(conn, hub_id, role, password)
        self.roles.append(role)
        path = self.folder / f"{hub_id}.pass"
        path.write_text(password + "\n")
        os.chmod(path, 0o600)
        info = {
            k: str(v)
            for k, v in conninfo_to_dict(self.admin_url).items()
            if k != "password" and v is not None
        }
        info["user"] = role
        return make_conninfo("", **info), path

    def items(self, hub_ids: list[str]) -> dict[str, int]:
        """Samples and events on the server per hub."""
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT hub_id, count(*) FROM (SELECT hub_id FROM smartsession.samples WHERE hub_id = ANY(%s)"
                " UNION ALL SELECT hub_id FROM smartsession.events WHERE hub_id = ANY(%s)) t GROUP BY hub_id",
                (hub_ids, hub_ids),
            ).fetchall()
        return {str(h): int(n) for h, n in rows}

    def keys(self, conn: PgConnection, hub_id: str) -> list[tuple[str, int]]:
        return [
            (str(s), int(q))
            for s, q in conn.execute(
                "SELECT student_id, seq FROM smartsession.samples WHERE hub_id = %s"
                " UNION ALL SELECT student_id, seq FROM smartsession.events WHERE hub_id = %s",
                (hub_id, hub_id),
            )
        ]

    def close(self, hub_ids: list[str]) -> None:
        if self.server is not None:
            self.server.destroy()
            return
        with self.admin() as conn, conn.transaction():
            for table in pgschema.DATA_TABLES:
                conn.execute(
                    sql.SQL("DELETE FROM smartsession.{} WHERE hub_id = ANY(%s)").format(
                        sql.Identifier(table)
                    ),
                    (hub_ids,),
                )
            conn.execute("DELETE FROM smartsession.hubs WHERE hub_id = ANY(%s)", (hub_ids,))
            for role in self.roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _sqlite_items(db: Path) -> list[tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT student_id, seq FROM samples UNION ALL SELECT student_id, seq FROM events"
        )
        return [(str(s), int(q)) for s, q in rows]


# The run ----------------------------------------------------------------------------------


def _window(rooms: list[_Room], seconds: float) -> tuple[float, float, float]:
    """Sleep through a measurement window; returns (start, end) wall times and hub CPU %."""
    time.sleep(WARMUP)
    cpu_a, wall_a, start = _hub_cpu(rooms), time.monotonic(), time.time()
    time.sleep(seconds)
    cpu_b, wall_b, end = _hub_cpu(rooms), time.monotonic(), time.time()
    return start, end, 100.0 * (cpu_b - cpu_a) / (wall_b - wall_a) / len(rooms)


def _cpu_comparison(params: Params, folder: Path, count: int, school: _School, prefix: str) -> dict[str, Any]:
    """Half the rooms without replication and half with it, side by side: hub CPU of each."""
    without = max(1, count // 2)
    control = _make_rooms(folder, without, params.students, f"{prefix}-ctl", "control")
    treated = _make_rooms(folder, max(1, count - without), params.students, f"{prefix}-cmp", "compared")
    rooms = control + treated
    configs = [_write_config(r, None) for r in control] + [
        _write_config(r, school.add_hub(r.hub_id)) for r in treated
    ]
    try:
        _start_hubs(rooms, configs)
        load = _Load(rooms, params.rate)
        time.sleep(WARMUP)
        cpu_a = [_hub_cpu(control), _hub_cpu(treated)]
        wall_a = time.monotonic()
        time.sleep(params.duration)
        cpu_b = [_hub_cpu(control), _hub_cpu(treated)]
        wall = time.monotonic() - wall_a
        rss = sum(rss_mb(r.process.pid) for r in control if r.process is not None) / len(control)
        agents = load.stop()
    finally:
        _stop_hubs(rooms)
    return {
        "without": 100.0 * (cpu_b[0] - cpu_a[0]) / wall / len(control),
        "with": 100.0 * (cpu_b[1] - cpu_a[1]) / wall / len(treated),
        "rss": rss,
        "treated": treated,
        "agents": agents,
        "errors": sorted(set(agents["errors"]) | set(_hub_errors(rooms))),
    }


def _outage(school: _School, rooms: list[_Room], seconds: float) -> dict[str, Any]:
    assert school.server is not None
    held = sum(school.items([r.hub_id for r in rooms]).values())
    down = time.monotonic()
    school.server.stop()
    time.sleep(seconds)
    school.server.start()
    up = time.monotonic()
    wanted = {r.hub_id: len(_sqlite_items(r.db)) for r in rooms}
    caught_up = None
    while time.monotonic() - up < CATCH_UP_TIMEOUT:
        now_held = school.items(list(wanted))
        if all(now_held.get(h, 0) >= n for h, n in wanted.items()):
            caught_up = time.monotonic() - up
            break
        time.sleep(0.25)
    return {
        "down": down,
        "up": up,
        "catch_up": caught_up,
        "backlog": sum(wanted.values()) - held,
    }


def run(params: Params) -> dict[str, Any]:
    """Run the whole benchmark; returns the JSON-ready result."""
    count, note = rooms_the_machine_holds(params.rooms)
    result: dict[str, Any] = {"benchmark": "school", **asdict(params), "url": bool(params.url)}
    result.update(rooms_run=count, rooms_note=note, cpu_count=os.cpu_count(), load_average=os.getloadavg()[0])
    folder = Path(tempfile.mkdtemp(prefix="smartsession-bench-school-"))
    prefix = f"bench-{secrets.token_hex(3)}"
    rooms: list[_Room] = []
    treated: list[_Room] = []
    school: _School | None = None
    try:
        school = _School(params.url, folder)
        result["server"] = school.kind
        side_by_side = _cpu_comparison(params, folder, count, school, prefix)
        treated = side_by_side["treated"]
        rooms = _make_rooms(folder, count, params.students, prefix, "replicated")
        configs = [_write_config(r, school.add_hub(r.hub_id)) for r in rooms]
        try:
            _start_hubs(rooms, configs)
            began = time.monotonic()
            load = _Load(rooms, params.rate)
            start, end, cpu = _window(rooms, params.duration)
            time.sleep(TARGETS["lag_p99_s"])  # the window's last rows have their target time to ship
            outage = _outage(school, rooms, params.outage) if school.server is not None else None
            time.sleep(2.0)
            agents = load.stop()
        finally:
            _stop_hubs(rooms)
        replicated_for = time.monotonic() - began
        compared = [
            _compare(school, rooms, agents),
            _compare(school, side_by_side["treated"], side_by_side["agents"]),
        ]
        result.update({key: sum(c[key] for c in compared) for key in compared[0]})
        result.update(_lag_and_rate(school, rooms, start, end))
        without, with_ = side_by_side["without"], side_by_side["with"]
        result["cpu_comparison"] = (
            f"{max(1, count // 2)} hubs without and {len(treated)} with replication, side by side"
            f" for {params.duration:g} s"
        )
        result["hub_cpu_percent_without"] = round(without, 2)
        result["hub_cpu_percent_with"] = round(with_, 2)
        result["replication_cpu_overhead"] = round(with_ / without - 1.0, 3) if without else None
        result["hub_cpu_percent_all_replicating"] = round(cpu, 2)
        result["replicator_thread_cpu_percent"] = round(
            100.0 * _replicator_cpu(rooms) / replicated_for / count, 3
        )
        result["hub_rss_mb"] = round(side_by_side["rss"], 1)
        result["expected_rows_per_s"] = round(count * params.students * params.rate, 1)
        if outage is not None:
            seconds = agents["acks_per_second"]
            inside = range(math.ceil(outage["down"]) + 1, math.floor(outage["up"]))
            result["outage_seconds"] = round(outage["up"] - outage["down"], 1)
            result["acked_during_outage"] = sum(seconds.get(s, 0) for s in inside)
            result["expected_acks_during_outage"] = round(len(inside) * count * params.students * params.rate)
            result["catch_up_backlog_rows"] = outage["backlog"]
            result["catch_up_seconds"] = (
                round(outage["catch_up"], 2) if outage["catch_up"] is not None else None
            )
        else:
            result["catch_up_seconds"] = None
            result["outage_note"] = "not measured: the server at --url cannot be stopped by the benchmark"
        result["errors"] = sorted(
            set(side_by_side["errors"]) | set(agents["errors"]) | set(_hub_errors(rooms))
        )
    finally:
        if school is not None:
            school.close([r.hub_id for r in rooms + treated])
        shutil.rmtree(folder, ignore_errors=True)
    result["targets"] = TARGETS
    result["targets_met"] = bool(
        result.get("lag_p99_s") is not None
        and result["lag_p99_s"] <= TARGETS["lag_p99_s"]
        and result["replication_cpu_overhead"] is not None
        and result["replication_cpu_overhead"] <= TARGETS["replication_cpu_overhead"]
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["extra"] == 0
        and result["lost_at_hub"] == 0
        and (
            result["catch_up_seconds"] is not None
            and result["catch_up_seconds"] <= TARGETS["catch_up_seconds"]
        )
        and count == params.rooms
    )
    return result


def _compare(school: _School, rooms: list[_Room], agents: dict[str, Any]) -> dict[str, int]:
    lost = duplicated = extra = lost_at_hub = stored = on_server = 0
    with school.admin() as conn:
        for room in rooms:
            local = _sqlite_items(room.db)
            remote = school.keys(conn, room.hub_id)
            local_keys, remote_keys = set(local), set(remote)
            stored += len(local)
            on_server += len(remote)
            lost += len(local_keys - remote_keys)
            extra += len(remote_keys - local_keys)
            duplicated += len(remote) - len(remote_keys)
            for sid in room.students:
                lost_at_hub += sum(
                    1 for seq in range(1, agents["sent"].get(sid, 0) + 1) if (sid, seq) not in local_keys
                )
    students = [sid for room in rooms for sid in room.students]
    sent = sum(agents["sent"].get(sid, 0) for sid in students)
    return {
        "sent": sent,
        "unacked": sent - sum(agents["acked"].get(sid, 0) for sid in students),
        "stored_in_hubs": stored,
        "stored_on_server": on_server,
        "lost": lost,
        "duplicated": duplicated,
        "extra": extra,
        "lost_at_hub": lost_at_hub,
    }


def _lag_and_rate(school: _School, rooms: list[_Room], start: float, end: float) -> dict[str, Any]:
    hub_ids = [r.hub_id for r in rooms]
    with school.admin() as conn:
        row = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at) - ts),"
            " max(extract(epoch FROM stored_at) - ts), count(*)"
            " FROM smartsession.samples WHERE hub_id = ANY(%s) AND ts BETWEEN %s AND %s",
            (hub_ids, start, end),
        ).fetchone()
        stored = conn.execute(
            "SELECT count(*) FROM (SELECT stored_at FROM smartsession.samples WHERE hub_id = ANY(%s)"
            " UNION ALL SELECT stored_at FROM smartsession.events WHERE hub_id = ANY(%s)) t"
            " WHERE stored_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            (hub_ids, hub_ids, start, end),
        ).fetchone()
    assert row is not None and stored is not None
    quantiles, worst, samples = row
    return {
        "rows_per_s": round(int(stored[0]) / (end - start), 1),
        "lag_p50_s": round(float(quantiles[0]), 3) if quantiles else None,
        "lag_p99_s": round(float(quantiles[1]), 3) if quantiles else None,
        "lag_max_s": round(float(worst), 3) if worst is not None else None,
        "lag_samples": int(samples),
    }


def main(argv: list[str]) -> int:
    """Run the school benchmark and print one JSON document; 0 unless the bench itself failed."""
    params = parse_args(argv)
    # Stopped from outside: leave through the same clean-up (hubs stopped, the server destroyed).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        result = run(params)
    except (RuntimeError, OSError) as exc:
        print(f"smartsession bench school: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
