"""Pilot tests of the teacher's app over a scripted class (see conftest.py)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot

from smartsession.config import TuiConfig
from smartsession.core.snapshots import HubStatus
from smartsession.core.states import AlertReason, NoticeKind, State
from smartsession.tui import SmartSessionApp, create_app
from smartsession.tui.messages import StudentUpdated
from smartsession.tui.screens import AlertsScreen, ClassScreen, DetailScreen, HelpScreen, PromptScreen
from smartsession.tui.widgets import ClassHeader, StudentTile, TileGrid

SIZE = (120, 40)


def tiles(app: SmartSessionApp) -> dict[str, StudentTile]:
    return app.class_screen.grid.tiles


def header_text(app: SmartSessionApp) -> str:
    return str(app.class_screen.query_one(ClassHeader).render())


def screen_text(app: SmartSessionApp) -> str:
    """Every character on screen (the compositor's view), lines joined."""
    return "\n".join(line.text for line in app.screen._compositor.render_strips())


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
        badges = {sid: tile.badge_text for sid, tile in shown.items()}
        assert badges == {
            "ada": "● FOCUSED",
            "alan": "▲ CONFUSED",
            "grace": "■ ALERT",
            "edsger": "○ OFFLINE",
            "barbara": "… CALIBRATING",
            "ken": "‖ PAUSED",
        }
        assert shown["alan"].reason == "brow lowered 0.41 for 6 s"
        assert shown["grace"].reason == "looking away for 5 s"
        assert shown["edsger"].reason == "offline"
        # clock is T0 + 60; Ada's last sample was at T0 + 39, Barbara joined at T0 + 50.
        assert shown["ada"].age == "21s ago"
        assert shown["barbara"].age == "10s ago"
        # State is a CSS class too (colour), never the only signal.
        assert shown["grace"].has_class("-alert")
        assert shown["edsger"].has_class("-offline")
        assert shown["ada"].history == feed.roster.students()[0].attention_history[-120:]
        text = screen_text(app)
        for words in ("Ada Lovelace", "● FOCUSED", "■ ALERT", "looking away for 5 s", "21s ago"):
            assert words in text


async def test_sparklines_use_one_fixed_scale(make_feed: Any, clock: Any, t0: float) -> None:
    feed = make_feed()
    feed.join("calm", "Calm", t0)
    feed.join("wild", "Wild", t0)
    for i in range(20):
        feed.sample("calm", t0 + i, State.FOCUSED, attention=0.5 + 0.01 * (i % 2))
        feed.sample("wild", t0 + i, State.FOCUSED, attention=0.0 if i % 2 else 1.0)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE):
        text = screen_text(app)
        # A calm student's tiny wobble stays mid-height; it is not stretched to the full range.
        assert "▅" * 20 in text
        assert "█▁█▁█▁" in text


async def test_header_shows_class_clock_counts_and_hub(feed: Any, clock: Any) -> None:
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
        text = header_text(app)
        assert "cs101" in text
        assert "0:00:00" in text
        for part in ("●1 focused", "▲1 confused", "■1 alert", "○1 offline", "…1 calibrating", "‖1 paused"):
            assert part in text
        assert "alerts 1" in text
        assert "class attention" in text
        assert "ws://127.0.0.1:8765/  TLS on" in text
        assert "no segment yet" in text
        clock.now = start + 75
        await wait_until(pilot, lambda: "0:01:15" in header_text(app))


