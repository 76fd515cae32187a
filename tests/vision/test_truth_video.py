"""Truth on a generated video: the face leaves, a second face enters, the head turns away;
the real pipeline and the real engine must name the right alerts at the right times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from smartsession.core.settings import EngagementSettings
from smartsession.vision.analyze import analyze_frames, read_frames
from smartsession.vision.pipeline import FrameAnalyzer

FPS = 5
#: (seconds, what is in the frame), in order.
SCRIPT = (
    (6.0, "student"),  # calibration (3 s), then Focused
    (7.0, "empty"),  # the student leaves: no face alert 5 s later (t = 11)
    (6.0, "second"),  # back, with a second person in the background: multiple faces at t = 15
    (5.0, "student"),
    (7.0, "turned"),  # head and eyes turned away: looking away 4 s later (t = 28)
    (3.0, "student"),
)

MJPG = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]


def turn_head(bgr: np.ndarray, centre_x: float, radius: float, degrees: float) -> np.ndarray:
    """Turn the head about a vertical axis, modelled as a cylinder of ``radius`` around ``centre_x``."""
    h, w = bgr.shape[:2]
    xs = np.arange(w, dtype=np.float32)
    theta = np.arcsin(np.clip((xs - centre_x) / radius, -1, 1)) - np.radians(degrees)
    inside = np.abs(xs - centre_x) < radius
    src = np.where(inside, centre_x + radius * np.sin(np.clip(theta, -np.pi / 2, np.pi / 2)), xs)
    map_x = np.repeat(src[None, :].astype(np.float32), h, axis=0)
    map_y = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    return np.asarray(cv2.remap(bgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def scenes(grace_hopper: np.ndarray) -> dict[str, np.ndarray]:
    room = np.full((480, 640, 3), 110, np.uint8)
    room[:, :, 0] = np.linspace(80, 150, 640, dtype=np.uint8)[None, :]
    student = room.copy()
    student[:, 20:482] = cv2.resize(grace_hopper, (462, 480), interpolation=cv2.INTER_AREA)
    second = student.copy()
    # Someone behind the student, to the right: a face about 75 px wide (the landmarker's
    # own detector misses it; the people counter finds it).
    behind = cv2.flip(grace_hopper[80:420, 120:420], 1)
    second[140:287, 500:630] = cv2.resize(behind, (130, 147), interpolation=cv2.INTER_AREA)
    return {
        "student": student,
        "empty": room,
        "second": second,
        "turned": turn_head(student, 280, 200, 70),
    }


@pytest.fixture(scope="module")
def truth_video(tmp_path_factory: pytest.TempPathFactory, grace_hopper: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("truth") / "lesson.avi"
    frames = scenes(grace_hopper)
    writer = cv2.VideoWriter(str(path), MJPG, FPS, (640, 480))
    for seconds, scene in SCRIPT:
        for _ in range(round(seconds * FPS)):
            writer.write(frames[scene])
    writer.release()
    return path


@pytest.fixture(scope="module")
def records(truth_video: Path, analyzer: FrameAnalyzer) -> list[dict[str, Any]]:
    analyzer.reset()  # a new clip
    frames, total = read_frames(truth_video, 1)
    assert total == round(sum(s for s, _ in SCRIPT) * FPS)
    return list(analyze_frames(frames, analyzer, EngagementSettings()))


def first_alert(records: list[dict[str, Any]], reason: str) -> float | None:
    return next((r["t"] for r in records if reason in r["alerts"]), None)


def test_face_counts_follow_the_script(records: list[dict[str, Any]]) -> None:
    def faces_during(start: float, end: float) -> set[int]:
        return {r["faces"] for r in records if start + 0.5 <= r["t"] < end}

    assert faces_during(0, 6) == {1}
    assert faces_during(6, 13) == {0}
    assert faces_during(13, 19) == {2}
    assert faces_during(19, 24) == {1}
    assert faces_during(24, 31) == {1}


def test_calibration_removes_the_pitch_offset(records: list[dict[str, Any]]) -> None:
    pitches = [r["pitch"] for r in records if r["t"] < 6]
    assert min(pitches) > 3.0  # a frontal photo still reads as looking down a little
    focused = [r for r in records if 3.5 <= r["t"] < 6]
    assert focused and all(r["state"] == "focused" and not r["alerts"] for r in focused)
    assert all("looking_away" not in r["alerts"] for r in records if r["t"] < 24)


def test_alerts_come_at_the_right_times(records: list[dict[str, Any]]) -> None:
    no_face = first_alert(records, "no_face")
    assert no_face is not None and 11.0 <= no_face <= 11.6
    multiple = first_alert(records, "multiple_faces")
    assert multiple is not None and 15.0 <= multiple <= 15.6
    away = first_alert(records, "looking_away")
    assert away is not None and 28.0 <= away <= 28.6
    # Each clears once the student is back alone and facing the screen.
    assert not any(r["alerts"] for r in records if 21.0 <= r["t"] < 24 or r["t"] >= 32.5)
    states = {r["state"] for r in records if r["t"] >= 32.5}
    assert states == {"focused"}


def test_alert_events_name_the_reason(records: list[dict[str, Any]]) -> None:
    events = [e for r in records for e in r["events"]]
    assert any(e.startswith("no face for 5 s") for e in events), events
    assert any(e.startswith("2 faces for 2 s") for e in events), events
    assert any("looking away" in e for e in events), events
