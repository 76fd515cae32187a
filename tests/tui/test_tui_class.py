"""Pilot tests of the class as a whole: the class alert, the roster's absent and late students,
the attention index, and reasons that say something."""

from __future__ import annotations

from typing import Any

from feeds import T0, ScriptedFeed
from test_tui_app import header_text, screen_text, tiles, wait_until

from smartsession.config import TuiConfig
from smartsession.core.classwide import ClassSettings
from smartsession.core.states import State
from smartsession.tui import create_app
from smartsession.tui.screens import AlertsScreen

SIZE = (120, 40)
CLASS = {f"s{i}": f"Student {i}" for i in range(1, 6)}


def _class_of_five(feed: ScriptedFeed, until: int, confused_from: int) -> None:
    """Five students, one sample a second; four of them Confused together from ``confused_from``."""
    for sid, name in CLASS.items():
        feed.join(sid, name, T0)
    for t in range(until):
        for sid in CLASS:
            confused = sid != "s5" and t >= confused_from
            feed.sample(
                sid,
                T0 + t,
                State.CONFUSED if confused else State.FOCUSED,
                attention=0.4 if confused else 0.9,
                confusion=0.8 if confused else 0.1,
                reasons=("brow lowered 0.40 for 4 s", "confusion 0.80") if confused else ("focused",),
            )


async def test_a_confusion_spike_is_a_class_alert_toast_bell_row_and_header(clock: Any) -> None:
    feed = ScriptedFeed(clock=clock)
    feed.mark("slide 3: recursion", T0)
    app = create_app(feed, TuiConfig(bell=True), clock=clock)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        _class_of_five(feed, until=15, confused_from=5)  # Confused from T0 + 5: raised at T0 + 15? not yet
        await pilot.pause(0.3)
        assert not feed.class_alerts() and rings == []
        feed.sample("s1", T0 + 15, State.CONFUSED, attention=0.4, confusion=0.8)  # 10 s of 4 of 5
        await wait_until(pilot, lambda: any(n.title == "Class" for n in app._notifications))
        (toast,) = [n for n in app._notifications if n.title == "Class"]
        assert toast.message == "Class: 4 of 5 confused for 10 s, segment 1"
        assert rings == [1]
        await wait_until(pilot, lambda: "⚠ class: 4 of 5 confused for 10 s, segment 1" in header_text(app))
        assert "alerts 1" in header_text(app)  # the class alert counts with the others
        for t in range(16, 40):  # it lasts: no second toast, no second bell
            for sid in CLASS:
                feed.sample(sid, T0 + t, State.CONFUSED if sid != "s5" else State.FOCUSED)
        await pilot.pause(0.3)
        assert len([n for n in app._notifications if n.title == "Class"]) == 1 and rings == [1]
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        await wait_until(pilot, lambda: screen.table.row_count == 1)
        text = screen_text(app)
        assert "Alerts: 1 of 1" in text
        assert "class" in text and "class alert" in text and "4 of 5 confused for 10 s, segment 1" in text
        for t in range(40, 50):  # the class finds its way: the alert clears after 5 s below
            for sid in CLASS:
                feed.sample(sid, T0 + t, State.FOCUSED)
        await wait_until(pilot, lambda: "(cleared 09:00:40)" in screen_text(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: "⚠ class" not in header_text(app))
    (spike,) = feed.class_alerts()
    assert spike.ended_at == T0 + 40 and spike.peak == 4


async def test_the_class_attention_index_is_smoothed_and_in_the_header(clock: Any) -> None:
    feed = ScriptedFeed(clock=clock, settings=ClassSettings(attention_smoothing=10.0))
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        _class_of_five(feed, until=40, confused_from=30)  # 10 s of 4 of 5 at attention 0.4
        clock.now = T0 + 39
        await pilot.pause(1.2)
        plain_mean = (4 * 0.4 + 0.9) / 5  # what the header showed before: 50%, a jump
        index = feed.pulse().attention
        assert index is not None and plain_mean + 0.05 < index < 0.9 - 0.05  # on its way down
        assert f"{index:4.0%}" in header_text(app)


async def test_roster_students_not_joined_are_absent_tiles_then_late(make_feed: Any, clock: Any) -> None:
    feed = ScriptedFeed(clock=clock, expected={"pc-01": "Ann One", "pc-02": "Ben Two", "pc-03": "Cy Three"})
    feed.join("pc-01", "st1", T0 + 10)  # the agent's own name is not the roster's
    feed.sample("pc-01", T0 + 11, State.FOCUSED, reasons=("focused",), attention=0.92)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        shown = tiles(app)
        assert list(shown) == ["pc-01", "pc-02", "pc-03"]  # arrivals first, then those not here
        assert shown["pc-01"].badge_text == "● FOCUSED" and "st1" not in screen_text(app)
        assert shown["pc-02"].badge_text == "○ ABSENT" and shown["pc-02"].reason == "not joined yet"
        assert shown["pc-02"].has_class("-absent") and shown["pc-02"].age == ""
        assert "Ann One" in screen_text(app) and "Ben Two" in screen_text(app)
        assert "absent 2" in header_text(app) and "○0 offline" in header_text(app)
        assert feed.pulse().present == 1  # absent students are not in the class measures
        await pilot.press("s")  # by name: absent students sort with the others
        await pilot.pause()
        assert app.class_screen.grid.order == ["pc-01", "pc-02", "pc-03"]
        await pilot.press("s")  # by state: absent last
        await pilot.pause()
        assert app.class_screen.grid.order[-2:] == ["pc-02", "pc-03"]
        await pilot.press("slash", *"absent", "enter")
        await pilot.pause()
        assert app.class_screen.grid.order == ["pc-02", "pc-03"]
        await pilot.press("escape")
        feed.join("pc-03", "st3", T0 + 7 * 60)  # after report.late_after_minutes (5)
        feed.sample("pc-03", T0 + 7 * 60 + 1, State.CALIBRATING)
        await wait_until(pilot, lambda: tiles(app)["pc-03"].has_class("-late"))
        cy = tiles(app)["pc-03"]
        assert cy.late == "late 7.0 min" and cy.badge_text == "… CALIBRATING"
        assert "late 7.0m" in screen_text(app) and "absent 1" in header_text(app)  # as it fits
        assert cy.student.name == "Cy Three"


async def test_a_focused_tile_says_why_never_only_its_state_word(make_feed: Any, clock: Any) -> None:
    feed = make_feed()
    feed.join("ada", "Ada", T0)
    feed.join("bob", "Bob", T0)
    feed.sample("ada", T0 + 1, State.FOCUSED, reasons=("focused",), attention=0.92)
    feed.sample("bob", T0 + 1, State.CONFUSED, reasons=("confused",), confusion=0.71)
    for mode, bob in (("states", "confusion 0.71"), ("cues", "brow/tilt cues 0.71")):
        app = create_app(feed, TuiConfig(label_mode=mode), clock=clock)  # type: ignore[arg-type]
        async with app.run_test(size=(80, 24)) as pilot:
            shown = tiles(app)
            assert shown["ada"].reason == "on screen, attention 0.92"
            assert shown["bob"].reason == bob
            text = screen_text(app)
            assert "on screen, att. 0.92" in text and bob in text  # a tile shortens it, keeps the number
            assert "FOCUSED\n" not in text.replace(" ", "")
            shown["ada"].focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda app=app: "• on screen, attention 0.92" in screen_text(app))
