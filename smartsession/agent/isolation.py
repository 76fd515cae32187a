"""The vision process: camera and every pixel in a child process with no network.

The agent never touches an image. `VisionProcess` starts ``python -m
smartsession.vision.worker``; the child first moves itself into a new, empty network
namespace (`isolate_network`: an unprivileged user + network namespace on Linux, or a bare
network namespace as root), says whether that worked (`Hello`), loads the models and
then answers each request on its stdin with one `Frame` (a `FrameSignals`) on its stdout.
Messages are msgpack, length-prefixed, and refused above `MAX_MESSAGE_BYTES`, so the pipe
cannot carry an image even by mistake.

With the seat check on (``seat=seat_setup(...)``), the child is started with
``--seat-check`` and the first thing on its stdin is a `SeatSetup`: the settings and the
enrolled template, which the agent decrypted with the machine key (`seat_setup`). What comes
back about it is one `SeatCheck` in a frame's signals now and then: a word and a distance.

``source = VisionProcess(camera_config, frame_rate); source.start()`` raises `AgentError`
when isolation is impossible and ``allow_unisolated`` is false; then `read` as any
`SignalSource` and `close` at the end. `read` never raises: a crashed or hung child gives
``camera=UNAVAILABLE`` frames while it is restarted with backoff.

The agent paces the frames: `read` waits until the next frame is due (every
``1 / frame_rate`` seconds, or when `schedule` says) and only then asks the child for one;
the child grabs the newest frame there is and analyses it. Nothing is asked for ahead, so
a busy machine makes frames late and fewer, never queued. The child runs at a lower
scheduling priority (``camera.nice``), so the student's own work comes first.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec

from smartsession.config import CameraConfig, IdentityConfig
from smartsession.core.backoff import backoff_ceilings
from smartsession.core.protocol import VisionMode
from smartsession.core.signals import CameraStatus, FrameSignals
from smartsession.errors import AgentError

if TYPE_CHECKING:  # the vision child imports this module: keep cryptography out of it
    from smartsession.keys import MachineKey

log = logging.getLogger(__name__)

#: Largest message accepted on the pipe; a FrameSignals is about 250 bytes.
MAX_MESSAGE_BYTES = 4096
_HEADER = struct.Struct(">I")

#: Set (to anything) to make the child behave as if isolation were impossible (for tests).
NO_ISOLATION_ENV = "SMARTSESSION_VISION_NO_ISOLATION"

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


# Messages (child -> agent) ---------------------------------------------------------------


class Hello(msgspec.Struct, frozen=True, kw_only=True, tag="hello"):
    """First message: whether the child has no network, how, and why not if not."""

    isolated: bool
    method: str
    detail: str = ""
    pid: int = 0


class Ready(msgspec.Struct, frozen=True, kw_only=True, tag="ready"):
    """The models are loaded; requests are answered from now on."""


class Frame(msgspec.Struct, frozen=True, kw_only=True, tag="frame"):
    """One analysed frame; ``problem`` is the camera problem sentence ("" when fine). The
    seat check that ran on it, if one did, is ``signals.seat`` (a word and a distance, never
    the face's descriptor: `SeatCheck` has no field that could hold one)."""

    signals: FrameSignals
    problem: str = ""


class Fatal(msgspec.Struct, frozen=True, kw_only=True, tag="fatal"):
    """The child cannot go on (no isolation where required, models missing); it exits."""

    reason: str


Message = Hello | Ready | Frame | Fatal


# The start-up message (agent -> child) ---------------------------------------------------


class SeatSetup(msgspec.Struct, frozen=True, kw_only=True, tag="seat_setup", forbid_unknown_fields=True):
    """The seat check's settings, and this machine's template (None: nobody enrolled here).

    The agent (which can read the machine key) opens the sealed template and writes this as
    the first message on the child's stdin when it starts it with ``--seat-check``: the
    descriptor goes from one process's memory to the other's through the pipe, never into a
    command line (which any user can read in ``/proc``), an environment, a file or a socket.
    """

    template: tuple[float, ...] | None
    interval: float
    threshold: float


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)
_setup_decoder = msgspec.msgpack.Decoder(SeatSetup)


