"""Frame sources (camera, video file or URL, still or generated images) and a `Capture` that
reads one with health checks and retries.

Every source has the same small interface: `open` (raises `CaptureError` with a reason a
sysadmin understands), `read() -> (ok, bgr)` and `close`. `Capture` wraps a source and never
raises on a camera problem: a missing, busy or unplugged camera, black frames or a frozen
image become a `CaptureProblem` with a plain sentence in `Capture.reason`, and the source is
reopened with capped exponential backoff.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from smartsession.core.backoff import backoff_delays
from smartsession.vision.images import BGRImage

log = logging.getLogger(__name__)


class CaptureProblem(enum.StrEnum):
    """Why no usable frame is available."""

    NOT_FOUND = "not_found"
    CANNOT_OPEN = "cannot_open"
    READ_FAILED = "read_failed"
    ENDED = "ended"
    BLACK = "black"
    FROZEN = "frozen"


class CaptureError(Exception):
    """A source cannot be opened or read; ``reason`` is a sentence for the log."""

    def __init__(self, problem: CaptureProblem, reason: str) -> None:
        self.problem = problem
        self.reason = reason
        super().__init__(reason)


class FrameSource(Protocol):
    """Anything that yields BGR frames."""

    #: Human-readable name for messages ("camera /dev/video0", "video lecture.mp4").
    name: str
    #: True for live cameras/streams: repeated identical frames then mean a frozen driver.
    live: bool

    def open(self) -> None:
        """Open (or reopen) the source; raises `CaptureError` when it cannot."""
        ...

    def read(self) -> tuple[bool, BGRImage | None]:
        """The next frame as ``(True, bgr)``, or ``(False, None)`` when none could be read."""
        ...

    def close(self) -> None:
        """Release the source; `open` may be called again afterwards."""
        ...


def parse_target(target: int | str) -> int | str:
    """A camera index for ``"0"``-like strings, else the string (a device path, file or URL)."""
    if isinstance(target, str) and target.strip().isdigit():
        return int(target.strip())
    return target


#: Frames a camera's driver is asked to hold (OpenCV's V4L2 backend keeps 4 by default): a
#: frame read is then the newest, never one that waited in a queue while others were analysed.
CAMERA_BUFFERS = 1


class VideoSource:
    """A camera (index or device path), a video file or a stream URL, via cv2.VideoCapture.

    ``loop`` restarts a file at its end (useful for demos); otherwise a file's end is
    reported as `CaptureProblem.ENDED`.

    A camera delivers frames at its own rate whether or not they are read; it is asked to
    hold only `CAMERA_BUFFERS` of them, so a frame read after a pause is a fresh one and a
    busy reader skips frames instead of working through a queue. ``realtime=True`` makes a
    video file behave the same way (a camera stand-in for tests and benchmarks): it plays
    at its own frame rate on ``clock`` (the frames' clock: epoch seconds) from the moment it
    is opened (logged, so that a benchmark can time what it sees), `read` returns the
    frame of that moment (grabbing and dropping, without converting, the frames it was not
    asked for in time) and waits for the next one when asked faster than the file's rate.
    An MJPG file is then read as JPEG packets and only the frame returned is decoded (as a
    camera costs nothing for the frames nobody reads; decoding each dropped 640x480 frame
    cost about 1.2 ms of CPU). Otherwise a file gives every frame in turn, however fast or
    slow it is read.
    """

    def __init__(
        self,
        target: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        loop: bool = False,
        realtime: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = parse_target(target)
        self._size = (width, height)
        self._loop = loop
        self._cap: Any = None
        self._clock = clock
        self._sleep = sleep
        self._fps = 0.0
        #: True when the file is read as undecoded JPEG packets (a realtime MJPG file).
        self.packets = False
        self._started = 0.0
        #: Frames of the file consumed since `_started` (read or dropped).
        self._position = 0
        #: Frames read (returned) and dropped since the source was made (realtime files).
        self.frames_read = 0
        self.frames_dropped = 0
        self.is_file = isinstance(self.target, str) and Path(self.target).is_file()
        self.is_url = isinstance(self.target, str) and "://" in self.target
        self.live = not self.is_file
        self.realtime = realtime and self.is_file
        if isinstance(self.target, int):
            self.name = f"camera {self.target}"
        elif self.is_file:
            self.name = f"video file {self.target}"
        elif self.is_url:
            self.name = f"stream {self.target}"
        else:
            self.name = f"camera {self.target}"

    def _device_path(self) -> str | None:
        if isinstance(self.target, int):
            return f"/dev/video{self.target}" if sys.platform.startswith("linux") else None
        if self.is_url or self.is_file:
            return None
        return self.target

    def open(self) -> None:
        """Open the device, file or URL; raises `CaptureError` naming the likely cause."""
        self.close()
        device = self._device_path()
        if device is not None and not os.path.exists(device):
            raise CaptureError(
                CaptureProblem.NOT_FOUND,
                f"{self.name} not found: {device} does not exist (is a webcam plugged in, "
                "or is the configured camera index/path right?)",
            )
        if device is not None and not os.access(device, os.R_OK | os.W_OK):
            raise CaptureError(
                CaptureProblem.CANNOT_OPEN,
                f"{self.name} cannot be opened: no permission on {device} "
                "(add the agent's user to the 'video' group)",
            )
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            if device is not None:
                reason = f"{self.name} exists but cannot be opened: another program may be using it"
            elif self.is_file or self.is_url:
                reason = f"{self.name} cannot be opened: unreadable or unsupported format"
            else:
                reason = f"{self.name} not found: no such file, device or stream"
            problem = (
                CaptureProblem.CANNOT_OPEN
                if (device or self.is_file or self.is_url)
                else CaptureProblem.NOT_FOUND
            )
            raise CaptureError(problem, reason)
        width, height = self._size
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if not self.is_file:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, CAMERA_BUFFERS)  # ignored where unsupported
        self.packets = self.realtime and _read_as_packets(cap)
        if self.realtime and not self.packets and cap.get(cv2.CAP_PROP_FORMAT) == -1:
            cap.release()  # raw mode cannot be turned off: open the file afresh, decoded
            cap = cv2.VideoCapture(self.target)
        self._cap = cap
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        self._started = self._clock()
        self._position = 0
        if self.realtime:
            log.info("%s plays in real time at %g frames/s from %.3f", self.name, self._fps, self._started)

    def read(self) -> tuple[bool, BGRImage | None]:
        """The next frame (the frame of the moment for a realtime file); ``(False, None)`` when
        closed, unplugged or at a file's end."""
        if self._cap is None:
            return False, None
        if self.realtime:
            return self._read_realtime()
        ok, frame = self._cap.read()
        if not ok and self.is_file and self._loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok or frame is None:
            return False, None
        return True, np.asarray(frame, dtype=np.uint8)

    def _read_realtime(self) -> tuple[bool, BGRImage | None]:
        wait = self._started + self._position / self._fps - self._clock()
        if wait > 0:
            self._sleep(wait)  # asked faster than the file's rate: wait for the frame, as a camera would
        due = int((self._clock() - self._started) * self._fps)
        while True:
            while self._position < due and self._cap.grab():  # frames nobody asked for in time
                self._position += 1
                self.frames_dropped += 1
            ok, frame = self._cap.read()
            if ok and frame is not None and self.packets:
                frame = cv2.imdecode(frame, cv2.IMREAD_COLOR)
            if ok and frame is not None:
                self._position += 1
                self.frames_read += 1
                return True, np.asarray(frame, dtype=np.uint8)
            if not self._loop or self._position == 0:
                return False, None
            # The end of a looping file: it starts again where its timeline has got to.
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._started += self._position / self._fps
            due -= self._position
            self._position = 0

    def close(self) -> None:
        """Release the device or file. Idempotent."""
        if self._cap is not None:
            cap, self._cap = self._cap, None
            cap.release()


def _read_as_packets(cap: Any) -> bool:
    """Switch an opened MJPG file to undecoded packets when its first one decodes as a JPEG
    image (some MJPG streams lack the Huffman tables a JPEG decoder needs); True if so."""
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    if fourcc.upper() != b"MJPG" or not cap.set(cv2.CAP_PROP_FORMAT, -1):
        return False
    ok, packet = cap.read()
    decoded = (
        cv2.imdecode(packet, cv2.IMREAD_COLOR) if ok and packet is not None and packet.ndim == 2 else None
    )
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return decoded is not None


class ImageSource:
    """Still images (or a function generating frame ``i``), for tests and demos.

    With ``frames`` a sequence, images are served in order and repeated if ``loop``; with a
    callable, ``frames(i)`` makes frame ``i`` (return None to end).
    """

    live = False

    def __init__(
        self,
        frames: Sequence[BGRImage] | Callable[[int], BGRImage | None],
        *,
        loop: bool = True,
        name: str = "test images",
    ) -> None:
        self.name = name
        self._frames = frames
        self._loop = loop
        self._index = 0
        self._open = False

    def open(self) -> None:
        if not callable(self._frames) and len(self._frames) == 0:
            raise CaptureError(CaptureProblem.NOT_FOUND, f"{self.name}: no images")
        self._open = True

    def read(self) -> tuple[bool, BGRImage | None]:
        if not self._open:
            return False, None
        i = self._index
        self._index += 1
        if callable(self._frames):
            frame = self._frames(i)
        elif i < len(self._frames) or self._loop:
            frame = self._frames[i % len(self._frames)]
        else:
            frame = None
        return (False, None) if frame is None else (True, frame.copy())

    def close(self) -> None:
        self._open = False


#: A frame whose mean is under this (0-255) with little variation counts as black.
BLACK_MEAN = 12.0
BLACK_STD = 6.0
#: Mean absolute difference (0-255, on a 64x48 thumbnail) under which two frames are "the same".
FROZEN_DIFF = 0.05


def thumbnail(bgr: BGRImage) -> npt.NDArray[np.float32]:
    """A small grayscale float copy for cheap black/frozen checks."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.resize(gray, (64, 48), interpolation=cv2.INTER_AREA), dtype=np.float32)


class FrameHealth:
    """Flags black frames and a frozen image once they last ``black_after`` / ``frozen_after``
    seconds. Time is passed in; call `check` with every frame read."""

    def __init__(self, *, black_after: float = 2.0, frozen_after: float = 5.0, live: bool = True) -> None:
        self.black_after = black_after
        self.frozen_after = frozen_after
        self.live = live
        self._black_since: float | None = None
        self._same_since: float | None = None
        self._previous: npt.NDArray[np.float32] | None = None
        self._previous_time = 0.0

    def reset(self) -> None:
        """Forget history (after a reopen)."""
        self._black_since = self._same_since = None
        self._previous = None

    def check(self, bgr: BGRImage, now: float) -> CaptureProblem | None:
        """`CaptureProblem.BLACK` / `FROZEN` once the condition has lasted long enough, else None."""
        small = thumbnail(bgr)
        black = float(small.mean()) < BLACK_MEAN and float(small.std()) < BLACK_STD
        self._black_since = (self._black_since if self._black_since is not None else now) if black else None
        same = (
            self.live
            and self._previous is not None
            and float(np.abs(small - self._previous).mean()) < FROZEN_DIFF
        )
        if not same:
            self._same_since = None
        elif self._same_since is None:
            # The run of identical frames started with the previous one.
            self._same_since = self._previous_time
        self._previous = small
        self._previous_time = now
        if self._black_since is not None and now - self._black_since >= self.black_after:
            return CaptureProblem.BLACK
        if self._same_since is not None and now - self._same_since >= self.frozen_after:
            return CaptureProblem.FROZEN
        return None


class Capture:
    """Reads a `FrameSource` with health checks and reopen-with-backoff; never raises on
    camera trouble. Call `grab(now)` per frame; when it returns None, `reason` says why."""

    def __init__(
        self,
        source: FrameSource,
        *,
        failures_before_reopen: int = 3,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        black_after: float = 2.0,
        frozen_after: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.problem: CaptureProblem | None = None
        self.reason: str = ""
        self._failures_before_reopen = failures_before_reopen
        self._retry = (retry_initial, retry_max)
        self._rng = rng or random.Random()
        self._delays: Iterator[float] = iter(())
        self._opened = False
        self._retry_at: float | None = None
        self._failures = 0
        self._health = FrameHealth(black_after=black_after, frozen_after=frozen_after, live=source.live)

    def _fail(self, problem: CaptureProblem, reason: str, now: float, reopen: bool) -> None:
        if reason != self.reason:
            log.warning("%s", reason)
        self.problem, self.reason = problem, reason
        if reopen:
            self.source.close()
            self._opened = False
            self._health.reset()
            if self._retry_at is None or now >= self._retry_at:
                delay = next(self._delays, None)
                if delay is None:
                    self._delays = backoff_delays(*self._retry, self._rng)
                    delay = next(self._delays)
                self._retry_at = now + delay

    def _recovered(self) -> None:
        if self.problem is not None:
            log.info("%s delivers frames again", self.source.name)
        self.problem, self.reason = None, ""
        self._delays = iter(())

    def grab(self, now: float) -> BGRImage | None:
        """The next usable frame, or None (see `problem` and `reason`). ``now`` is in seconds."""
        if not self._opened:
            if self._retry_at is not None and now < self._retry_at:
                return None
            try:
                self.source.open()
            except CaptureError as exc:
                self._fail(exc.problem, f"{exc.reason}; retrying", now, reopen=True)
                return None
            except cv2.error as exc:  # pragma: no cover - backend-specific
                self._fail(
                    CaptureProblem.CANNOT_OPEN, f"{self.source.name} cannot be opened ({exc})", now, True
                )
                return None
            self._opened = True
            self._retry_at = None
            self._failures = 0
        ok, frame = self.source.read()
        if not ok or frame is None:
            self._failures += 1
            if not self.source.live:
                self._fail(CaptureProblem.ENDED, f"{self.source.name} has no more frames", now, reopen=False)
            elif self._failures >= self._failures_before_reopen:
                self._fail(
                    CaptureProblem.READ_FAILED,
                    f"{self.source.name} stopped delivering frames (unplugged or driver error); reopening it",
                    now,
                    reopen=True,
                )
            return None
        self._failures = 0
        health = self._health.check(frame, now)
        if health is CaptureProblem.BLACK:
            self._fail(
                health,
                f"{self.source.name} shows only black frames (lens covered, privacy shutter closed "
                "or room dark?)",
                now,
                reopen=False,
            )
            return None
        if health is CaptureProblem.FROZEN:
            self._fail(
                health,
                f"{self.source.name} keeps sending the same image (driver frozen?); reopening it",
                now,
                reopen=True,
            )
            return None
        self._recovered()
        return frame

    def close(self) -> None:
        """Release the source."""
        self.source.close()
        self._opened = False
