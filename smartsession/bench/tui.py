"""``smartsession bench tui``: the real class view, headless, fed by simulated students.

Samples are generated before the clock starts and pushed through a real `Roster` at the
given rate, so the numbers are the app's: CPU of this process minus the time spent feeding,
the time the screen spends on layout and compositing per frame (plus rendering it to
terminal escape codes, which a headless app would skip), and key-to-screen latency (``t``
switches every sparkline; timed from the key press until the first frame that paints the
grid after the change).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartsession.config import TuiConfig
from smartsession.core.protocol import Cues, Sample
from smartsession.core.roster import Roster
from smartsession.core.snapshots import ClassPulse, HubStatus, RosterEvent
from smartsession.core.states import AlertReason, State


class BenchFeed:
    """A `ClassFeed` over a real `Roster`, fed by `feed` with pre-built samples."""

    def __init__(self, students: int) -> None:
        self.roster = Roster("bench")
        self._listeners: list[Callable[[RosterEvent], None]] = []
        self.feed_seconds = 0.0
        for i in range(students):
            self.roster.join(f"s{i:03d}", f"Student {i:03d}", f"pc{i:03d}", time.time())

    @property
    def class_id(self) -> str:
        return self.roster.class_id

    def students(self) -> list[Any]:
        return self.roster.students()

    def alerts(self) -> list[Any]:
        return self.roster.alerts()

    def class_alerts(self) -> list[Any]:
        return self.roster.class_alerts()

    def segments(self) -> list[Any]:
        return self.roster.segments()

    def hub_gaps(self) -> list[Any]:
        return self.roster.hub_gaps()

    def pulse(self) -> ClassPulse:
        return self.roster.pulse(time.time())

    def subscribe(self, listener: Callable[[RosterEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def status(self) -> HubStatus:
        return HubStatus(url="ws://127.0.0.1:0/", tls=False)

    async def mark_segment(self, label: str) -> None:
        self._publish(self.roster.mark_segment(label, time.time()))

    async def export_report(self) -> Path:
        raise NotImplementedError("no store in the benchmark")

    def _publish(self, events: list[RosterEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                listener(event)

    def feed(self, student_id: str, sample: Sample) -> None:
        started = time.process_time()
        self._publish(self.roster.apply(student_id, sample, time.time()))
        self.feed_seconds += time.process_time() - started


def _samples(students: int, count: int, seed: int = 7) -> list[list[Sample]]:
    """``count`` samples per student, deterministic, with state changes and alerts."""
    rng = random.Random(seed)
    out: list[list[Sample]] = []
    for _ in range(students):
        row = []
        attention = rng.random()
        state = State.FOCUSED
        for seq in range(1, count + 1):
            attention = min(1.0, max(0.0, attention + rng.uniform(-0.15, 0.15)))
            confusion = rng.random() * 0.8
            if rng.random() < 0.03:  # the engine's hysteresis keeps states for seconds
                state = rng.choice([State.FOCUSED, State.FOCUSED, State.CONFUSED, State.ALERT])
            row.append(
                Sample(
                    seq=seq,
                    ts=1e9,
                    state=state,
                    attention=round(attention, 3),
                    confusion=round(confusion, 3),
                    faces=1,
                    alert=AlertReason.LOOKING_AWAY if state is State.ALERT else None,
                    reasons=("looking away 5 s",) if state is State.ALERT else ("brow lowered",),
                    cues=Cues(yaw=rng.uniform(-20, 20), gaze_away=rng.random() * 0.3),
                )
            )
        out.append(row)
    return out


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


async def run(
    students: int, rate: float, duration: float, size: tuple[int, int], presses: int
) -> dict[str, Any]:
    """Run the app for ``duration`` seconds with ``students`` at ``rate`` samples/s each."""
    from rich.console import Console
    from textual.screen import Screen

    from smartsession.tui import create_app
    from smartsession.tui.app import SmartSessionApp

    feed = BenchFeed(students)
    samples = _samples(students, max(1, int(duration * rate) + 2))
    app = create_app(feed, TuiConfig())
    frames: list[float] = []
    displays: list[float] = []
    frame_shown = asyncio.Event()
    sink = Console(file=open("/dev/null", "w"), force_terminal=True, color_system="truecolor", width=size[0])  # noqa: SIM115, ASYNC230

    original_update = Screen._on_timer_update

    def timed_update(screen: Screen[Any]) -> None:
        started = time.perf_counter()
        original_update(screen)
        frames.append((time.perf_counter() - started) * 1000)

    original_display = SmartSessionApp._display
    #: The grid's view change awaited (0: none) and when a frame first showed it.
    awaited = {"view": 0, "shown": 0.0}

    def display(self: SmartSessionApp, screen: Screen[Any], renderable: Any) -> None:
        if renderable is not None and hasattr(renderable, "render_segments"):
            sink.file.write(renderable.render_segments(sink))  # what a real terminal would be sent
        original_display(self, screen, renderable)
        now = time.perf_counter()
        displays.append(now)
        waiting = awaited["view"] and not awaited["shown"]
        # The first frame that painted the grid after the view changed shows the change.
        if renderable is not None and waiting and self.class_screen.grid.drawn_view >= awaited["view"]:
            awaited["shown"] = now
        frame_shown.set()

    Screen._on_timer_update = timed_update  # type: ignore[method-assign,assignment]
    SmartSessionApp._display = display  # type: ignore[method-assign,assignment]
    latencies: list[float] = []
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.5)
            grid = app.class_screen.grid
            interval = 1.0 / rate
            per_tick = students
            wall0, cpu0, fed0 = time.perf_counter(), time.process_time(), feed.feed_seconds
            frames.clear()
            step = 0
            next_tick = wall0
            press_every = duration / (presses + 1)
            next_press = wall0 + press_every
            ticks = int(duration * rate)
            while step < ticks:
                now = time.perf_counter()
                if now >= next_tick:
                    for i in range(per_tick):
                        feed.feed(f"s{i:03d}", samples[i][step])
                    step += 1
                    next_tick += interval
                if now >= next_press and len(latencies) < presses:
                    next_press += press_every
                    target = "confusion" if grid.spark_source == "attention" else "attention"
                    awaited["view"], awaited["shown"] = grid.view_changes + 1, 0.0
                    pressed = time.perf_counter()
                    await pilot.press("t")
                    assert grid.spark_source == target
                    while not awaited["shown"]:  # the first frame drawn after the change
                        frame_shown.clear()
                        await frame_shown.wait()
                    latencies.append((awaited["shown"] - pressed) * 1000)
                    awaited["view"] = 0
                await asyncio.sleep(max(0.0, min(next_tick, next_press) - time.perf_counter()))
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            fed = feed.feed_seconds - fed0
            frame_times = list(frames)
            await pilot.press("q")
    finally:
        Screen._on_timer_update = original_update  # type: ignore[method-assign]
        SmartSessionApp._display = original_display  # type: ignore[method-assign]
        sink.file.close()
    return {
        "benchmark": "tui",
        "students": students,
        "rate_per_student": rate,
        "duration_s": round(wall, 2),
        "terminal": f"{size[0]}x{size[1]}",
        "updates_per_s": round(students * step / wall, 1),
        "cpu_percent": round(100 * (cpu - fed) / wall, 1),
        "feed_cpu_percent": round(100 * fed / wall, 1),
        "frames": len(frame_times),
        "p95_frame_ms": round(_p95(frame_times), 2),
        "max_frame_ms": round(max(frame_times, default=0.0), 2),
        "key_presses": len(latencies),
        "key_to_screen_p95_ms": round(_p95(latencies), 1),
        "key_to_screen_max_ms": round(max(latencies, default=0.0), 1),
    }


def main(argv: list[str]) -> int:
    """Parse options, run, print JSON; exit 0."""
    parser = argparse.ArgumentParser(prog="smartsession bench tui", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--rate", type=float, default=2.0, help="samples per second per student")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=50)
    parser.add_argument("--presses", type=int, default=10, help="key presses timed")
    parser.add_argument("--quick", action="store_true", help="3 s and 4 key presses (for tests)")
    args = parser.parse_args(argv)
    duration, presses = (3.0, 4) if args.quick else (args.duration, args.presses)
    result = asyncio.run(run(args.students, args.rate, duration, (args.width, args.height), presses))
    print(json.dumps(result))
    return 0
