"""``smartsession demo``: a whole class on this machine.

A hub (with the TUI, or headless) plus N simulated students, each a real agent process
that finds the hub through zeroconf on loopback, authenticates with its own machine key
(made from the class key, as `smartsession keygen --student` does) and streams telemetry
over WebSockets. Keys, configs and outboxes live in a temporary folder removed at the end;
the class itself (the database and its reports) is kept in `demo_folder`, under the user's
data folder, and replaced by the next demo, so ``smartsession report --db`` can show it
afterwards: the demo says where at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
import platformdirs

from smartsession.config import Config, load_config, read_secret, write_secret
from smartsession.core.simulate import PROFILES
from smartsession.files import private_folder
from smartsession.hub.service import Hub
from smartsession.keys import MachineKey, write_machine_key

CLASS_ID = "demo-class"
NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Barbara", "Edsger", "Margaret", "Dennis",
    "Frances", "Ken", "Radia", "Guido", "Hedy", "Tim", "Karen", "Donald",
    "Sophie", "John", "Katherine", "Niklaus", "Lynn", "Bjarne", "Shafi", "Leslie",
)  # fmt: skip
#: Seconds an agent gets to flush its outbox and exit after SIGTERM.
AGENT_EXIT_GRACE = 8.0


def demo_folder() -> Path:
    """Where the demo keeps its class: ``demo`` in the user's data folder (e.g. ``~/.local/share/smartsession/demo``)."""
    return Path(platformdirs.user_data_dir("smartsession")) / "demo"


def run_demo(
    *, students: int, headless: bool, duration: float, as_json: bool, seed: int, verbose: bool
) -> int:
    """Run the demo; returns the exit code."""
    if students < 1:
        print("smartsession: --students must be at least 1", file=sys.stderr)
        return 2
    kept = demo_folder()
    shutil.rmtree(kept, ignore_errors=True)  # the last demo's class gives way to this one
    private_folder(kept)
    with tempfile.TemporaryDirectory(prefix="smartsession-demo-") as tmp:
        folder = Path(tmp)
        config = _write_class(folder, kept)
        hub = Hub(config, read_secret(config.secret_path))
        demo_class = DemoClass(hub, folder, students=students, seed=seed, verbose=verbose)
        if headless:
            summary = asyncio.run(_run_headless(demo_class, duration))
            summary |= _keep(config, hub.session_id)
            if as_json:
                print(json.dumps(summary, indent=2))
            else:
                _print_summary(summary)
                _print_kept(summary)
            return 0 if summary["complete"] else 1
        from smartsession.tui.app import create_app

        app = create_app(hub, config.tui, service=demo_class)
        app.run()
        if hub.session_id:
            _print_kept(_keep(config, hub.session_id))
        return app.return_code or 0


def _write_class(folder: Path, kept: Path) -> Config:
    write_secret(folder / "class.secret")
    (folder / "teacher.toml").write_text(
        f"""
[class]
id = "{CLASS_ID}"
secret_file = "class.secret"

[network]
interfaces = ["127.0.0.1"]

[hub]
host = "127.0.0.1"
port = 0
hub_id = "demo-hub"
tls_dir = {json.dumps(str(folder))}

[storage]
database = {json.dumps(str(kept / "demo.db"))}

[report]
folder = {json.dumps(str(kept / "reports"))}
""",
        encoding="utf-8",
    )
    return load_config(folder / "teacher.toml", env={})


def _keep(config: Config, session_id: str) -> dict[str, Any]:
    """Write the session's HTML report beside the kept database; their paths (report None if it failed)."""
    from smartsession.report.export import export_report

    try:
        path, _ = export_report(
            config.database_path,
            session_id,
            "html",
            folder=config.report_folder,
            settings=config.class_settings,
            label_mode=config.tui.label_mode,
        )
    except Exception as exc:  # the class is kept either way; say why there is no report
        print(f"smartsession: could not write the demo's report: {exc}", file=sys.stderr)
        return {"database": str(config.database_path), "report": None}
    return {"database": str(config.database_path), "report": str(path)}


