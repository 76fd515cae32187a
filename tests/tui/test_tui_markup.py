"""Names, reasons and details that look like Textual markup are shown literally, never run."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from smartsession.config import TuiConfig
from smartsession.core.states import AlertReason, State
from smartsession.tui import SmartSessionApp, create_app
from smartsession.tui.screens import AlertsScreen, ClassScreen, DetailScreen

#: One tile a row, wide enough to show these names and reasons whole.
SIZE = (51, 40)
CLICKER = "[@click=app.quit]q[/]"
RED = "[red]x[/red]"
REASON = "[b]bold[/b] [@click=app.bell]ring[/]"
DETAIL = "[@click=app.quit]bye[/]"


def screen_text(app: SmartSessionApp) -> str:
    return "\n".join(line.text for line in app.screen._compositor.render_strips())


async def settle(pilot: Pilot[Any], app: SmartSessionApp, *texts: str) -> str:
    """Let the app redraw until every one of ``texts`` is on screen; returns the screen."""
    for _ in range(60):
        text = screen_text(app)
        if all(t in text for t in texts):
            return text
        await pilot.pause(0.05)
    return screen_text(app)


async def test_markup_in_names_reasons_and_details_is_shown_as_typed(
    make_feed: Any, clock: Any, t0: float
) -> None:
    feed = make_feed()
    feed.join("pc-01", CLICKER, t0)
    feed.join("pc-02", RED, t0)
    for i in range(5):
        feed.sample("pc-01", t0 + i, State.CONFUSED, reasons=(REASON,))
        feed.sample("pc-02", t0 + i, State.FOCUSED)
    app = create_app(feed, TuiConfig(), clock=clock)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        tiles = await settle(pilot, app, CLICKER, RED, REASON)
        for text in (CLICKER, RED, REASON):
            assert text in tiles, tiles
        await pilot.resize_terminal(120, 40)

        feed.alert("pc-01", t0 + 59, AlertReason.NO_FACE, DETAIL)  # a toast names the student
        toast = await settle(pilot, app, f"{CLICKER}: no face")
        assert f"{CLICKER}: no face" in toast
        await pilot.pause(0.1)
        assert app.is_running  # the name's @click was not run on its own either

        app.open_student("pc-01")
        detail = await settle(pilot, app, CLICKER, REASON, DETAIL)
        assert isinstance(app.screen, DetailScreen)
        for text in (CLICKER, REASON, DETAIL):
            assert text in detail, text

        await pilot.press("escape", "a")
        alerts = await settle(pilot, app, CLICKER, DETAIL)
        assert isinstance(app.screen, AlertsScreen)
        assert CLICKER in alerts and DETAIL in alerts
        await pilot.press("escape")
        assert isinstance(app.screen, ClassScreen)
        assert app.is_running
