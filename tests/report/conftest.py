"""One class session recorded by real simulated agents through a real hub, shared by the report tests.

Four in-process agents (`run_agent` + `SimulatedSource`) find an in-process `Hub` through
zeroconf on 127.0.0.1 and stream over TLS WebSockets into a real SQLite file for about
18 s; the teacher marks two segments; one student joins late and one on the roster never
joins. Tests only read the database (or copy it before changing it).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from smartsession.agent.runner import run_agent
from smartsession.agent.sources import SimulatedSource
from smartsession.config import (
    AgentConfig,
    ClassConfig,
    Config,
    HubConfig,
    NetworkConfig,
    ReportConfig,
    RosterConfig,
    StorageConfig,
)
from smartsession.hub import Hub
from smartsession.keys import MachineKey

SECRET = bytes(range(32))
#: id -> (name, simulated profile, seconds after the start it joins)
STUDENTS = {
    "pc-01": ("Ada Lovelace", "confused", 0.0),
    "pc-02": ("Alan Turing", "attentive", 0.0),
    "pc-03": ("Zoë Çelik", "crowd", 0.0),
    "pc-04": ("Edsger Dijkstra", "distracted", 8.0),
}
ABSENT = ("pc-09", "Grace Hopper")
SESSION_SECONDS = 18.0
SEGMENT_AT = 9.0
LATE_AFTER_MINUTES = 0.1  # 6 s: pc-04 joins at 8 s


@dataclass(frozen=True)
class Recorded:
    folder: Path
    db: Path
    config: Config
    teacher_toml: Path
    session_id: str


def teacher_config(folder: Path, class_id: str) -> Config:
    roster = {sid: name for sid, (name, _, _) in STUDENTS.items()} | {ABSENT[0]: ABSENT[1]}
    return Config(
        class_=ClassConfig(id=class_id),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=True),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id="report-hub"),
        storage=StorageConfig(database=str(folder / "hub.db"), batch_interval=0.05),
        report=ReportConfig(late_after_minutes=LATE_AFTER_MINUTES),
        roster=RosterConfig(students=roster),
        base_dir=str(folder),
    )


async def record(config: Config) -> str:
    stop = asyncio.Event()
    agents: list[asyncio.Task[object]] = []

    def start_agent(student_id: str, name: str, profile: str, seed: int) -> None:
        agent_config = msgspec.structs.replace(
            config, agent=AgentConfig(student_id=student_id, display_name=name, reconnect_max=1.0)
        )
        source = SimulatedSource(profile, seed, agent_config.agent.frame_rate)
        agents.append(
            asyncio.create_task(
                run_agent(agent_config, MachineKey.derive(SECRET, config.class_.id, student_id), source, stop)
            )
        )

    async with Hub(config, SECRET) as hub:
        t0 = time.monotonic()
        await hub.mark_segment("Introduction")
        pending = sorted(STUDENTS.items(), key=lambda kv: kv[1][2])
        segment_marked = False
        while time.monotonic() - t0 < SESSION_SECONDS:
            elapsed = time.monotonic() - t0
            while pending and pending[0][1][2] <= elapsed:
                sid, (name, profile, _) = pending.pop(0)
                start_agent(sid, name, profile, seed=len(agents) + 3)
            if not segment_marked and elapsed >= SEGMENT_AT:
                await hub.mark_segment("Recursion: worked example")
                segment_marked = True
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*agents), 30.0)
        await hub.store.flush()
        return hub.session_id


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("recorded")
    config = teacher_config(folder, f"report-{os.getpid()}")
    session_id = asyncio.run(record(config))
    (folder / "class.secret").write_text(SECRET.hex() + "\n")
    os.chmod(folder / "class.secret", 0o600)
    roster = "\n".join(f'{sid} = "{name}"' for sid, name in config.roster.students.items())
    teacher_toml = folder / "teacher.toml"
    teacher_toml.write_text(
        f'[class]\nid = "{config.class_.id}"\n[storage]\ndatabase = "hub.db"\n'
        f"[report]\nlate_after_minutes = {LATE_AFTER_MINUTES}\n[roster.students]\n{roster}\n",
        encoding="utf-8",
    )
    return Recorded(folder, folder / "hub.db", config, teacher_toml, session_id)


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a live or closed database (SQLite backup API)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@dataclass(frozen=True)
class Eventful:
    """A copy of the recorded session with what a lesson may also hold: a class alert (a
    confusion spike), a time the hub was down, and alert details naming the score and an
    expression (as a student's machine may send them)."""

    folder: Path
    db: Path
    session_id: str

    def teacher_toml(self, label_mode: str) -> Path:
        """A teacher config over this database in ``label_mode`` (with the recorded roster)."""
        roster = "\n".join(f'{sid} = "{name}"' for sid, (name, _, _) in STUDENTS.items())
        path = self.folder / f"teacher-{label_mode}.toml"
        path.write_text(
            f'[class]\nid = "eventful"\n[storage]\ndatabase = "{self.db.name}"\n[tui]\nlabel_mode = "{label_mode}"\n'
            f'[report]\nlate_after_minutes = {LATE_AFTER_MINUTES}\nfolder = "reports-{label_mode}"\n'
            f'[roster.students]\n{roster}\n{ABSENT[0]} = "{ABSENT[1]}"\n',
            encoding="utf-8",
        )
        return path


#: Alert details as students' machines word them (the engine's state changes name states).
DETAILS = ("focused -> confused: confusion 0.81", "negative expression 0.62 (sad) for 4 s")


@pytest.fixture(scope="session")
def eventful(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Eventful:
    folder = tmp_path_factory.mktemp("eventful")
    db = copy_db(recorded.db, folder / "hub.db")
    with sqlite3.connect(db) as conn:
        (start,) = conn.execute("SELECT started_at FROM sessions").fetchone()
        conn.execute(
            "INSERT INTO class_events (session_id, kind, number, started_at, ended_at, onset, present, peak,"
            " segment, students) VALUES (?, 'spike', 1, ?, ?, ?, 4, 3, 2, 'pc-01 pc-03')",
            (recorded.session_id, start + 11.0, start + 14.5, start + 1.0),
        )
        conn.execute(
            "INSERT INTO class_events (session_id, kind, number, started_at, ended_at, onset, present, peak,"
            " segment, students) VALUES (?, 'hub_offline', 1, ?, ?, ?, 2, 0, NULL, 'pc-01 pc-02')",
            (recorded.session_id, start + 15.2, start + 16.6, start + 15.2),
        )
        for i, detail in enumerate(DETAILS):  # two more alerts of pc-02, each cleared 2 s later
            for kind, at in (("alert", start + 3.0 + 4 * i), ("alert_cleared", start + 5.0 + 4 * i)):
                conn.execute(
                    "INSERT INTO events (student_id, seq, session_id, ts, kind, state, reason, detail)"
                    " VALUES ('pc-02', ?, ?, ?, ?, 'alert', 'looking_away', ?)",
                    (100_000 + 2 * i + (kind != "alert"), recorded.session_id, at, kind, detail),
                )
    return Eventful(folder, db, recorded.session_id)
