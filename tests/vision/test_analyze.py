"""`smartsession analyze` as a user runs it: a subprocess on a generated image and video."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

KEYS = {"frame", "t", "camera", "faces", "yaw", "pitch", "roll", "gaze", "cues", "expressions", "state"}
KEYS |= {
    "alerts",
    "reasons",
    "events",
    "confusion",
    "attention",
    "gaze_direction",
    "looking_down",
    "calibrated",
}

MJPG = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]


def analyze(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    result: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "smartsession", "analyze", *args],
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("analyze")
    image = folder / "astronaut.png"
    cv2.imwrite(str(image), astronaut)
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), MJPG, 10, (512, 512))
    for i in range(12):
        writer.write(astronaut if i < 6 else np.full_like(astronaut, 100))
    writer.release()
    return image, video


def test_image_gives_one_json_line(files: tuple[Path, Path]) -> None:
    result = analyze(str(files[0]))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing from MediaPipe, TFLite or glog
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert set(rec) == KEYS
    assert rec["faces"] == 1 and rec["state"] == "calibrating"
    assert rec["cues"]["smile"] > 0.5
    assert sum(rec["expressions"].values()) == pytest.approx(1.0, abs=0.01)
    # One photo has scores too, against the population baseline.
    assert rec["calibrated"] is False
    assert math.isfinite(rec["confusion"]) and 0.0 <= rec["confusion"] <= 1.0
    assert math.isfinite(rec["attention"]) and 0.5 < rec["attention"] <= 1.0
    assert rec["gaze_direction"] == "center" and rec["looking_down"] is False


def test_a_real_photo_leaves_stderr_empty_and_verbose_shows_the_native_lines(tmp_path: Path) -> None:
    import matplotlib.cbook

    photo = str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    quiet = analyze(photo, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["faces"] == 1
    loud = subprocess.run(
        [sys.executable, "-m", "smartsession", "-v", "analyze", photo],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loud.returncode == 0
    assert (
        'level=debug logger=smartsession.native msg="INFO: Created TensorFlow Lite XNNPACK delegate'
        in loud.stderr
    )


def test_calibrated_flips_to_true_on_a_video(tmp_path: Path, astronaut: np.ndarray) -> None:
    video = tmp_path / "student.avi"
    writer = cv2.VideoWriter(str(video), MJPG, 5, (512, 512))
    rng = np.random.default_rng(1)
    for _ in range(25):  # 5 s at 5 fps: calibration takes 3 s of one face
        noise = rng.integers(-3, 4, astronaut.shape).astype(np.int16)
        writer.write(np.clip(astronaut + noise, 0, 255).astype(np.uint8))
    writer.release()
    result = analyze(str(video))
    assert result.returncode == 0 and result.stderr == ""
    records = [json.loads(line) for line in result.stdout.splitlines()]
    flags = [r["calibrated"] for r in records]
    assert flags[0] is False and flags[-1] is True
    first = flags.index(True)
    assert all(flags[first:]) and records[first]["t"] == pytest.approx(3.0)
    assert all(math.isfinite(r["confusion"]) and math.isfinite(r["attention"]) for r in records)
    assert records[-1]["state"] == "focused"


def test_video_every_nth_frame_without_progress_when_piped(files: tuple[Path, Path]) -> None:
    result = analyze(str(files[1]), "--every", "2")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 2, 4, 6, 8, 10]
    assert [r["t"] for r in records] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [r["faces"] for r in records] == [1, 1, 1, 0, 0, 0]
    assert "\r" not in result.stderr and "%" not in result.stderr


def test_table_and_progress_bar_on_a_terminal(files: tuple[Path, Path]) -> None:
    main, secondary = os.openpty()
    try:
        result = analyze(str(files[1]), "--table", stderr=secondary)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
        if secondary >= 0:
            os.close(secondary)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["t", "faces", "yaw"]
    for column in ("look", "conf", "attn", "calibrated"):
        assert column in lines[0].split()
    assert len(lines) == 13
    first = lines[1].split()
    assert first[6] in {"center", "left", "right", "up", "down"} and first[12] == "false"
    assert "12/12" in b"".join(chunks).decode(errors="replace")


def test_unreadable_input_is_a_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = analyze(str(bad))
    assert result.returncode == 1
    assert "not a readable image or video" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_policy_sets_the_alert_times(
    tmp_path: Path, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    """Someone beside the student for 4 s: an alert in a lecture (2 s), normal in a lab (10 s)."""
    room = np.full((480, 640, 3), 120, np.uint8)
    room[100:360, 20:220] = cv2.resize(astronaut[0:300, 100:330], (200, 260), interpolation=cv2.INTER_AREA)
    both = room.copy()
    both[150:302, 420:554] = cv2.resize(
        grace_hopper[80:420, 120:420], (134, 152), interpolation=cv2.INTER_AREA
    )
    video = tmp_path / "helper.avi"
    writer = cv2.VideoWriter(str(video), MJPG, 5, (640, 480))
    for i in range(25):
        writer.write(room if i < 5 else both)
    writer.release()
    seen = {}
    for policy in ("lecture", "lab"):
        result = analyze(str(video), "--policy", policy)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert max(r["faces"] for r in records) == 2
        seen[policy] = any("multiple_faces" in r["alerts"] for r in records)
    assert seen == {"lecture": True, "lab": False}
    both_ways = analyze(str(video), "--policy", "lab", "-c", str(tmp_path / "x.toml"))
    assert both_ways.returncode == 2 and "not allowed with argument" in both_ways.stderr
