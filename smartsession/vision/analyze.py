"""``smartsession analyze PATH [--table] [--every N]``: what the agent sees in an image or video.

Runs the agent's own pipeline (landmarker, people counter, expression model) and the real
engagement engine on every Nth frame, with the video's own timestamps as the engine's
clock, and prints one JSON line per analysed frame (or a table): with the engine's
confusion and attention scores for that frame, where the student looks (`gaze_direction`)
and whether the engine has the student's own baseline yet (``calibrated``; until then the
scores are against the population baseline). A progress bar goes to stderr, only when
stderr is a terminal; what the native libraries print goes to the debug log (``-v``). Like
the agent's vision process, it cuts itself off the network first where the OS allows (it
only reads a local file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from smartsession.core.engagement import Change, EngagementEngine, Reading
from smartsession.core.protocol import EventKind
from smartsession.core.settings import EngagementSettings, Policy
from smartsession.core.signals import EXPRESSIONS, FrameSignals
from smartsession.core.states import AlertReason
from smartsession.vision.images import BGRImage
from smartsession.vision.source import Analyzer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
#: Frame rate assumed when a video does not say.
DEFAULT_FPS = 25.0
_CUES = (
    "brow_down",
    "brow_inner_up",
    "eye_squint",
    "lip_press",
    "smile",
    "eye_closed",
    "jaw_open",
    "eye_look_down",
)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def record(
    index: int,
    signals: FrameSignals,
    engine: EngagementEngine,
    outputs: list[Reading | Change],
    alerts: set[AlertReason],
    reasons: tuple[str, ...],
) -> dict[str, Any]:
    """The JSON object of one analysed frame."""
    score = engine.frame
    return {
        "frame": index,
        "t": round(signals.t, 3),
        "camera": signals.camera.value,
        "faces": signals.faces,
        "yaw": round(signals.yaw, 1),
        "pitch": round(signals.pitch, 1),
        "roll": round(signals.roll, 1),
        "gaze": [round(signals.gaze_x, 3), round(signals.gaze_y, 3)],
        "cues": {name: round(getattr(signals, name), 3) for name in _CUES},
        "expressions": {name: round(p, 3) for name, p in zip(EXPRESSIONS, signals.expressions, strict=False)},
        "confusion": _rounded(score.confusion),
        "attention": round(score.attention, 3),
        "gaze_direction": score.gaze.value if score.gaze is not None else None,
        "looking_down": score.looking_down,
        "calibrated": engine.calibrated,
        "state": engine.state.value,
        "alerts": sorted(a.value for a in alerts),
        "reasons": list(reasons),
        "events": [c.detail for c in outputs if isinstance(c, Change) and c.kind is not EventKind.STATE],
    }


def analyze_frames(
    frames: Iterable[tuple[int, float, BGRImage]], analyzer: Analyzer, settings: EngagementSettings
) -> Iterator[dict[str, Any]]:
    """One record per ``(index, t, bgr)`` frame, through ``analyzer`` and a fresh engine."""
    engine = EngagementEngine(settings)
    alerts: set[AlertReason] = set()
    reasons: tuple[str, ...] = ()
    for index, t, bgr in frames:
        signals = analyzer.analyze(bgr, t)
        outputs = engine.update(signals)
        for out in outputs:
            if isinstance(out, Reading):
                reasons = out.reasons
            elif out.reason is not None and out.kind is EventKind.ALERT:
                alerts.add(out.reason)
            elif out.reason is not None and out.kind is EventKind.ALERT_CLEARED:
                alerts.discard(out.reason)
        yield record(index, signals, engine, outputs, alerts, reasons)


def read_frames(path: Path, every: int) -> tuple[Iterator[tuple[int, float, BGRImage]], int]:
    """Frames of an image or a video (every ``every``-th), and how many will be analysed (0 unknown)."""
    import cv2
    import numpy as np

    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"{path}: not a readable image")
        return iter([(0, 0.0, np.asarray(image, dtype=np.uint8))]), 1
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"{path}: not a readable image or video")
    fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    if not 0.5 <= fps <= 1000:
        fps = DEFAULT_FPS
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames() -> Iterator[tuple[int, float, BGRImage]]:
        index = 0
        try:
            while True:
                if index % every == 0:
                    ok, frame = cap.read()
                else:
                    ok, frame = cap.grab(), None
                if not ok:
                    return
                if frame is not None:
                    yield index, index / fps, np.asarray(frame, dtype=np.uint8)
                index += 1
        finally:
            cap.release()

    return frames(), (count + every - 1) // every if count > 0 else 0


class Progress:
    """A one-line progress bar on a terminal; does nothing when ``stream`` is not one."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.enabled = total > 1 and stream.isatty()
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if self.enabled:
            share = min(1.0, self.done / self.total)
            bar = "#" * round(30 * share)
            self.stream.write(f"\r[{bar:<30}] {share:4.0%} {self.done}/{self.total}")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