def _print_kept(kept: dict[str, Any]) -> None:
    database = kept["database"]
    print(f"The demo's class is kept in {Path(database).parent} (the next demo replaces it):")
    print(f"  database  {database}")
    if kept["report"]:
        print(f"  report    {kept['report']}")
    print(f"See it again with:  smartsession report --db {database} latest --format html")


class DemoClass(contextlib.AbstractAsyncContextManager["DemoClass"]):
    """The hub plus simulated agent processes, started and stopped together."""

    def __init__(self, hub: Hub, folder: Path, *, students: int, seed: int, verbose: bool) -> None:
        self.hub = hub
        self.folder = folder
        self.students = students
        self.seed = seed
        self.verbose = verbose
        self.processes: list[asyncio.subprocess.Process] = []
        self.profiles: dict[str, str] = {}

    async def __aenter__(self) -> DemoClass:
        await self.hub.start()
        try:
            for index in range(self.students):
                await self._spawn(index)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _spawn(self, index: int) -> None:
        student_id = f"s{index + 1:02d}"
        name = NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else f" {index // len(NAMES) + 1}")
        profile = PROFILES[index % len(PROFILES)]
        self.profiles[student_id] = profile
        class_key = read_secret(self.hub.config.secret_path)
        write_machine_key(
            self.folder / f"{student_id}.key", MachineKey.derive(class_key, CLASS_ID, student_id)
        )
        config_path = self.folder / f"{student_id}.toml"
        config_path.write_text(
            f"""
[class]
id = "{CLASS_ID}"

[network]
interfaces = ["127.0.0.1"]

[agent]
student_id = "{student_id}"
key_file = "{student_id}.key"
display_name = "{name}"
outbox_path = "{student_id}.outbox.sqlite"
""",
            encoding="utf-8",
        )
        command = [
            sys.executable, "-m", "smartsession",
            *(["--verbose"] if self.verbose else []),
            "--log-file", str(self.folder / f"{student_id}.log"),
            "agent", "-c", str(config_path),
            "--simulate", profile,
            "--seed", str(self.seed * 1000 + index),
            "--report", str(self.folder / f"{student_id}.report.json"),
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
        )
        self.processes.append(process)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_agents()
        await self.hub.stop()

    async def stop_agents(self) -> None:
        """Ask every agent to flush and exit; kill the ones that do not."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), AGENT_EXIT_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    def agent_report(self, student_id: str) -> dict[str, Any] | None:
        """The JSON report an agent wrote at exit, if any."""
        path = self.folder / f"{student_id}.report.json"
        try:
            report: dict[str, Any] = msgspec.json.decode(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        return report


async def _run_headless(demo_class: DemoClass, duration: float) -> dict[str, Any]:
    async with demo_class:
        await asyncio.sleep(duration)
        await demo_class.stop_agents()
        hub_rows = {row["student_id"]: row for row in await demo_class.hub.summary()}
    students = []
    for student_id, profile in demo_class.profiles.items():
        row = hub_rows.get(student_id, {})
        report = demo_class.agent_report(student_id) or {}
        produced = int(report.get("last_seq", 0))
        stored = int(row.get("stored", 0))
        students.append(
            {
                "student_id": student_id,
                "name": row.get("name", ""),
                "profile": profile,
                "samples": row.get("samples", 0),
                "events": row.get("events", 0),
                "seq_min": row.get("seq_min"),
                "seq_max": row.get("seq_max"),
                "produced": produced,
                "stored": stored,
                "states_seen": row.get("states_seen", []),
                "alerts_seen": row.get("alerts_seen", []),
            }
        )
    complete = all(s["produced"] > 0 and s["produced"] == s["stored"] for s in students)
    return {
        "class_id": CLASS_ID,
        "session_id": demo_class.hub.session_id,
        "duration_s": duration,
        "students": students,
        "complete": complete,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    print(f"class {summary['class_id']}, session {summary['session_id']}, {summary['duration_s']:.0f} s")
    for s in summary["students"]:
        print(
            f"  {s['student_id']} {s['name']:<10} {s['profile']:<13} samples {s['samples']:>4}  "
            f"seq {s['seq_min']}..{s['seq_max']}  states {','.join(s['states_seen'])}  "
            f"alerts {','.join(s['alerts_seen']) or '-'}"
        )
    print("every produced item stored exactly once" if summary["complete"] else "INCOMPLETE: items missing")
