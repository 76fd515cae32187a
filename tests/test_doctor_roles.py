"""``smartsession doctor`` per role, against real hubs on 127.0.0.1: each failing check on its own.

A lab machine whose hub answers passes (and the hub got no telemetry); then, one at a time:
a key others can read, a missing camera, a tampered model, no hub. The teacher's machine:
its running hub holds the port and is announced; a second hub for the class fails the check.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import stored_seqs, wait_for, write_agent_key

import smartsession
from smartsession.config import write_secret

CLASS_ID = "doctor-class"
ENV = {"SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": ""}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def doctor(*args: str, pythonpath: str = "") -> subprocess.CompletedProcess[str]:
    """``smartsession doctor``; with ``pythonpath``, the package found there (run from that folder)."""
    env = {**os.environ, **ENV} | ({"PYTHONPATH": pythonpath} if pythonpath else {})
    return subprocess.run(
        [sys.executable, "-m", "smartsession", "doctor", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=pythonpath or None,
    )  # fmt: skip


def teacher_config(folder: Path, hub_id: str, port: int) -> Path:
    path = folder / f"{hub_id}.toml"
    path.write_text(
        f'[class]\nid = "{CLASS_ID}"\n[network]\ninterfaces = ["127.0.0.1"]\n'
        f'[hub]\nhost = "127.0.0.1"\nport = {port}\nhub_id = "{hub_id}"\ntls_dir = "{hub_id}-tls"\n'
        f'[storage]\ndatabase = "{hub_id}.db"\n'
    )
    return path


def start_hub(folder: Path, config: Path) -> subprocess.Popen[bytes]:
    log = folder / f"{config.stem}.log"
    hub = subprocess.Popen(
        [sys.executable, "-m", "smartsession", "--log-file", str(log), "hub", "-c", str(config)],
        env={**os.environ, **ENV}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: log.exists() and "announcing" in log.read_text(), 30, "the hub to announce itself")
    return hub


@pytest.fixture
def teacher(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The teacher's folder (class key) with its hub running; yields (folder, config)."""
    write_secret(tmp_path / "class.secret")
    config = teacher_config(tmp_path, "room-1", free_port())
    hub = start_hub(tmp_path, config)
    try:
        yield tmp_path, config
    finally:
        hub.terminate()
        hub.wait(20)


def lab_machine(teacher: Path, folder: Path, camera: str) -> Path:
    folder.mkdir()
    write_agent_key(teacher, CLASS_ID, "pc-07", str((folder / "machine.key").relative_to(teacher)))
    config = folder / "agent.toml"
    config.write_text(
        f'[class]\nid = "{CLASS_ID}"\n[network]\ninterfaces = ["127.0.0.1"]\n'
        f'[agent]\nstatus_file = "{folder}/status.json"\n'
        f'[camera]\ndevice = "{camera}"\nallow_unisolated = true\n'
    )
    return config


def lines(result: subprocess.CompletedProcess[str], status: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"[{status}")]


def test_a_lab_machine_whose_hub_answers_passes_and_sends_nothing(teacher: tuple[Path, Path]) -> None:
    folder, _ = teacher
    video = Path(__file__).parent / "fixtures" / "camera.avi"
    config = lab_machine(folder, folder / "lab", str(video))
    result = doctor("-c", str(config), "--json")
    document = json.loads(result.stdout)
    checks = {c["name"]: c for c in document["checks"]}
    assert document["role"] == "agent"
    assert result.returncode == 0 and document["ok"] is True, result.stdout
    assert "hub 'room-1' at wss://127.0.0.1:" in checks["hub"]["detail"]
    assert (
        "proved the class key; this machine proved student 'pc-07' (nothing was sent)"
        in checks["hub"]["detail"]
    )
    assert checks["clock"]["status"] == "ok" and "the hub's" in checks["clock"]["detail"]
    assert stored_seqs(folder / "room-1.db") == {}  # joined and left: not one sample or event


def test_a_lab_machines_failing_checks_one_by_one(teacher: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = teacher
    video = Path(__file__).parent / "fixtures" / "camera.avi"
    config = lab_machine(folder, folder / "lab", str(video))
    key = folder / "lab" / "machine.key"

    key.chmod(0o644)
    failed = lines(doctor("-c", str(config)), "FAIL")
    assert any(line.startswith("[FAIL] keys:") and f"chmod 600 {key}" in line for line in failed), failed
    key.chmod(0o600)

    missing = folder / "lab" / "missing.toml"
    missing.write_text(config.read_text().replace(str(video), "/dev/video-missing"))
    failed = lines(doctor("-c", str(missing)), "FAIL")
    assert [line.split(":")[0] for line in failed] == ["[FAIL] camera"], failed
    assert "camera /dev/video-missing not found" in failed[0]

    # A copy of the package with one model file changed.
    copy = tmp_path / "site"
    shutil.copytree(Path(smartsession.__file__).parent, copy / "smartsession")
    model = copy / "smartsession" / "models" / "emotion_model_quantized.tflite"
    data = bytearray(model.read_bytes())
    data[1000] ^= 0xFF
    model.write_bytes(bytes(data))
    result = doctor("-c", str(config), pythonpath=str(copy))
    failed = lines(result, "FAIL")
    assert [line.split(":")[0] for line in failed] == ["[FAIL] models"], result.stdout
    assert f"model file {model}: sha256 is " in failed[0] and "(file corrupt or replaced)" in failed[0]


def test_no_hub_fails_with_a_sentence(tmp_path: Path) -> None:
    write_secret(tmp_path / "class.secret")
    video = Path(__file__).parent / "fixtures" / "camera.avi"
    config = lab_machine(tmp_path, tmp_path / "lab", str(video))
    (tmp_path / "class.secret").unlink()  # a lab machine holds only its own key
    result = doctor("-c", str(config))
    assert result.returncode == 1
    assert lines(result, "FAIL") == [
        f"[FAIL] hub: no hub of class {CLASS_ID!r} is announced on 127.0.0.1 (is the teacher's hub running, "
        "on this network? otherwise set agent.hub_url)"
    ]
    assert "[warn] clock: no hub answered" in result.stdout


def test_the_teachers_machine_with_its_hub_running_then_a_second_hub(teacher: tuple[Path, Path]) -> None:
    folder, config = teacher
    result = doctor("-c", str(config), "--json")
    document = json.loads(result.stdout)
    checks = {c["name"]: c for c in document["checks"]}
    assert document["role"] == "hub" and document["ok"] is True, result.stdout
    assert "is held by this hub ('room-1'), which is running" in checks["port"]["detail"]
    assert checks["announcement"]["detail"].startswith("hub 'room-1' is announced at wss://127.0.0.1:")
    assert checks["other hubs"]["status"] == "ok"
    assert checks["database"]["status"] == "ok" and "is writable" in checks["database"]["detail"]

    second = start_hub(folder, teacher_config(folder, "room-1b", free_port()))
    try:
        result = doctor("-c", str(config))
    finally:
        second.terminate()
        second.wait(20)
    assert result.returncode == 1
    failed = lines(result, "FAIL")
    assert len(failed) == 1 and failed[0].startswith(
        f"[FAIL] other hubs: another hub announces class {CLASS_ID!r}: hub 'room-1b' at 127.0.0.1:"
    ), result.stdout
    assert "agents join this hub, which started first" in failed[0]
