"""The vision process: no network inside, signals through the pipe, nothing image-sized out."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import matplotlib.cbook
import msgspec
import numpy as np
import pytest
from helpers import write_agent_key

from smartsession.agent import isolation
from smartsession.agent.isolation import Frame, Hello, MessageReader, VisionProcess, probe_isolation
from smartsession.config import CameraConfig
from smartsession.core import protocol
from smartsession.core.engagement import Change, EngagementEngine
from smartsession.core.protocol import VisionMode
from smartsession.core.settings import EngagementSettings
from smartsession.core.signals import EXPRESSIONS, CameraStatus, FrameSignals
from smartsession.core.states import AlertReason, State
from smartsession.errors import AgentError

PROBE = probe_isolation()
ISOLATED = PROBE.isolated


@pytest.fixture
def needs_isolation() -> None:
    """The tests that prove isolation fail, never skip, where the machine cannot isolate."""
    probe = PROBE
    if not probe.isolated:
        pytest.fail(f"this machine cannot give the vision process an empty network namespace: {probe.detail}")


MJPG = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds (at 5 fps) of Grace Hopper in a 640x480 MJPG file."""
    image: Any = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 40:600] = cv2.resize(image, (560, 480))
    path = tmp_path_factory.mktemp("video") / "face.avi"
    writer = cv2.VideoWriter(str(path), MJPG, 5, (640, 480))
    for _ in range(10):
        writer.write(frame)
    writer.release()
    return path


