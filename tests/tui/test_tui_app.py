"""Pilot tests of the teacher's app over a scripted class (see conftest.py)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from smartsession.config import TuiConfig
from smartsession.core.states import AlertReason, State
from smartsession.tui import SmartSessionApp, create_app
from smartsession.tui.messages import StudentUpdated
from smartsession.tui.widgets import ClassHeader, StudentTile

SIZE = (120, 40)


def tiles(app: SmartSessionApp) -> dict[str, StudentTile]:
    return {tile.student.student_id: tile for tile in app.screen.query(StudentTile)}


def label_text(tile: StudentTile, cls: str) -> str:
    return str(tile.query_one(f".{cls}").render())


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], seconds: float = 3.0) -> None:
    """Let the app run until ``predicate`` holds (the app redraws on a timer)."""
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


async def test_tiles_show_names_badges_reasons_and_ages(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE):
        shown = tiles(app)
        assert list(shown) == ["ada", "alan", "grace", "edsger", "barbara", "ken"]
        assert label_text(shown["ada"], "tile--name") == "Ada Lovelace"
        badges = {sid: label_text(tile, "tile--badge") for sid, tile in shown.items()}
        assert badges == {
            "ada": "● FOCUSED",
            "alan": "▲ CONFUSED",
            "grace": "■ ALERT",
            "edsger": "○ OFFLINE",
            "barbara": "… CALIBRATING",
            "ken": "‖ PAUSED",
        }
        assert label_text(shown["alan"], "tile--reason") == "brow lowered 0.41 for 6 s"
        assert label_text(shown["grace"], "tile--reason") == "looking away for 5 s"
        assert label_text(shown["edsger"], "tile--reason") == "offline"
        # clock is T0 + 60; Ada's last sample was at T0 + 39, Barbara joined at T0 + 50.
        assert label_text(shown["ada"], "tile--age") == "21s ago"
        assert label_text(shown["barbara"], "tile--age") == "10s ago"
        # State is a CSS class too (colour), never the only signal.
        assert shown["grace"].has_class("-alert")
        assert shown["edsger"].has_class("-offline")
        assert (
            shown["ada"].query_one(".tile--spark").data == feed.roster.students()[0].attention_history[-120:]
        )


async def test_header_shows_class_clock_and_counts(feed: Any, clock: Any) -> None:
    start = clock.now
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one(ClassHeader)
        assert header.count_by_state == {
            State.FOCUSED: 1,
            State.CONFUSED: 1,
            State.ALERT: 1,
            State.OFFLINE: 1,
            State.CALIBRATING: 1,
            State.PAUSED: 1,
        }
        text = str(header.render())
        assert "cs101" in text
        assert "0:00:00" in text
        for part in ("●1 focused", "▲1 confused", "■1 alert", "○1 offline", "…1 calibrating", "‖1 paused"):
            assert part in text
        assert "alerts 1" in text
        clock.now = start + 75
        await wait_until(pilot, lambda: "0:01:15" in str(header.render()))


async def test_live_updates_arrive(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        feed.sample("ada", t0 + 58, State.CONFUSED, confusion=0.7, reasons=("brow lowered 0.5 for 4 s",))
        feed.join("linus", "Linus Torvalds", t0 + 59)
        feed.sample("edsger", t0 + 59, State.FOCUSED)  # ignored: edsger left
        feed.join("edsger", "Edsger Dijkstra", t0 + 59)
        feed.sample("edsger", t0 + 59, State.FOCUSED, reasons=("face on screen",))
        await wait_until(pilot, lambda: "linus" in tiles(app))
        shown = tiles(app)
        assert label_text(shown["ada"], "tile--badge") == "▲ CONFUSED"
        assert label_text(shown["ada"], "tile--reason") == "brow lowered 0.5 for 4 s"
        assert label_text(shown["ada"], "tile--age") == "2s ago"
        assert label_text(shown["linus"], "tile--badge") == "… CALIBRATING"
        assert label_text(shown["edsger"], "tile--badge") == "● FOCUSED"
        header = app.screen.query_one(ClassHeader)
        assert header.count_by_state[State.CONFUSED] == 2
        assert header.count_by_state[State.OFFLINE] == 0
        assert header.count_by_state[State.CALIBRATING] == 2

        feed.alert("ada", t0 + 59, AlertReason.NO_FACE, "no face for 5 s")
        await wait_until(pilot, lambda: "alerts 2" in str(header.render()))


async def test_ages_tick_with_the_clock(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        ada = tiles(app)["ada"]
        clock.now += 120
        await wait_until(pilot, lambda: label_text(ada, "tile--age") == "2m ago")


async def test_cues_mode_replaces_state_words(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(label_mode="cues"), clock=clock)
    async with app.run_test(size=SIZE):
        shown = tiles(app)
        badges = {sid: label_text(tile, "tile--badge") for sid, tile in shown.items()}
        assert badges["ada"] == "● ON SCREEN"
        assert badges["alan"] == "▲ BROW/TILT"
        assert badges["grace"] == "■ ALERT"
        assert badges["edsger"] == "○ OFFLINE"
        words = " ".join(badges.values()) + str(app.screen.query_one(ClassHeader).render())
        assert "FOCUSED" not in words.upper()
        assert "CONFUSED" not in words.upper()
        assert "●1 on screen" in words
        assert "▲1 brow/tilt" in words


async def test_confusion_sparkline_from_config(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(sparkline="confusion"), clock=clock)
    async with app.run_test(size=SIZE):
        alan = tiles(app)["alan"]
        expected = next(s for s in feed.students() if s.student_id == "alan").confusion_history
        assert alan.query_one(".tile--spark").data == expected


async def test_q_quits_and_unsubscribes(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        assert feed.listeners == 1
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert feed.listeners == 0
    assert app.return_code == 0


async def test_grid_reflows_with_width(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.screen.query_one("#tiles")
        rows = {tile.region.y for tile in tiles(app).values()}
        assert len(rows) == 2  # 4 columns
        await pilot.resize_terminal(54, 40)
        await wait_until(pilot, lambda: len({t.region.y for t in tiles(app).values()}) == 3)
        assert grid.styles.grid_size_columns == 2


def test_student_updates_replace_queued_ones(feed: Any) -> None:
    ada_old, alan, *_ = feed.students()
    feed.sample("ada", 2e9, State.ALERT)
    ada_new = feed.students()[0]
    newer = StudentUpdated(ada_new)
    assert newer.can_replace(StudentUpdated(ada_old))
    assert not newer.can_replace(StudentUpdated(alan))


class FakeService:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.entered = False
        self.exited = False

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[object]:
        if self.fail:
            raise OSError("address already in use")
        self.entered = True
        try:
            yield self
        finally:
            self.exited = True


async def test_service_is_entered_on_mount_and_exited_on_quit(feed: Any, clock: Any) -> None:
    service = FakeService()
    app = create_app(feed, TuiConfig(), service=service.run(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: service.entered)
        assert not service.exited
        await pilot.press("q")
        await pilot.pause()
    assert service.exited


async def test_service_failure_exits_with_message(
    feed: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(feed, TuiConfig(), service=FakeService(fail=True).run(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_code == 1
    assert isinstance(app.service_error, OSError)
    assert "SmartSession could not start: address already in use" in capsys.readouterr().err


async def test_logging_stays_off_the_terminal(feed: Any, clock: Any) -> None:
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)
    root.addHandler(console)
    try:
        app = create_app(feed, TuiConfig(), clock=clock)
        async with app.run_test(size=SIZE):
            assert console not in root.handlers
        assert console in root.handlers
    finally:
        root.removeHandler(console)
