"""The template handed to a real vision process: the agent opens the sealed file with the
machine key, the child gets it through its stdin pipe (never its command line or
environment), checks the real face in a real clip and sends back only a word and a distance."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from smartsession.agent.isolation import SeatSetup, VisionProcess, probe_isolation, seat_setup
from smartsession.config import CameraConfig, IdentityConfig
from smartsession.core.identity import SeatCheck, SeatResult
from smartsession.core.signals import FrameSignals
from smartsession.keys import MachineKey
from smartsession.seat_template import Template, write_template

ISOLATED = probe_isolation().isolated
KEY = MachineKey.derive(bytes(range(32)), "cs101", "s07")


def _setup(folder: Path, descriptor: np.ndarray | None, *, enabled: bool = True) -> SeatSetup | None:
    path = folder / "seat-template.bin"
    if descriptor is not None:
        write_template(path, Template(tuple(float(v) for v in descriptor), 5, 1.7e9), KEY)
    return seat_setup(IdentityConfig(enabled=enabled, interval=5.0), path, KEY)


def _vision(clip: Path, seat: SeatSetup | None) -> VisionProcess:
    camera = CameraConfig(device=str(clip), allow_unisolated=not ISOLATED)
    return VisionProcess(camera, 10.0, loop_video=True, seat=seat)


def _first_check(source: VisionProcess, frames: int = 40) -> tuple[SeatCheck, list[FrameSignals]]:
    read = []
    for _ in range(frames):
        frame = source.read()
        read.append(frame)
        if frame.seat is not None:
            return frame.seat, read
    raise AssertionError(f"no seat check in {frames} frames: {read[-1]}")


def _proc_text(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")


def test_the_enrolled_student_matches_again_after_a_restart(
    tmp_path: Path, clips: dict[str, Path], portrait_descriptors: dict[str, np.ndarray]
) -> None:
    grace = portrait_descriptors["grace_hopper"]
    setup = _setup(tmp_path, grace)
    assert setup is not None and setup.template is not None
    assert np.allclose(setup.template, grace, atol=1e-6)  # opened with the machine key
    source = _vision(clips["grace_hopper"], setup)
    try:
        source.start()
        pid = source.pid
        assert pid is not None
        # Nothing of the template is on the child's command line or in its environment.
        command, environ = _proc_text(pid, "cmdline"), _proc_text(pid, "environ")
        assert "--seat-check" in command
        for value in grace[:16]:
            for text in (repr(float(value)), f"{value:.5f}"):
                assert text not in command and text not in environ
        check, frames = _first_check(source)
        assert check.result is SeatResult.MATCH and check.distance is not None and check.distance < 0.3
        assert frames[-1].faces == 1
        assert set(msgspec.structs.asdict(check)) == {"result", "distance", "t"}
        # A restarted child gets the template again and checks at once.
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        again: SeatCheck | None = None
        while again is None and time.monotonic() < deadline:
            frame = source.read()
            if source.pid not in (None, pid):
                again = frame.seat
        assert again is not None and again.result is SeatResult.MATCH, again
    finally:
        source.close()


def test_another_face_is_a_mismatch(
    tmp_path: Path, clips: dict[str, Path], portrait_descriptors: dict[str, np.ndarray]
) -> None:
    source = _vision(clips["grace_hopper"], _setup(tmp_path, portrait_descriptors["astronaut"]))
    try:
        source.start()
        check, _ = _first_check(source)
        # The next check is due 5 s later (identity.interval), not on every frame.
        later = [source.read() for _ in range(10)]
    finally:
        source.close()
    assert check.result is SeatResult.MISMATCH and check.distance is not None and check.distance > 0.52
    assert all(f.seat is None for f in later)


def test_a_template_that_does_not_open_counts_as_not_enrolled(
    tmp_path: Path, clips: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (tmp_path / "seat-template.bin").write_bytes(b"smartsession-seat-template-1\n" + bytes(64))
    setup = _setup(tmp_path, None)
    assert setup == SeatSetup(template=None, interval=5.0, threshold=0.52)
    assert any("does not open" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    source = _vision(clips["grace_hopper"], setup)
    try:
        source.start()
        check, _ = _first_check(source)
    finally:
        source.close()
    assert check.result is SeatResult.NOT_ENROLLED and check.distance is None


def test_no_template_is_not_enrolled_and_disabled_is_no_check(tmp_path: Path) -> None:
    assert _setup(tmp_path, None) == SeatSetup(template=None, interval=5.0, threshold=0.52)
    assert _setup(tmp_path, np.ones(128, np.float32), enabled=False) is None
    source = _vision(tmp_path / "none.avi", None)
    assert "--seat-check" not in source.command()
