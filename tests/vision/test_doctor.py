"""`smartsession doctor` as a sysadmin runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

MJPG = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsession", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_all_ok_with_a_video_as_camera_but_no_hub(tmp_path: Path) -> None:
    """A lab machine: its own machine key (made on the teacher's machine), no class key; no hub
    runs (tests/test_doctor_roles.py checks a lab machine whose hub answers)."""
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    subprocess.run(
        [sys.executable, "-m", "smartsession", "keygen", str(teacher / "class.secret")], check=True
    )
    (teacher / "teacher.toml").write_text("")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "smartsession",
            "keygen",
            "--student",
            "pc-07",
            "-c",
            str(teacher / "teacher.toml"),
            str(tmp_path / "machine.key"),
        ],
        check=True,
    )
    video = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(video), MJPG, 5, (320, 240))
    for _ in range(3):
        writer.write(np.full((240, 320, 3), 100, np.uint8))
    writer.release()
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[class]\nsecret_file = "class.secret"\n[network]\ninterfaces = ["127.0.0.1"]\n'
        f'[camera]\ndevice = "{video}"\nallow_unisolated = true\n'
    )
    result = doctor("-c", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""  # no native library chatter on the terminal
    lines = result.stdout.splitlines()
    names = (
        "config",
        "keys",
        "models",
        "camera",
        "network isolation",
        "zeroconf interfaces",
    )
    for name in names:
        assert any(line.startswith(("[ok]", "[warn]")) and name in line for line in lines), (name, lines)
    assert "delivers 320x240 frames" in result.stdout
    assert "proves student 'pc-07'" in result.stdout
    assert [line for line in lines if line.startswith("[FAIL]")] == [
        "[FAIL] hub: no hub of class 'class' is announced on 127.0.0.1 (is the teacher's hub running, on "
        "this network? otherwise set agent.hub_url)"
    ]
    assert lines[-1] == "1 check(s) failed"


def test_problems_fail_with_sentences(tmp_path: Path) -> None:
    secret = tmp_path / "class.secret"
    secret.write_text("00" * 32)
    secret.chmod(0o644)
    config = tmp_path / "agent.toml"
    config.write_text('[class]\nsecret_file = "class.secret"\n[camera]\ndevice = "/dev/video-missing"\n')
    result = doctor("-c", str(config), "--role", "agent")
    assert result.returncode == 1
    assert "[FAIL] keys" in result.stdout and "chmod 600" in result.stdout
    assert "[FAIL] camera: camera /dev/video-missing not found" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\ndevise = 1\n")
    result = doctor("-c", str(bad))
    assert result.returncode == 1
    assert "[FAIL] config" in result.stdout and "did you mean 'camera.device'" in result.stdout