TABLE_HEADER = (
    f"{'t':>8} {'faces':>5} {'yaw':>6} {'pitch':>6} {'roll':>6} {'gaze':>11} {'look':<6} {'smile':>5} "
    f"{'brow':>5} {'conf':>5} {'attn':>5} {'expression':<12} {'calibrated':<10} {'state':<11} reasons"
)


def table_row(rec: dict[str, Any]) -> str:
    """One line of the ``--table`` output (the same columns as the JSON, fewer of them)."""
    expressions: dict[str, float] = rec["expressions"]
    top = max(expressions, key=lambda name: expressions[name]) if expressions else "-"
    gaze = f"{rec['gaze'][0]:+.2f},{rec['gaze'][1]:+.2f}"
    confusion = "-" if rec["confusion"] is None else f"{rec['confusion']:.2f}"
    reasons = "; ".join(rec["alerts"] or rec["reasons"])
    return (
        f"{rec['t']:8.2f} {rec['faces']:5d} {rec['yaw']:6.1f} {rec['pitch']:6.1f} {rec['roll']:6.1f} "
        f"{gaze:>11} {rec['gaze_direction'] or '-':<6} {rec['cues']['smile']:5.2f} "
        f"{rec['cues']['brow_down']:5.2f} {confusion:>5} {rec['attention']:5.2f} {top:<12} "
        f"{str(rec['calibrated']).lower():<10} {rec['state']:<11} {reasons}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartsession analyze",
        description="Analyse an image or a video file with the agent's pipeline and engine.",
    )
    parser.add_argument("path", type=Path, help="image (jpg, png, ...) or video file")
    parser.add_argument("--table", action="store_true", help="a table instead of JSON lines")
    parser.add_argument(
        "--every", type=int, default=1, metavar="N", help="analyse every Nth frame (default 1)"
    )
    settings = parser.add_mutually_exclusive_group()
    settings.add_argument(
        "-c", "--config", type=Path, help="take [engagement] settings from this config file"
    )
    settings.add_argument(
        "--policy",
        choices=[p.value for p in Policy],
        help="the engine's defaults with this policy's alert times (default lecture)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the command; returns the exit code (0 ok, 1 unreadable input, 2 bad arguments)."""
    args = _parser().parse_args(argv)
    if args.every < 1:
        print("smartsession analyze: --every must be at least 1", file=sys.stderr)
        return 2
    from smartsession.agent.isolation import isolate_network

    isolate_network()  # a local file needs no network; mediapipe's logging then cannot leave
    settings = EngagementSettings.for_policy(Policy(args.policy or Policy.LECTURE))
    if args.config is not None:
        from smartsession.config import load_config

        settings = load_config(args.config).engagement
    if not args.path.exists():
        print(f"smartsession analyze: {args.path}: no such file", file=sys.stderr)
        return 1
    try:
        frames, total = read_frames(args.path, args.every)
    except ValueError as exc:
        print(f"smartsession analyze: {exc}", file=sys.stderr)
        return 1
    from smartsession.vision.native_log import native_stderr_to_log
    from smartsession.vision.pipeline import FrameAnalyzer

    out = sys.stdout
    if args.table:
        out.write(TABLE_HEADER + "\n")
    with native_stderr_to_log():
        progress = Progress(total, sys.stderr)
        with FrameAnalyzer() as analyzer:
            for rec in analyze_frames(frames, analyzer, settings):
                out.write((table_row(rec) if args.table else json.dumps(rec, separators=(",", ":"))) + "\n")
                progress.step()
        progress.finish()
    out.flush()
    return 0