async def test_storage_error_is_prominent(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        feed.hub_status = HubStatus(storage_ok=False, storage_error="disk I/O error")
        await wait_until(pilot, lambda: "STORAGE ERROR: disk I/O error" in header_text(app))
        await wait_until(pilot, lambda: any("Storage error" in n.message for n in app._notifications))


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
        assert shown["ada"].badge_text == "▲ CONFUSED"
        assert shown["ada"].reason == "brow lowered 0.5 for 4 s"
        assert shown["ada"].age == "2s ago"
        assert shown["linus"].badge_text == "… CALIBRATING"
        assert shown["edsger"].badge_text == "● FOCUSED"
        header = app.screen.query_one(ClassHeader)
        assert header.count_by_state[State.CONFUSED] == 2
        assert header.count_by_state[State.OFFLINE] == 0
        assert header.count_by_state[State.CALIBRATING] == 2

        feed.alert("ada", t0 + 59, AlertReason.NO_FACE, "no face for 5 s")
        await wait_until(pilot, lambda: "alerts 2" in header_text(app))


async def test_new_alert_highlights_tile_logs_and_rings(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(bell=True), clock=clock)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        assert not tiles(app)["ada"].has_class("-flash")
        feed.alert("ada", t0 + 59, AlertReason.NO_FACE, "no face for 5 s")
        await wait_until(pilot, lambda: tiles(app)["ada"].has_class("-flash"))
        assert rings == [1]
        assert "last alert 09:00:59 Ada Lovelace" in header_text(app)
        clock.now += app.FLASH_SECONDS + 1
        await wait_until(pilot, lambda: not tiles(app)["ada"].has_class("-flash"))


async def test_a_burst_of_alerts_shares_one_toast_and_one_bell(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(bell=True), clock=clock)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        for sid in ("ada", "alan", "ken"):
            feed.alert(sid, t0 + 59, AlertReason.NO_FACE, "no face for 5 s")
        await wait_until(
            pilot, lambda: all(tiles(app)[sid].has_class("-flash") for sid in ("ada", "alan", "ken"))
        )
        await wait_until(pilot, lambda: any("3 new alerts" in n.message for n in app._notifications))
        toasts = [n.message for n in app._notifications if n.title == "Alert"]
        assert toasts == ["3 new alerts: Ken Thompson, Alan Turing, Ada Lovelace (a: alerts screen)"]
        assert rings == [1]


async def test_ages_tick_with_the_clock(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        ada = tiles(app)["ada"]
        clock.now += 120
        await wait_until(pilot, lambda: ada.age == "2m ago")


async def test_cues_mode_replaces_state_words_everywhere(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(label_mode="cues"), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        feed.mark("intro", t0 + 59)
        await wait_until(pilot, lambda: "§1 intro" in header_text(app))
        shown = tiles(app)
        badges = {sid: tile.badge_text for sid, tile in shown.items()}
        assert badges["ada"] == "● ON SCREEN"
        assert badges["alan"] == "▲ BROW/TILT"
        assert badges["grace"] == "■ ALERT"
        assert badges["edsger"] == "○ OFFLINE"
        seen = [screen_text(app)]
        assert "●1 on screen" in seen[0]
        assert "▲1 brow/tilt" in seen[0]
        await pilot.press("t")  # confusion sparklines are called by their cues
        await pilot.press("s", "s", "s")
        await pilot.pause()
        seen.append(header_text(app))
        tiles(app)["alan"].focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.2)
        seen.append(screen_text(app))
        await pilot.press("escape", "a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await pilot.pause(0.2)
        seen.append(screen_text(app))
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        seen.append(screen_text(app))
        words = "\n".join(seen).upper()
        assert "FOCUSED" not in words
        assert "CONFUSED" not in words
        assert "CONFUSION" not in words
        assert "BROW/TILT CUES" in words


async def test_states_mode_words(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(label_mode="states"), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause()
        text = screen_text(app)
        assert "● FOCUSED" in text and "▲ CONFUSED" in text
        assert "confusion" in header_text(app)


async def test_confusion_sparkline_from_config_and_t_toggles(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(sparkline="confusion"), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        alan = next(s for s in feed.students() if s.student_id == "alan")
        assert tiles(app)["alan"].history == alan.confusion_history[-120:]
        await pilot.press("t")
        await pilot.pause()
        assert tiles(app)["alan"].history == alan.attention_history[-120:]
        assert tiles(app)["alan"].has_class("-focused") is False


async def test_s_cycles_sort_orders(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.class_screen.grid
        assert grid.order == ["ada", "alan", "grace", "edsger", "barbara", "ken"]
        await pilot.press("s")
        assert grid.order == ["ada", "alan", "barbara", "edsger", "grace", "ken"]  # name
        assert "sort name" in header_text(app)
        await pilot.press("s")
        assert grid.order[:3] == ["grace", "alan", "edsger"]  # severity: alert, confused, offline
        await pilot.press("s")
        assert grid.order[0] == "alan"  # highest confusion score
        await pilot.press("s")
        assert grid.order == ["ada", "alan", "grace", "edsger", "barbara", "ken"]
        await pilot.pause()
        assert list(grid.tiles) == grid.order
        await pilot.press("s")  # by name: the screen shows that order, row by row
        await pilot.pause()
        text = screen_text(app)
        names = ["Ada Lovelace", "Alan Turing", "Barbara Liskov", "Edsger Dijkstra"]
        assert [text.index(name) for name in names] == sorted(text.index(name) for name in names)


async def test_focus_follows_the_student_when_the_order_changes(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        tiles(app)["ken"].focus()
        await pilot.press("s")  # by name: ken is last
        await pilot.pause()
        assert app.screen.focused is app.class_screen.grid
        assert app.class_screen.grid.focused_student == "ken"


async def test_slash_filters_by_name_and_escape_clears(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        assert app.screen.focused is app.class_screen.filter_input
        await pilot.press(*"ada")
        await pilot.pause()
        assert app.class_screen.grid.order == ["ada"]
        assert '"ada"' in header_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.focused is app.class_screen.grid
        assert app.class_screen.grid.focused_student == "ada"
        assert app.class_screen.grid.order == ["ada"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.class_screen.grid.order) == 6
        # escape while typing clears too
        await pilot.press("slash", "k", "e", "escape")
        await pilot.pause()
        assert len(app.class_screen.grid.order) == 6
        assert not app.class_screen.filter_input.display


async def test_f_shows_only_alerts(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert app.class_screen.grid.order == ["grace"]
        assert "alerts only" in header_text(app)
        await pilot.press("f")
        assert len(app.class_screen.grid.order) == 6


async def test_c_compact_fits_sixty_students_on_80x24(make_feed: Any, clock: Any, t0: float) -> None:
    feed = make_feed()
    for i in range(60):
        feed.join(f"s{i:02d}", f"Student {i:02d}", t0)
        feed.sample(f"s{i:02d}", t0 + 1, State.FOCUSED if i % 7 else State.ALERT)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause(0.2)
        grid = app.class_screen.grid
        assert grid.compact
        visible = [
            t for t in tiles(app).values() if t.region.height and grid.region.contains_region(t.region)
        ]
        assert len(visible) == 60
        text = screen_text(app)
        assert "Student 00" in text and "Student 59" in text
        await pilot.press("c")
        await pilot.pause()
        assert not grid.compact


async def test_arrows_move_between_tiles(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:  # 4 columns
        grid = app.class_screen.grid

        def focused() -> str | None:
            return grid.focused_student

        assert focused() == "ada"
        await pilot.press("right")
        assert focused() == "alan"
        await pilot.press("down")
        assert focused() == "ken"
        await pilot.press("left")
        assert focused() == "barbara"
        await pilot.press("up", "end")
        assert focused() == "ken"
        await pilot.press("home")
        assert focused() == "ada"
        await pilot.press("pagedown")
        assert focused() == "ken"
        await pilot.press("pageup")
        assert focused() == "ada"
        assert isinstance(grid, TileGrid)


async def test_cursor_scrolls_into_view_and_clicks_hit_the_scrolled_tile(
    make_feed: Any, clock: Any, t0: float
) -> None:
    feed = make_feed()
    for i in range(60):
        feed.join(f"s{i:02d}", f"Student {i:02d}", t0)
        feed.sample(f"s{i:02d}", t0 + 1, State.FOCUSED)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.class_screen.grid
        await pilot.press("end")
        await pilot.pause()
        assert grid.focused_student == "s59"
        last = tiles(app)["s59"]
        assert last.region.height == 6 and grid.region.contains_region(last.region)
        assert "Student 59" in screen_text(app)
        assert not tiles(app)["s00"].region  # scrolled out of view
        await pilot.press("pageup")
        assert grid.focused_student is not None and tiles(app)[grid.focused_student].region
        shown = next(sid for sid, t in tiles(app).items() if t.region.height == 6)  # first whole tile
        offset = tiles(app)[shown].region.offset - grid.region.offset
        await pilot.click(TileGrid, offset=(offset.x + 3, offset.y + 2))
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.student_id == shown  # type: ignore[attr-defined]


async def test_enter_opens_detail_and_escape_goes_back(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        tiles(app)["grace"].focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "Grace Hopper" in text
        assert "■ ALERT" in text
        assert "• looking away for 5 s" in text
        assert "09:00:35  looking away: looking away for 5 s" in text
        assert "09:00:00 → now" in text
        assert "● focused 35s" in text and "■ alert 25s" in text
        for cue in ("attention", "confusion", "head pose", "gaze away", "faces", "neg. expression"):
            assert cue in text
        assert "●●●" in text and "■■■" in text  # timeline
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.screen.student_id == "edsger"  # type: ignore[attr-defined]
        assert "09:00:00 → 09:00:39 (39s)" in screen_text(app)
        await pilot.press("p", "p")
        assert app.screen.student_id == "alan"  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, ClassScreen)


async def test_click_opens_detail(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click(TileGrid, offset=(3, 2))  # inside the first tile
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.student_id == "ada"  # type: ignore[attr-defined]


async def test_detail_shows_cues(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        app.open_student("ada")
        await pilot.pause(0.2)
        ada = app.student("ada")
        assert ada is not None and ada.cue_history.head_pose[-1] == 20.0
        assert "20°" in screen_text(app)


async def test_detail_title_shows_the_agents_effective_rate_live(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        app.open_student("ada")
        await wait_until(pilot, lambda: "Ada Lovelace" in screen_text(app))
        assert "frames/s analysed" not in screen_text(app)  # her agent has not said yet
        feed.sample("ada", t0 + 58, State.FOCUSED, fps=2.0)  # sitting still: the steady rate
        await wait_until(pilot, lambda: "2.0 frames/s analysed" in screen_text(app))
        feed.sample("ada", t0 + 59, State.FOCUSED, fps=4.6)  # a burst around a change
        await wait_until(pilot, lambda: "4.6 frames/s analysed" in screen_text(app))
        assert "2.0 frames/s" not in screen_text(app)


async def test_alerts_screen_newest_first_filter_by_reason(feed: Any, clock: Any, t0: float) -> None:
    feed.alert("ada", t0 + 40, AlertReason.NO_FACE, "no face for 5 s")
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert [a.name for a in screen.rows] == ["Ada Lovelace", "Grace Hopper"]
        assert screen.table.row_count == 2
        await pilot.press("r")  # no face
        assert [a.reason for a in screen.rows] == [AlertReason.NO_FACE]
        assert screen.table.row_count == 1
        await pilot.press("r")  # multiple faces
        assert screen.table.row_count == 0
        await pilot.press("r")  # looking away
        assert [a.name for a in screen.rows] == ["Grace Hopper"]
        feed.alert("grace", t0 + 59, AlertReason.LOOKING_AWAY, "again")
        await wait_until(pilot, lambda: screen.table.row_count == 2)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.student_id == "grace"  # type: ignore[attr-defined]
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, ClassScreen)


async def test_help_lists_every_binding(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.1)
        text = screen_text(app)
        keys = {b.key_display or b.key for b in app.BINDINGS if isinstance(b, Binding)}
        keys |= {"s", "/", "f", "c", "t", "n / p", "r", "escape", "enter / click"}
        for key in keys:
            assert f"  {key}" in text, key
        await pilot.press("escape")
        assert isinstance(app.screen, ClassScreen)


async def test_m_marks_a_segment_and_shares_are_live(feed: Any, clock: Any, t0: float) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"slide 12", "enter")
        await wait_until(pilot, lambda: feed.marked == ["slide 12"])
        await wait_until(pilot, lambda: "§1 slide 12 confused 0%" in header_text(app))
        feed.sample("alan", t0 + 61, State.CONFUSED, confusion=0.8)
        feed.sample("ada", t0 + 62, State.FOCUSED)
        await wait_until(pilot, lambda: "§1 slide 12 confused 50%" in header_text(app))
        feed.mark("recursion", t0 + 63)
        feed.sample("ada", t0 + 64, State.FOCUSED)
        await wait_until(pilot, lambda: "§2 recursion confused 0%  §1 50%" in header_text(app))
        # escape cancels; an error is shown, not raised
        await pilot.press("m", "escape")
        assert feed.marked == ["slide 12"]
        feed.segment_error = OSError("store closed")
        await pilot.press("m", "x", "enter")
        await wait_until(pilot, lambda: any("Could not mark" in n.message for n in app._notifications))


async def test_segments_marked_before_the_view_opened_are_shown(feed: Any, clock: Any, t0: float) -> None:
    """The teacher restarts the view (or the hub marked segments first): nothing is forgotten."""
    feed.mark("intro", t0 + 10)
    feed.sample("alan", t0 + 11, State.CONFUSED, confusion=0.8)
    feed.mark("recursion", t0 + 20)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "§2 recursion confused" in header_text(app))
        assert "§1 " in header_text(app)
        assert [segment.label for segment in app.segments] == ["intro", "recursion"]


async def test_e_exports_in_a_worker_and_says_where(feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await wait_until(
            pilot, lambda: any("smartsession-report.html" in n.message for n in app._notifications)
        )
        feed.report = PermissionError("read-only folder")
        await pilot.press("e")
        await wait_until(
            pilot, lambda: any("Export failed: read-only folder" in n.message for n in app._notifications)
        )
        assert feed.exports == 2
        assert isinstance(feed.report, Exception) and Path("/tmp") is not None


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
        assert isinstance(grid, TileGrid) and grid.columns == 2


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


async def test_a_connection_notice_is_a_toast_a_row_and_a_line_in_the_detail(
    feed: Any, clock: Any, t0: float
) -> None:
    """What the hub says about a student's connection (a takeover, a refused flood) reaches the teacher."""
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        feed._publish(
            feed.roster.notice("ada", NoticeKind.TAKEOVER, "connected again from 10.0.0.9 ('pc-x')", t0 + 59)
        )
        await wait_until(pilot, lambda: any(n.title == "Connection" for n in app._notifications))
        (toast,) = [n for n in app._notifications if n.title == "Connection"]
        assert toast.message == "Ada Lovelace: connected again from elsewhere" and toast.severity == "error"
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        for _ in range(1 + len(AlertReason)):
            await pilot.press("r")
        assert screen.reason is NoticeKind.TAKEOVER
        assert [(a.name, a.reason) for a in screen.rows] == [("Ada Lovelace", NoticeKind.TAKEOVER)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = str(app.screen.reasons.render())  # type: ignore[attr-defined]
        assert "hub: connected again from elsewhere: connected again from 10.0.0.9" in text