def read_setup(stream: IO[bytes]) -> SeatSetup:
    """The `SeatSetup` at the start of ``stream`` (the child's stdin).

    Raises ValueError when the stream ends early or holds something else.
    """
    header = stream.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise ValueError("no seat-check setup on stdin")
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"seat-check setup of {size} bytes (max {MAX_MESSAGE_BYTES})")
    body = stream.read(size)
    if len(body) != size:
        raise ValueError("the seat-check setup on stdin was cut short")
    try:
        setup: SeatSetup = _setup_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"bad seat-check setup: {exc}") from None
    return setup


def encode(message: Message | SeatSetup) -> bytes:
    """A length-prefixed message; raises ValueError above `MAX_MESSAGE_BYTES`."""
    body = _encoder.encode(message)
    if len(body) > MAX_MESSAGE_BYTES:
        raise ValueError(f"vision message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> Message:
    """A message from its body (without the length prefix)."""
    message: Message = _decoder.decode(body)
    return message


class MessageReader:
    """Reassembles length-prefixed messages from a pipe fd, with a timeout per call."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self.eof = False

    def _take(self) -> Message | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(f"vision process sent {size} bytes in one message (max {MAX_MESSAGE_BYTES})")
        if len(self._buffer) < _HEADER.size + size:
            return None
        body = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
        del self._buffer[: _HEADER.size + size]
        return decode(body)

    def read(self, timeout: float) -> Message | None:
        """The next message, or None on timeout or end of file (then ``eof`` is True)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._take()
            if message is not None or self.eof:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self.eof = True
                return None
            self._buffer.extend(chunk)


# Isolation (runs in the child, first thing) ----------------------------------------------


def isolate_network() -> Hello:
    """Move this (single-threaded) process into a new network namespace with no interfaces
    but a down loopback. Call it before any thread starts and before importing mediapipe.

    Tries an unprivileged user + network namespace (works as a normal user where the
    distribution allows them, and as root), then a bare network namespace (root only).
    """
    if os.environ.get(NO_ISOLATION_ENV):
        return Hello(isolated=False, method="none", detail=f"disabled by {NO_ISOLATION_ENV}")
    if not sys.platform.startswith("linux"):
        return Hello(isolated=False, method="none", detail=f"no network namespaces on {sys.platform}")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unshare = libc.unshare
    except (OSError, AttributeError) as exc:
        return Hello(isolated=False, method="none", detail=f"unshare() not available: {exc}")
    failures: list[str] = []
    attempts = [("user+net namespace", CLONE_NEWUSER | CLONE_NEWNET), ("net namespace", CLONE_NEWNET)]
    if os.geteuid() == 0:
        attempts.reverse()  # root keeps its file access with a bare network namespace
    for method, flags in attempts:
        if unshare(ctypes.c_int(flags)) == 0:
            names = sorted(name for _, name in socket.if_nameindex())
            if names != ["lo"]:
                return Hello(isolated=False, method=method, detail=f"interfaces still visible: {names}")
            return Hello(isolated=True, method=method, pid=os.getpid())
        code = ctypes.get_errno()
        failures.append(f"{method}: {errno.errorcode.get(code, code)} ({os.strerror(code)})")
    hint = ""
    if os.path.exists("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"):
        hint = "; unprivileged user namespaces may be restricted by AppArmor"
    return Hello(isolated=False, method="none", detail="; ".join(failures) + hint)


def probe_isolation(timeout: float = 10.0) -> Hello:
    """Whether a child process can isolate itself here (used by ``doctor``)."""
    code = (
        "import sys; from smartsession.agent.isolation import isolate_network, encode;"
        "sys.stdout.buffer.write(encode(isolate_network()))"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout, check=False)
        message = decode(out.stdout[_HEADER.size :])
    except (OSError, subprocess.SubprocessError, msgspec.DecodeError, ValueError) as exc:
        return Hello(isolated=False, method="none", detail=f"probe failed: {exc}")
    if not isinstance(message, Hello):
        return Hello(isolated=False, method="none", detail="probe gave no answer")
    return message


# The agent side ---------------------------------------------------------------------------


def seat_setup(identity: IdentityConfig, template_path: Path, key: MachineKey) -> SeatSetup | None:
    """What the vision process needs for the seat check: None when ``identity.enabled`` is
    off; else the settings and the template sealed at ``template_path``, opened with this
    machine's key (None in it when nobody enrolled here: every check is then "not enrolled").

    A template that does not open (damaged, or another machine's) is logged as an error and
    treated as no enrolment, so monitoring goes on and the teacher sees "not enrolled".
    """
    if not identity.enabled:
        return None
    from smartsession.seat_template import TemplateError, read_template

    try:
        template = read_template(template_path, key)
    except TemplateError as exc:
        log.error("%s; the seat check runs as if nobody were enrolled (enrol again)", exc)
        template = None
    if template is None:
        log.info(
            "seat check on, but nobody is enrolled on this machine (%s): checks say 'not enrolled'",
            template_path,
        )
    else:
        log.info("seat check on: the template enrolled here goes to the vision process through its pipe")
    return SeatSetup(
        template=None if template is None else template.descriptor,
        interval=identity.interval,
        threshold=identity.threshold,
    )


class VisionProcess:
    """A `SignalSource` whose frames come from the isolated vision child process.

    Call `start` once (raises `AgentError` if the child refuses to run unisolated or
    cannot load its models), then `read` per frame and `close` at the end.
    ``isolated`` says whether the running child has no network (telemetry may report it).
    """

    def __init__(
        self,
        camera: CameraConfig,
        frame_rate: float,
        *,
        loop_video: bool = False,
        start_timeout: float = 60.0,
        answer_timeout: float = 5.0,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        extra_args: tuple[str, ...] = (),
        seat: SeatSetup | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if frame_rate <= 0.0:
            raise ValueError(f"frame rate must be positive, got {frame_rate}")
        self.camera = camera
        self.frame_rate = frame_rate
        self.isolated: bool | None = None
        self.isolation_method = ""
        self.reason = ""
        self._loop_video = loop_video
        self._start_timeout = start_timeout
        self._answer_timeout = answer_timeout
        self._retry = (retry_initial, retry_max)
        self._extra_args = extra_args
        self._seat = seat
        self._clock = clock
        self._sleep = sleep
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: MessageReader | None = None
        self._stderr_thread: threading.Thread | None = None
        self._pending = False
        self._pending_since = 0.0
        self._delays: Iterator[float] = iter(())
        self._restart_at = 0.0
        self._closed = False
        self._due = clock()

    @property
    def vision(self) -> VisionMode:
        """Whether the running vision child is cut off the network (unknown before `start`)."""
        if self.isolated is None:
            return VisionMode.UNKNOWN
        return VisionMode.ISOLATED if self.isolated else VisionMode.UNISOLATED

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def command(self) -> list[str]:
        """The child's command line."""
        args = [
            sys.executable,
            "-m",
            "smartsession.vision.worker",
            "--device",
            self.camera.device,
            "--width",
            str(self.camera.width),
            "--height",
            str(self.camera.height),
            "--nice",
            str(self.camera.nice),
        ]
        if not self.camera.allow_unisolated:
            args.append("--require-isolation")
        if self._loop_video:
            args.append("--loop")
        if self._seat is not None:
            args.append("--seat-check")  # its setup follows on stdin, never here
        return args + list(self._extra_args)

    def start(self) -> Hello:
        """Start the child and wait until its models are loaded.

        Raises `AgentError` when it cannot be isolated and unisolated use is not allowed,
        or when it fails to start (a sentence says why).
        """
        hello = self._spawn()
        if hello is None:
            self._kill()
            raise AgentError(f"the vision process did not start: {self.reason}")
        return hello

    def _spawn(self) -> Hello | None:
        self._kill()
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        assert (
            self._proc.stdin is not None and self._proc.stdout is not None and self._proc.stderr is not None
        )
        if self._seat is not None:
            try:  # about 1.2 KB: the pipe takes it without the child reading yet
                self._proc.stdin.write(encode(self._seat))
                self._proc.stdin.flush()
            except OSError as exc:
                self.reason = f"the vision process did not take its seat-check setup ({exc})"
                return None
        self._reader = MessageReader(self._proc.stdout.fileno())
        self._stderr_thread = threading.Thread(
            target=_forward_logs, args=(self._proc.stderr,), name="vision stderr", daemon=True
        )
        self._stderr_thread.start()
        self._pending = False
        hello: Hello | None = None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            message = self._reader.read(deadline - time.monotonic())
            if isinstance(message, Hello):
                hello = message
                self.isolated = message.isolated
                self.isolation_method = message.method
                if message.isolated:
                    log.info("vision process %d runs without network (%s)", self._proc.pid, message.method)
                elif self.camera.allow_unisolated:
                    log.warning(
                        "the vision process could NOT be isolated from the network (%s); running anyway "
                        "because camera.allow_unisolated = true",
                        message.detail,
                    )
            elif isinstance(message, Fatal):
                self.reason = message.reason
                if hello is not None and not hello.isolated and not self.camera.allow_unisolated:
                    raise AgentError(message.reason)
                return None
            elif isinstance(message, Ready):
                return hello
            elif message is None:
                break
        self.reason = (
            f"the vision process exited with code {self._proc.wait(timeout=5)}"
            if self._reader.eof
            else f"the vision process did not load its models within {self._start_timeout:.0f} s"
        )
        return None

    def _unavailable(self, reason: str) -> FrameSignals:
        if reason != self.reason:
            log.warning("%s", reason)
            self.reason = reason
        return FrameSignals(t=self._clock(), camera=CameraStatus.UNAVAILABLE, faces=0)

    def schedule(self, t: float) -> None:
        """The next frame is due at ``t`` (then every ``1 / frame_rate`` again)."""
        self._due = t

    def _wait_until_due(self) -> None:
        now = self._clock()
        if now < self._due:
            self._sleep(self._due - now)
            now = self._clock()
        # Late (a slow answer, a busy machine): no frames are made up for.
        self._due = max(self._due + 1.0 / self.frame_rate, now)

    def _schedule_restart(self, why: str) -> FrameSignals:
        self._kill()
        delay = next(self._delays, None)
        if delay is None:
            self._delays = backoff_ceilings(*self._retry)
            delay = next(self._delays)
        self._restart_at = time.monotonic() + delay
        return self._unavailable(f"{why}; restarting it in {delay:.0f} s")

    def read(self) -> FrameSignals:
        """The next frame's signals; never raises on camera or child trouble."""
        if self._closed:
            raise RuntimeError("read() on a closed VisionProcess")
        if not self._pending:
            self._wait_until_due()
        if self._proc is None:
            if time.monotonic() < self._restart_at:
                return self._unavailable(self.reason)
            try:
                hello = self._spawn()
            except (AgentError, OSError) as exc:
                hello = None
                self.reason = str(exc)
            if hello is None:
                return self._schedule_restart(self.reason or "the vision process failed to start")
        assert self._proc is not None and self._proc.stdin is not None and self._reader is not None
        if not self._pending:
            try:
                self._proc.stdin.write(b"r")
                self._proc.stdin.flush()
            except OSError:
                try:
                    exit_code = self._proc.wait(timeout=self._answer_timeout)
                except subprocess.TimeoutExpired:
                    return self._schedule_restart("the vision process stopped reading its requests")
                return self._schedule_restart(f"the vision process exited (code {exit_code})")
            self._pending = True
            self._pending_since = time.monotonic()
        try:
            message = self._reader.read(self._answer_timeout)
        except (ValueError, msgspec.DecodeError) as exc:
            return self._schedule_restart(f"the vision process sent a bad message ({exc})")
        if isinstance(message, Frame):
            self._pending = False
            self._delays = iter(())
            if message.problem != self.reason:
                if not message.problem:
                    log.info("the camera works again")
                self.reason = message.problem
            return message.signals
        if message is None and not self._reader.eof:
            if time.monotonic() - self._pending_since > 6 * self._answer_timeout:
                return self._schedule_restart("the vision process stopped answering")
            return self._unavailable("the vision process is slow to answer")
        code = self._proc.poll()
        return self._schedule_restart(f"the vision process exited (code {code})")

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._pending = False
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child's cue to stop
            proc.wait(timeout=3.0)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def close(self) -> None:
        """Stop the child (it releases the camera and models). Idempotent."""
        if not self._closed:
            self._closed = True
            self._kill()


_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}
_child_log = logging.getLogger("smartsession.vision.worker")


def _forward_logs(stream: IO[bytes]) -> None:
    """Forward the child's stderr lines ("LEVEL message" from our logging; anything else is
    library noise, kept at debug level) to this process's log."""
    with stream:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            level_name, _, text = line.partition(" ")
            level = _LEVELS.get(level_name)
            if level is None:
                _child_log.debug("%s", line)
            else:
                _child_log.log(level, "%s", text)
