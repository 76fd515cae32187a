"""Snapshots of every screen (update with --snapshot-update, only after looking at the pictures)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from smartsession.config import TuiConfig
from smartsession.core.states import AlertReason, State
from smartsession.tui import create_app

T0 = 1_725_267_600.0


async def _segments(pilot: Pilot[Any]) -> None:
    """Mark two segments after the app subscribed, with some samples in each."""
    feed = pilot.app.feed  # type: ignore[attr-defined]
    feed.mark("intro", T0 + 40)
    feed.sample("alan", T0 + 41, State.CONFUSED, confusion=0.7, reasons=("brow lowered 0.41 for 6 s",))
    feed.sample("ada", T0 + 41, State.FOCUSED, attention=0.9)
    feed.mark("slide 12: recursion", T0 + 45)
    feed.sample("alan", T0 + 46, State.CONFUSED, confusion=0.7, reasons=("brow lowered 0.41 for 6 s",))
    feed.sample("ada", T0 + 46, State.FOCUSED, attention=0.9)
    feed.sample("ken", T0 + 46, State.PAUSED, attention=0.5)
    await pilot.pause(0.4)


def _lab(feed: Any, students: int) -> None:
    """A bigger deterministic class for the large and compact snapshots."""
    names = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Ken", "Linus", "Margaret", "Donald", "Frances"]
    states = [State.FOCUSED] * 5 + [
        State.CONFUSED,
        State.ALERT,
        State.FOCUSED,
        State.CALIBRATING,
        State.PAUSED,
    ]
    for i in range(students):
        sid = f"s{i:03d}"
        feed.join(sid, f"{names[i % len(names)]} {i:03d}", T0)
        state = states[i % len(states)]
        for t in range(30):
            feed.sample(
                sid,
                T0 + t,
                state if t > 20 else State.FOCUSED,
                attention=round(0.3 + 0.6 * ((i * 7 + t) % 10) / 9, 2),
                confusion=round(0.2 + 0.6 * ((i * 3 + t) % 10) / 9, 2),
                alert=AlertReason.LOOKING_AWAY if state is State.ALERT and t > 20 else None,
                reasons=("looking away for 9 s",) if state is State.ALERT and t > 20 else (),
            )
        if i % 13 == 12:
            feed.leave(sid, T0 + 30)


def test_class_grid_80x24(snap_compare: Any, feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_segments)


def test_class_grid_160x50(snap_compare: Any, make_feed: Any, clock: Any) -> None:
    feed = make_feed()
    _lab(feed, 36)
    feed.alert("s006", T0 + 25, AlertReason.LOOKING_AWAY, "looking away for 5 s")
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(160, 50), run_before=_segments)


def test_compact_60_students_80x24(snap_compare: Any, make_feed: Any, clock: Any) -> None:
    feed = make_feed()
    _lab(feed, 60)
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(80, 24), press=["c"])


def test_cues_mode_grid(snap_compare: Any, feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(label_mode="cues", sparkline="confusion"), clock=clock)
    assert snap_compare(app, terminal_size=(120, 30), run_before=_segments)


def test_detail_screen(snap_compare: Any, feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(100, 40), press=["right", "right", "enter"])


def test_alerts_screen(snap_compare: Any, feed: Any, clock: Any) -> None:
    feed.alert("ada", T0 + 38, AlertReason.NO_FACE, "no face for 5 s")
    feed.alert("ken", T0 + 39, AlertReason.MULTIPLE_FACES, "2 faces for 2 s")
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(100, 24), press=["a"])


def test_help_screen(snap_compare: Any, feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(100, 34), press=["question_mark"])