class CountingServer:
    """A TCP server on 127.0.0.1 (the test's own namespace) that counts connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer()
    yield srv
    srv.close()


def test_server_is_reachable_from_the_test_itself(server: CountingServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass
    deadline = time.monotonic() + 2
    while server.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.accepted == 1


@pytest.mark.usefixtures("needs_isolation")
def test_vision_process_has_no_network_yet_streams_signals(
    face_video: Path, server: CountingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    targets = (f"127.0.0.1:{server.port}", "play.googleapis.com:443")
    extra: list[str] = []
    for target in targets:
        extra += ["--self-test-connect", target]
    source = VisionProcess(CameraConfig(device=str(face_video)), 10.0, extra_args=tuple(extra))
    try:
        hello = source.start()
        assert hello.isolated and source.isolated
        assert source.vision is VisionMode.ISOLATED  # what the agent reports to the hub
        frames = [source.read() for _ in range(4)]
    finally:
        source.close()
    assert all(f.camera is CameraStatus.OK and f.faces == 1 for f in frames)
    assert all(len(f.expressions) == len(EXPRESSIONS) for f in frames)
    messages = [r.getMessage() for r in caplog.records]
    for target in targets:
        assert any(f"connect to {target} failed" in m for m in messages), messages
    assert not any("connected to" in m for m in messages)
    assert server.accepted == 0


def test_frames_come_when_scheduled_from_a_lower_priority_process(face_video: Path) -> None:
    source = VisionProcess(CameraConfig(device=str(face_video), allow_unisolated=not ISOLATED), 5.0)
    try:
        source.start()
        assert source.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, source.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 10
        first = source.read()
        source.schedule(first.t + 0.5)
        second = source.read()
        source.schedule(second.t + 0.2)
        third = source.read()
    finally:
        source.close()
    assert all(f.camera is CameraStatus.OK and f.faces == 1 for f in (first, second, third))
    assert 0.5 <= second.t - first.t < 0.65
    assert 0.2 <= third.t - second.t < 0.35


def test_unisolated_child_is_refused_unless_allowed(
    face_video: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(isolation.NO_ISOLATION_ENV, "1")
    refused = VisionProcess(CameraConfig(device=str(face_video)), 10.0)
    with pytest.raises(AgentError, match="allow_unisolated"):
        refused.start()
    refused.close()
    caplog.set_level(logging.WARNING)
    allowed = VisionProcess(CameraConfig(device="/dev/video-missing", allow_unisolated=True), 10.0)
    try:
        hello = allowed.start()
        assert not hello.isolated and allowed.isolated is False
        assert allowed.vision is VisionMode.UNISOLATED
        frame = allowed.read()
    finally:
        allowed.close()
    assert frame.camera is CameraStatus.UNAVAILABLE
    assert any("could NOT be isolated" in r.getMessage() for r in caplog.records)


def test_missing_camera_alerts_and_a_crashed_child_is_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    source = VisionProcess(
        CameraConfig(device="/dev/video-missing", allow_unisolated=not ISOLATED),
        10.0,
        retry_initial=0.2,
        retry_max=0.4,
    )
    engine = EngagementEngine(EngagementSettings())
    changes: list[Change] = []
    try:
        source.start()
        first_pid = source.pid
        for _ in range(20):
            changes += [c for c in engine.update(source.read()) if isinstance(c, Change)]
        assert "camera /dev/video-missing not found" in source.reason
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        frames = [source.read() for _ in range(3)]
        assert all(f.camera is CameraStatus.UNAVAILABLE for f in frames)
        deadline = time.monotonic() + 60
        while source.pid in (None, first_pid) and time.monotonic() < deadline:
            source.read()
        assert source.pid not in (None, first_pid)
    finally:
        source.close()
    assert any(c.reason is AlertReason.CAMERA_UNAVAILABLE for c in changes)
    messages = [r.getMessage() for r in caplog.records]
    assert any("does not exist" in m for m in messages), messages
    assert any("vision process exited" in m and "restarting" in m for m in messages), messages


def test_agent_command_runs_on_a_missing_camera_and_says_why(tmp_path: Path) -> None:
    secret = tmp_path / "class.secret"
    subprocess.run(
        [sys.executable, "-m", "smartsession", "keygen", str(secret)], check=True, capture_output=True
    )
    write_agent_key(tmp_path, "class", "pc-1")
    config = tmp_path / "agent.toml"
    config.write_text(
        "[network]\ndiscovery = false\n"
        '[agent]\nhub_url = "ws://127.0.0.1:9/"\nstudent_id = "pc-1"\n'
        f'[camera]\ndevice = "/dev/video-missing"\nallow_unisolated = {str(not ISOLATED).lower()}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartsession", "agent", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(6)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "camera /dev/video-missing not found" in err
    assert "Traceback" not in err


# Nothing image-sized can leave ------------------------------------------------------------


def _check_type(info: Any, where: str, seen: set[int]) -> None:
    """Every field is a number, a bool, an enum, None or a bounded short string/array."""
    ti = msgspec.inspect
    if isinstance(info, ti.StructType | ti.DataclassType):
        if id(info.cls) in seen:
            return
        seen.add(id(info.cls))
        for field in info.fields:
            _check_type(field.type, f"{where}.{field.name}", seen)
    elif isinstance(info, ti.UnionType):
        for member in info.types:
            _check_type(member, where, seen)
    elif isinstance(info, ti.BytesType | ti.ByteArrayType | ti.MemoryViewType | ti.AnyType):
        raise AssertionError(f"{where} could carry raw bytes: {info}")
    elif isinstance(info, ti.StrType):
        assert (info.max_length is not None and info.max_length <= 160) or info.pattern, (
            f"{where}: unbounded text"
        )
    elif isinstance(info, ti.ListType | ti.VarTupleType | ti.SetType | ti.FrozenSetType):
        assert info.max_length is not None and info.max_length <= 256, f"{where}: unbounded array"
        _check_type(info.item_type, f"{where}[]", seen)
    elif isinstance(info, ti.TupleType):
        for i, item in enumerate(info.item_types):
            _check_type(item, f"{where}[{i}]", seen)
    else:
        allowed = ti.IntType | ti.FloatType | ti.BoolType | ti.NoneType | ti.EnumType | ti.LiteralType
        assert isinstance(info, allowed), f"{where}: unexpected {info}"


def test_no_agent_message_type_can_carry_an_image() -> None:
    for cls in (protocol.Join, protocol.Sample, protocol.Event, protocol.Batch):
        _check_type(msgspec.inspect.type_info(cls), cls.__name__, set())


def test_largest_sample_is_small() -> None:
    cues = protocol.Cues(**{f.name: 1.0 for f in msgspec.structs.fields(protocol.Cues)})
    sample = protocol.Sample(
        seq=2**53,
        ts=1e11,
        state=State.ALERT,
        attention=1.0,
        confusion=1.0,
        faces=64,
        alert=AlertReason.MULTIPLE_FACES,
        reasons=("x" * 160,) * protocol.MAX_REASONS,
        cues=cues,
    )
    assert len(protocol.encode(sample)) < 2000


def test_vision_pipe_carries_only_small_messages() -> None:
    signals = FrameSignals(t=1e11, faces=64, expressions=(1.0,) * len(EXPRESSIONS))
    assert len(isolation.encode(Frame(signals=signals, problem="x" * 300))) < 1024
    with pytest.raises(ValueError, match="exceeds"):
        isolation.encode(Frame(signals=FrameSignals(t=0.0, expressions=(0.5,) * 2000)))
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, isolation.encode(Hello(isolated=True, method="test")))
        os.write(write_fd, (10**6).to_bytes(4, "big") + b"\0" * 100)
        reader = MessageReader(read_fd)
        assert reader.read(1.0) == Hello(isolated=True, method="test")
        with pytest.raises(ValueError, match="max 4096"):
            reader.read(1.0)
    finally:
        os.close(read_fd)
        os.close(write_fd)
