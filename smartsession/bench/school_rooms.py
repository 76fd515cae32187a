"""The rooms of ``smartsession bench school``: one real ``smartsession hub`` process per room.

`make_rooms` lays out each room's folder (class key, unique student ids), `write_config`
its teacher config (with or without ``[school]``), `start_hubs` / `stop_hubs` run the hub
processes, and `hub_cpu`, `replicator_cpu` and `hub_errors` read what they did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from smartsession.bench.hub_load import SECRET, STEP_TIMEOUT
from smartsession.bench.procfs import cpu_seconds
from smartsession.logs import parse_logfmt

#: Seconds to wait for every hub to listen (and for the simulated agents to join).
START_TIMEOUT = 180.0
#: Memory (MiB) one room takes: a hub process and its share of the load generators.
ROOM_MB = 120.0


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


@dataclass
class Room:
    """One room: its hub's ids, folder, port and students, and the hub process once started."""

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


def make_rooms(folder: Path, count: int, students: int, prefix: str, phase: str) -> list[Room]:
    """``count`` rooms under ``folder/phase``, hub ids ``prefix-NN``, ``students`` each (ids unique in the run)."""
    rooms = []
    for i in range(count):
        hub_id = f"{prefix}-{i:02d}"
        room = Room(
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


def write_config(room: Room, school: tuple[str, Path] | None) -> Path:
    """The room's teacher config; ``school``: (database URL, password file) to replicate."""
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


def start_hubs(rooms: list[Room], configs: list[Path]) -> None:
    """Start each room's hub with its config; returns once every one listens (RuntimeError if not)."""
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


def stop_hubs(rooms: list[Room]) -> None:
    """SIGTERM every hub (they ship their last rows), then wait; kill those that do not end."""
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


def hub_cpu(rooms: list[Room]) -> float:
    """CPU seconds the rooms' hub processes used so far."""
    return sum(cpu_seconds(room.process.pid) for room in rooms if room.process is not None)


def replicator_cpu(rooms: list[Room]) -> float:
    """CPU seconds the hubs' replicator threads used, from the line each hub logs at stop."""
    total = 0.0
    for room in rooms:
        for line in room.log.read_text().splitlines() if room.log.exists() else []:
            message = parse_logfmt(line).get("msg", "")
            if "school replication stopped:" in message:
                total += float(message.rsplit(", ", 1)[1].split(" s of CPU")[0])
    return total


def hub_errors(rooms: list[Room]) -> list[str]:
    """The distinct error messages of the rooms' hub logs."""
    found: set[str] = set()
    for room in rooms:
        if room.log.exists():
            records = [parse_logfmt(line) for line in room.log.read_text().splitlines()]
            found.update(r.get("msg", "") for r in records if r.get("level") == "error")
    return sorted(found)
