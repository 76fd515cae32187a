"""Frame sources and `Capture`: camera trouble becomes a reason, never a crash."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.vision.capture import (
    Capture,
    CaptureError,
    CaptureProblem,
    FrameHealth,
    ImageSource,
    VideoSource,
    parse_target,
)
from smartsession.vision.source import CameraSource


def scene(i: int) -> np.ndarray:
    """A live-looking frame: different every time."""
    rng = np.random.default_rng(i)
    return rng.integers(40, 200, (48, 64, 3), dtype=np.uint8)


class FlakySource:
    """A live source that fails to open ``open_failures`` times, then reads ``good`` frames,
    then fails to read (unplugged) until reopened."""

    live = True
    name = "camera test"

    def __init__(self, open_failures: int = 0, good: int = 1000) -> None:
        self.open_failures = open_failures
        self.good = good
        self.opens = 0
        self.reads = 0
        self.is_open = False

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.open_failures:
            raise CaptureError(CaptureProblem.CANNOT_OPEN, "camera test cannot be opened: busy")
        self.is_open = True
        self.reads = 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.is_open or self.reads >= self.good:
            return False, None
        self.reads += 1
        return True, scene(self.opens * 1000 + self.reads)

    def close(self) -> None:
        self.is_open = False


def test_parse_target() -> None:
    assert parse_target("0") == 0
    assert parse_target(" 2 ") == 2
    assert parse_target("/dev/video0") == "/dev/video0"
    assert parse_target(1) == 1


def test_missing_camera_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture(VideoSource("/dev/video97"), rng=random.Random(1))
    with caplog.at_level(logging.WARNING):
        assert capture.grab(0.0) is None
        assert capture.grab(0.1) is None
    assert capture.problem is CaptureProblem.NOT_FOUND
    assert "/dev/video97 does not exist" in capture.reason
    assert "plugged in" in capture.reason
    # Logged once, not once per frame.
    assert sum("video97" in r.message for r in caplog.records) == 1


def test_missing_camera_by_index() -> None:
    capture = Capture(VideoSource(97))
    assert capture.grab(0.0) is None
    assert capture.problem in (CaptureProblem.NOT_FOUND, CaptureProblem.CANNOT_OPEN)
    assert "camera 97" in capture.reason


def test_unreadable_video_file(tmp_path: Path) -> None:
    bad = tmp_path / "lecture.mp4"
    bad.write_bytes(b"not a video")
    capture = Capture(VideoSource(str(bad)))
    assert capture.grab(0.0) is None
    assert capture.problem is CaptureProblem.CANNOT_OPEN
    assert "lecture.mp4" in capture.reason


def test_video_file_plays_then_ends_or_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(scene(i))
    writer.release()
    capture = Capture(VideoSource(str(path)))
    frames = [capture.grab(float(i)) for i in range(4)]
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames[:3])
    assert frames[3] is None
    assert capture.problem is CaptureProblem.ENDED
    looping = Capture(VideoSource(str(path), loop=True))
    assert all(looping.grab(float(i)) is not None for i in range(7))
    looping.close()


class Clock:
    """A clock that only moves when slept on (or set)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def numbered_video(path: Path, count: int, fps: float = 5.0) -> None:
    """A video whose frame i is a flat grey of level 10 * i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(count):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()


def number(frame: np.ndarray | None) -> int:
    assert frame is not None
    return round(float(frame.mean()) / 10)


def test_a_realtime_file_gives_the_frame_of_the_moment_and_drops_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "numbered.avi"
    numbered_video(path, 20)
    clock = Clock()
    source = VideoSource(str(path), realtime=True, clock=clock, sleep=clock.sleep)
    source.open()
    seen = []
    for at in (0.0, 0.5, 0.55, 1.3, 2.0):  # 5 frames a second: frames 0, 2, 3 (waited for), 6, 10
        clock.now = max(clock.now, 1000.0 + at)
        ok, frame = source.read()
        assert ok
        seen.append(number(frame))
    assert seen == [0, 2, 3, 6, 10]
    assert clock.slept == [pytest.approx(0.05)]  # asked for frame 3 before its time: waited, as a camera does
    assert source.frames_read == 5 and source.frames_dropped == 6
    assert source.packets  # only the frames returned were decoded
    clock.now = 1000.0 + 4.1  # past the end, not looping
    assert source.read() == (False, None)
    source.close()


def test_a_looping_realtime_file_goes_on_along_its_timeline(tmp_path: Path) -> None:
    path = tmp_path / "numbered.avi"
    numbered_video(path, 10)  # 2 s
    clock = Clock()
    source = VideoSource(str(path), realtime=True, loop=True, clock=clock, sleep=clock.sleep)
    source.open()
    clock.now = 1000.0 + 2.6  # frame 13 of the endless clip: frame 3 of its second round
    ok, frame = source.read()
    assert ok and number(frame) == 3
    clock.now = 1000.0 + 3.0
    ok, frame = source.read()
    assert ok and number(frame) == 5
    source.close()


def test_a_file_not_in_realtime_gives_every_frame_however_slowly_read(tmp_path: Path) -> None:
    path = tmp_path / "numbered.avi"
    numbered_video(path, 5)
    clock = Clock()
    source = VideoSource(str(path), clock=clock, sleep=clock.sleep)
    source.open()
    assert not source.packets
    seen = []
    for _ in range(5):
        clock.now += 3.0
        seen.append(number(source.read()[1]))
    assert seen == [0, 1, 2, 3, 4] and clock.slept == []
    source.close()


def test_busy_camera_is_retried_with_backoff() -> None:
    source = FlakySource(open_failures=2)
    capture = Capture(source, retry_initial=1.0, retry_max=4.0, rng=random.Random(3))
    assert capture.grab(0.0) is None
    assert capture.problem is CaptureProblem.CANNOT_OPEN and "busy" in capture.reason
    t = 0.0
    while capture.grab(t) is None:
        t += 0.1
        assert t < 20, "never reopened"
    assert source.opens == 3
    assert capture.problem is None and capture.reason == ""


def test_unplugged_camera_is_reopened() -> None:
    source = FlakySource(good=5)
    capture = Capture(source, failures_before_reopen=3, retry_initial=0.5, retry_max=1.0)
    results = [capture.grab(i * 0.1) for i in range(8)]
    assert all(r is not None for r in results[:5])
    assert capture.problem is CaptureProblem.READ_FAILED
    assert "stopped delivering frames" in capture.reason
    t = 1.0
    while capture.grab(t) is None:
        t += 0.1
        assert t < 10
    assert source.opens == 2


def test_black_frames_are_flagged_after_a_while() -> None:
    black = np.zeros((48, 64, 3), np.uint8)
    capture = Capture(ImageSource(lambda i: black if i >= 2 else scene(i)), black_after=1.0)
    assert capture.grab(0.0) is not None
    assert capture.grab(0.2) is not None
    assert capture.grab(0.4) is not None  # black, but not for long yet
    assert capture.grab(1.5) is None
    assert capture.problem is CaptureProblem.BLACK
    assert "black" in capture.reason


def test_frozen_live_camera_is_flagged_and_reopened() -> None:
    still = scene(0)
    health = FrameHealth(frozen_after=2.0, live=True)
    assert health.check(still, 0.0) is None
    assert health.check(still, 1.0) is None
    assert health.check(still, 2.5) is CaptureProblem.FROZEN
    assert health.check(scene(1), 3.0) is None
    # Still images (not live) are never "frozen".
    quiet = FrameHealth(frozen_after=0.1, live=False)
    assert all(quiet.check(still, t) is None for t in (0.0, 1.0, 2.0))


def test_image_source_cycles_copies() -> None:
    frames = [scene(1), scene(2)]
    source = ImageSource(frames)
    source.open()
    got = [source.read()[1] for _ in range(3)]
    assert got[2] is not None and np.array_equal(got[2], frames[0])
    assert got[0] is not frames[0]
    with pytest.raises(CaptureError):
        ImageSource([]).open()


class FakeAnalyzer:
    def __init__(self) -> None:
        self.frames = 0
        self.closed = False

    def analyze(self, bgr: np.ndarray, t: float) -> FrameSignals:
        self.frames += 1
        return FrameSignals(t=t, faces=1)

    def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_camera_source_paces_and_reports_unavailable() -> None:
    clock = FakeClock()
    analyzer = FakeAnalyzer()
    source = CameraSource("/dev/video97", frame_rate=5.0, analyzer=analyzer, clock=clock, sleep=clock.sleep)
    first = source.read()
    second = source.read()
    assert first.camera is CameraStatus.UNAVAILABLE and first.faces == 0 and not first.has_face
    assert second.t == pytest.approx(100.2)
    assert clock.slept == [pytest.approx(0.2)]
    assert "does not exist" in source.reason
    assert source.problem is CaptureProblem.NOT_FOUND
    assert analyzer.frames == 0
    source.close()
    source.close()
    assert analyzer.closed
    with pytest.raises(RuntimeError):
        source.read()


def test_camera_source_recovers_when_the_camera_returns() -> None:
    clock = FakeClock()
    analyzer = FakeAnalyzer()
    flaky = FlakySource(open_failures=1)
    source = CameraSource(
        flaky,
        frame_rate=2.0,
        analyzer=analyzer,
        clock=clock,
        sleep=clock.sleep,
        capture_options={"retry_initial": 0.5, "retry_max": 0.5},
    )
    statuses = [source.read().camera for _ in range(4)]
    assert statuses[0] is CameraStatus.UNAVAILABLE
    assert statuses[-1] is CameraStatus.OK
    assert source.reason == ""
    source.close()
