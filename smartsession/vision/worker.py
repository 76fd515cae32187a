"""The vision process's own side: ``python -m smartsession.vision.worker --device 0 ...``.

Started by `smartsession.agent.isolation.VisionProcess`, never by hand. It first cuts
itself off the network (before any thread starts or any library that might phone home is
imported), reports that in a `Hello`, loads the models, sends `Ready`, and then answers
every byte read on stdin with one `Frame` on the pipe (the original stdout; stdout itself is
redirected to stderr so that no library can write into the pipe). EOF on stdin stops it.
Each frame is grabbed when asked for (the newest one the camera has) and followed from the
previous one (the landmarker's VIDEO mode); ``--nice`` lowers its priority first.

With ``--seat-check`` the first message on stdin is a `SeatSetup` (the settings and the
template the agent opened); a `SeatChecker` then runs on the analysed frames, and a check's
result (a word and a distance) rides in that frame's signals. The template stays in memory.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, BinaryIO

from smartsession.agent.isolation import (
    Fatal,
    Frame,
    Message,
    Ready,
    SeatSetup,
    encode,
    isolate_network,
    read_setup,
)

if TYPE_CHECKING:
    from smartsession.vision.seat_check import SeatChecker

log = logging.getLogger("smartsession.vision.worker")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsession.vision.worker")
    parser.add_argument("--device", default="0", help="camera index, device path, video file or URL")
    parser.add_argument("--width", type=int, default=0)
    parser.add_argument("--height", type=int, default=0)
    parser.add_argument("--nice", type=int, default=0, help="lower the scheduling priority by this much")
    parser.add_argument("--loop", action="store_true", help="restart a video file at its end")
    parser.add_argument("--require-isolation", action="store_true", help="refuse to run with network")
    parser.add_argument(
        "--seat-check",
        action="store_true",
        help="run the seat check; its settings and template come first on stdin (a SeatSetup)",
    )
    parser.add_argument(
        "--self-test-connect",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="try to connect there after isolating and log the outcome (for tests and doctor)",
    )
    return parser


def try_connect(target: str, timeout: float = 3.0) -> str:
    """A sentence saying whether a TCP connection to ``HOST:PORT`` (names resolved) works."""
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return f"network self-test: connected to {target} (the network is reachable)"
    except OSError as exc:
        return f"network self-test: connect to {target} failed: {exc}"


def _send(out: BinaryIO, message: Message) -> None:
    out.write(encode(message))
    out.flush()


def _seat_checker(setup: SeatSetup) -> SeatChecker:
    """The seat check for ``setup``; the network loads only when there is a template."""
    from smartsession.vision.face_net import FaceNet
    from smartsession.vision.seat_check import SeatChecker

    net = FaceNet.load() if setup.template is not None else None
    log.info("seat check on (%s)", "enrolled" if setup.template is not None else "nobody enrolled here")
    return SeatChecker(net, setup.template, interval=setup.interval, threshold=setup.threshold)


def main(argv: list[str] | None = None) -> int:
    """Run the vision process; returns its exit code."""
    hello = isolate_network()  # first: single-threaded, nothing loaded yet
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the agent stops us by closing stdin
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    _send(out, hello)
    if not hello.isolated and args.require_isolation:
        _send(
            out,
            Fatal(
                reason="the camera process cannot be cut off from the network on this machine "
                f"({hello.detail}); set camera.allow_unisolated = true to run it anyway"
            ),
        )
        return 3
    setup: SeatSetup | None = None
    if args.seat_check:
        try:
            setup = read_setup(sys.stdin.buffer)
        except ValueError as exc:
            _send(out, Fatal(reason=f"the seat check could not start: {exc}"))
            return 1
    for target in args.self_test_connect:
        log.warning("%s", try_connect(target))
    if args.nice > 0:
        os.nice(args.nice)  # before the models load: every thread they start inherits it

    import cv2

    from smartsession.errors import SmartSessionError
    from smartsession.vision.capture import VideoSource
    from smartsession.vision.source import CameraSource

    # This process does one small frame at a time: OpenCV's worker threads only add
    # hand-off and spinning (about 1 ms of CPU per frame on two cores), not speed.
    cv2.setNumThreads(1)
    try:
        from smartsession.vision.pipeline import FrameAnalyzer

        analyzer = FrameAnalyzer(tracking=True)
        analyzer.load_checks()
        if setup is not None:
            analyzer.seat_checker = _seat_checker(setup)
    except SmartSessionError as exc:
        _send(out, Fatal(reason=str(exc)))
        return 1
    # Everything loaded so far lives until exit: keep it out of the collector's full passes.
    gc.collect()
    gc.freeze()
    width, height = args.width or None, args.height or None
    # The agent paces the frames (it asks for each one when it is due): no pacing here. A
    # video file plays in real time, as a camera would.
    video = VideoSource(args.device, width=width, height=height, loop=args.loop, realtime=True)
    source = CameraSource(video, None, analyzer=analyzer)
    _send(out, Ready())
    try:
        while sys.stdin.buffer.read(1):
            signals = source.read()
            _send(out, Frame(signals=signals, problem=source.reason))
    except BrokenPipeError:
        pass
    finally:
        source.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
