"""The seat check from camera to report: a real ``smartsession agent`` process with its real
isolated vision child, a clip of a real face, the template sealed with the machine key, a real
hub (TLS, SQLite), then the report. Only a word, a distance and counts cross the network."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sqlite3
import sys
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from smartsession.agent.isolation import probe_isolation
from smartsession.config import ClassConfig, Config, HubConfig, NetworkConfig, StorageConfig
from smartsession.core.identity import SeatResult
from smartsession.core.snapshots import AlertRaised, RosterEvent
from smartsession.core.states import AlertReason, State
from smartsession.core.wording import CUES_FORBIDDEN
from smartsession.hub import Hub
from smartsession.keys import MachineKey, write_machine_key
from smartsession.report.commands import report_main
from smartsession.report.export import load_report, summary_text
from smartsession.seat_template import Template, write_template

CLASS = "cs101"
SECRET = bytes(range(32))
ISOLATED = probe_isolation().isolated


async def _wait(predicate: object, seconds: float, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():  # type: ignore[operator]
        assert proc.returncode is None, "the agent exited"
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("enrolled", ["astronaut", None])
async def test_a_real_agent_reports_the_seat_check_to_the_hub_and_the_report(
    tmp_path: Path, clips: dict[str, Path], portrait_descriptors: dict[str, np.ndarray], enrolled: str | None
) -> None:
    """Grace Hopper sits at pc-07: enrolled as the astronaut, every check mismatches and the
    "different person" alert is raised; with nobody enrolled every check says so."""
    key = MachineKey.derive(SECRET, CLASS, "pc-07")
    write_machine_key(tmp_path / "machine.key", key)
    descriptor = portrait_descriptors[enrolled] if enrolled else None
    if descriptor is not None:
        write_template(tmp_path / "seat-template.bin", Template(tuple(map(float, descriptor)), 5, 1.7e9), key)
    hub_config = Config(
        class_=ClassConfig(id=CLASS),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id="hub1"),
        storage=StorageConfig(database=str(tmp_path / "hub.db"), batch_interval=0.05),
    )
    alerts: list[AlertRaised] = []
    async with Hub(hub_config, SECRET) as hub:

        def listener(event: RosterEvent) -> None:
            if isinstance(event, AlertRaised):
                alerts.append(event)

        hub.subscribe(listener)
        (tmp_path / "agent.toml").write_text(
            f'[class]\nid = "{CLASS}"\n\n[network]\ndiscovery = false\n\n'
            f'[agent]\nstudent_id = "pc-07"\nhub_url = "{hub.url}"\nkey_file = "machine.key"\n'
            f'outbox_path = "outbox.db"\n\n'
            f'[camera]\ndevice = "{clips["grace_hopper"]}"\nallow_unisolated = {str(not ISOLATED).lower()}\n\n'
            "[identity]\nenabled = true\ninterval = 5\nmismatch_checks = 2\n"
        )
        env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin:/bin"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smartsession",
            "agent",
            "-c",
            str(tmp_path / "agent.toml"),
            "--loop-video",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**env, "PYTHONPATH": ":".join(sys.path)},
        )
        try:

            def seat() -> object:
                student = next((s for s in hub.roster.students() if s.student_id == "pc-07"), None)
                return student.seat if student is not None else None

            if enrolled:
                await _wait(
                    lambda: any(a.alert.reason is AlertReason.DIFFERENT_PERSON for a in alerts), 90, proc
                )
            else:
                await _wait(lambda: seat() is not None and seat().checks == 0, 90, proc)  # type: ignore[attr-defined]
            student = next(s for s in hub.roster.students() if s.student_id == "pc-07")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert student.seat is not None
        if enrolled:
            assert student.state is State.ALERT and student.alert is AlertReason.DIFFERENT_PERSON
            assert student.seat.result is SeatResult.MISMATCH and student.seat.mismatches >= 2
            assert student.seat.distance is not None and student.seat.distance > 0.52
            (alert,) = [a.alert for a in alerts if a.alert.reason is AlertReason.DIFFERENT_PERSON]
            assert alert.detail.startswith(
                "seat check: the face differs from the one enrolled here (2 checks"
            )
            assert student.seat.mark == "seat ✗"
        else:
            assert student.seat.result is SeatResult.NOT_ENROLLED and student.seat.mark == "seat ?"
            assert not any(a.alert.reason is AlertReason.DIFFERENT_PERSON for a in alerts)
        assert "seat check on" in err.decode()
        await hub.store.flush()

    # What reached the hub: the word, the distance and counts, nothing of the template.
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        stored = [json.loads(s) for (s,) in conn.execute("SELECT seat FROM samples WHERE seat IS NOT NULL")]
        everything = "\n".join(
            str(row) for table in ("samples", "events") for row in conn.execute(f"SELECT * FROM {table}")
        )
    assert stored and all(set(s) == {"result", "distance", "checks", "mismatches"} for s in stored)
    if descriptor is not None:
        for value in descriptor[:16]:
            assert f"{value:.4f}" not in everything and repr(float(value)) not in everything

    # The report lists it per student.
    out = tmp_path / "report.json"
    assert report_main(["--db", str(tmp_path / "hub.db"), "--format", "json", "-o", str(out)]) == 0
    (row,) = [s for s in json.loads(out.read_text())["students"] if s["student_id"] == "pc-07"]
    if enrolled:
        assert row["seat"]["enrolled"] is True and row["seat"]["mismatches"] == row["seat"]["checks"] >= 2
        assert len(row["seat"]["mismatch_times"]) == row["seat"]["mismatches"]
        _check_other_formats(tmp_path, row["seat"]["mismatches"])
    else:
        assert row["seat"] == {
            "enrolled": False,
            "checks": 0,
            "matches": 0,
            "mismatches": 0,
            "mismatch_times": [],
            "latest": "not_enrolled",
        }


def _check_other_formats(folder: Path, mismatches: int) -> None:
    """HTML, CSV and xlsx list the same, with the words saying it is a check for a human."""
    for fmt, suffix in (("html", "html"), ("csv", "zip"), ("xlsx", "xlsx")):
        out = str(folder / f"r.{suffix}")
        assert report_main(["--db", str(folder / "hub.db"), "--format", fmt, "-o", out]) == 0
    page = (folder / "r.html").read_text()
    section = page[page.index('<section id="seat-checks">') :]
    section = section[: section.index("</section>")]
    assert "a check for a human to review, not an identification" in section
    assert "<td>pc-07</td><td>yes</td>" in section and f'<td class="n">{mismatches}</td>' in section
    assert not CUES_FORBIDDEN.search(section)
    with zipfile.ZipFile(folder / "r.zip") as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("seat_checks.csv").decode("utf-8-sig"))))
    assert [(r["student_id"], r["enrolled"], r["mismatches"]) for r in rows] == [
        ("pc-07", "yes", str(mismatches))
    ]
    assert len(rows[0]["mismatch_times"].split(" ")) == 2 * mismatches  # date and time each
    book = openpyxl.load_workbook(folder / "r.xlsx")
    sheet = list(book["seat_checks"].iter_rows(values_only=True))
    assert sheet[0][:6] == ("student_id", "name", "enrolled", "checks", "checks_passed", "mismatches")
    assert sheet[1][0] == "pc-07" and sheet[1][5] == mismatches
    mail = summary_text(load_report(folder / "hub.db", label_mode="cues"))
    assert "Seat checks (1 machine; a check for a human to review, not an identification):" in mail
    assert f"pc-07: 0 of {mismatches} checks passed, {mismatches} mismatches at " in mail
