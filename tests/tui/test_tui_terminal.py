"""The class view in a real terminal: tmux runs `smartsession demo -n 4` (a live hub with four
simulated agent processes on loopback); the tiles are found by name with `capture-pane`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _tmux_installed() -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run scripts/setup as root (scripts/system-packages)")


SMARTSESSION = Path(sys.executable).with_name("smartsession")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def capture(self) -> str:
        return self("capture-pane", "-p", "-t", "tui")

    def wait_for(self, predicate: object, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.capture()
            if callable(predicate) and predicate(text):
                return text
            time.sleep(0.5)
        raise AssertionError(f"screen never matched; last screen:\n{text}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    server = Tmux(f"smartsession-test-{os.getpid()}")
    yield server
    server("kill-server")


def test_teacher_view_in_tmux_shows_live_tiles_and_leaves_nothing(tmux: Tmux, tmp_path: Path) -> None:
    env = f"HOME={tmp_path} XDG_STATE_HOME={tmp_path}/state XDG_DATA_HOME={tmp_path}/data TERM=xterm-256color"
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", f"env {env} {SMARTSESSION} demo -n 4")
    tmux("set-option", "-t", "tui", "remain-on-exit", "on")
    names = ("Ada", "Alan", "Grace", "Linus")
    screen = tmux.wait_for(lambda text: all(name in text for name in names) and "● FOCUSED" in text, 90)
    assert "demo-class" in screen
    assert any(word in screen for word in ("FOCUSED", "CALIBRATING", "CONFUSED", "ALERT"))
    tmux("send-keys", "-t", "tui", "?")
    tmux.wait_for(lambda text: "SmartSession keys" in text, 10)
    tmux("send-keys", "-t", "tui", "Escape")
    tmux.wait_for(lambda text: "SmartSession keys" not in text, 10)
    tmux("send-keys", "-t", "tui", "q")
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and tmux("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() != "1"
    ):
        time.sleep(0.5)
    assert tmux("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() == "1"
    after = tmux.capture()
    assert not any(name in after for name in names), after  # the alternate screen is gone
