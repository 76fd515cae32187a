"""The student is told: a desktop notification on a real session bus, shown by a real server.

A private ``dbus-daemon --session`` with dunst (the notification server) on it, drawing on
Xvfb; dunst runs a script for every notification it shows, which records what it got.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import wait_for

from smartsession.agent.notice import TITLE, NoticeError, notify_desktop, session_bus_address

TOOLS = ("Xvfb", "dbus-daemon", "dunst", "gdbus")


@dataclass
class Desktop:
    """A session bus with a notification server; ``shown()`` lists what it displayed."""

    folder: Path
    address: str
    display: str

    def shown(self) -> list[list[str]]:
        record = self.folder / "shown.tsv"
        text = record.read_text() if record.exists() else ""
        return [line.split("\t") for line in text.splitlines()]

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address, "DISPLAY": self.display}


def server_information(address: str) -> str:
    result = subprocess.run(
        ["gdbus", "call", "--address", address, "--dest", "org.freedesktop.Notifications",
         "--object-path", "/org/freedesktop/Notifications",
         "--method", "org.freedesktop.Notifications.GetServerInformation"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    missing = [
        t for t in TOOLS if subprocess.run(["sh", "-c", f"command -v {t}"], capture_output=True).returncode
    ]
    if missing:
        pytest.fail(
            f"the notice tests need {', '.join(missing)}: run scripts/setup as root (scripts/system-packages)"
        )
    folder = tmp_path_factory.mktemp("desktop")
    (folder / "record.sh").write_text(
        f'#!/bin/sh\nprintf \'%s\\t%s\\t%s\\t%s\\n\' "$1" "$2" "$3" "$5" >> {folder / "shown.tsv"}\n'
    )
    (folder / "record.sh").chmod(0o755)
    (folder / "dunstrc").write_text(
        f'[global]\n    font = Monospace 8\n[record]\n    appname = "*"\n    script = {folder / "record.sh"}\n'
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        read, write = os.pipe()
        processes.append(
            subprocess.Popen(
                ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "800x600x24"],
                pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        os.close(write)
        with os.fdopen(read) as numbers:
            display = f":{numbers.readline().strip()}"
        address = f"unix:path={folder / 'bus'}"
        processes.append(
            subprocess.Popen(
                ["dbus-daemon", "--session", f"--address={address}", "--nofork", "--nopidfile"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_for(lambda: (folder / "bus").exists(), 10, "the session bus")
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "DISPLAY": display}
        processes.append(
            subprocess.Popen(
                ["dunst", "-config", str(folder / "dunstrc")], env=env,
                stdout=subprocess.DEVNULL, stderr=open(folder / "dunst.log", "wb"),  # noqa: SIM115
            )
        )  # fmt: skip
        wait_for(lambda: "dunst" in server_information(address), 20, "dunst on the bus")
        yield Desktop(folder, address, display)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(10)


def smartsession(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SMARTSESSION", "DBUS_", "XDG_RUNTIME"))
    }
    return subprocess.run(
        [sys.executable, "-m", "smartsession", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**clean, "SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": "", **env},
    )  # fmt: skip


def test_the_login_notice_is_shown_by_the_desktop_notification_server(
    desktop: Desktop, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[class]\nid = "room-12"\n[agent]\nstudent_id = "pc-07"\nstatus_file = "{tmp_path}/s.json"\n'
    )
    before = len(desktop.shown())
    result = smartsession("notice", "-c", str(config), env=desktop.env)
    assert result.returncode == 0, result.stderr
    assert "shown on the desktop (notification " in result.stdout
    wait_for(
        lambda: len(desktop.shown()) > before, 10, "dunst to show the notice", lambda: str(desktop.shown())
    )
    app, summary, body, urgency = desktop.shown()[-1]
    assert (app, summary, urgency) == ("SmartSession", TITLE, "NORMAL")
    assert "Monitoring is on for class room-12 (student pc-07)" in body
    assert "attention and confusion scores" in body  # what is measured
    assert "Never sent or stored anywhere: images, video, sound, your screen or your files" in body
    assert body in result.stdout  # the same text on the terminal


def test_the_agent_tells_the_student_on_the_desktop_at_start(desktop: Desktop, tmp_path: Path) -> None:
    from helpers import write_agent_key

    from smartsession.config import write_secret

    write_secret(tmp_path / "class.secret")
    write_agent_key(tmp_path, "room-12", "pc-08")
    config = tmp_path / "agent.toml"
    config.write_text(
        '[class]\nid = "room-12"\n[network]\ndiscovery = false\n'
        f'[agent]\nhub_url = "wss://127.0.0.1:9/"\noutbox_path = "{tmp_path}/o.sqlite"\nstatus_file = "{tmp_path}/s.json"\n'
    )
    before = len(desktop.shown())
    log = tmp_path / "agent.log"
    agent = subprocess.Popen(
        [sys.executable, "-m", "smartsession", "--log-file", str(log), "agent", "-c", str(config), "--simulate", "attentive"],
        env={**os.environ, **desktop.env, "SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": ""},
    )  # fmt: skip
    try:
        wait_for(
            lambda: len(desktop.shown()) > before,
            30,
            "the agent's notice on the desktop",
            lambda: log.read_text(),
        )
    finally:
        agent.terminate()
        agent.wait(20)
    assert "student pc-08" in desktop.shown()[-1][2]
    assert "the notice is shown on the desktop (notification " in log.read_text()


def test_without_a_desktop_session_there_is_no_bus_and_a_dead_one_is_one_sentence(tmp_path: Path) -> None:
    assert session_bus_address({}) == ""
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == ""  # no bus socket there
    with pytest.raises(NoticeError, match="cannot reach the desktop session bus"):
        notify_desktop("x", address=f"unix:path={tmp_path / 'nobody-listens'}")
