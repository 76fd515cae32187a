"""Cues mode holds on every screen: the class view (every sort, both sparklines, compact), every
student's detail screen, the alerts screen (every reason filter), the help screen, the segment
prompt and every toast, as text on screen and as Textual's SVG screenshot, say none of the
words of inferred states, emotions or the expression model's classes. So does the report the
class view exports (``e``) from a real hub that real protocol clients stream to.

The same script in states mode shows those words on the same screens, so the search looks
where they would be.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from feeds import T0, ScriptedFeed, class_of_six
from hub.wsagent import eventually, join_agent
from test_tui_app import screen_text, tiles, wait_until

from smartsession.config import (
    ClassConfig,
    Config,
    HubConfig,
    NetworkConfig,
    RosterConfig,
    StorageConfig,
    TuiConfig,
)
from smartsession.core.protocol import Cues, Event, EventKind, Sample
from smartsession.core.signals import EXPRESSIONS
from smartsession.core.states import AlertReason, State
from smartsession.hub import Hub
from smartsession.tui import SmartSessionApp, create_app
from smartsession.tui.screens import AlertsScreen, DetailScreen, HelpScreen, PromptScreen

#: What cues mode must never say, searched case-insensitively anywhere (inside identifiers too).
FORBIDDEN = re.compile(
    "|".join(("focused", "confused", "confusion", "emotion", "expression", *EXPRESSIONS)), re.I
)
SECRET = bytes(range(32))
#: What a student's machine says about a Confused student (the engine's words, and an expression).
CONFUSED_REASONS = ("brow lowered 0.40 for 4 s", "negative expression 0.62", "confusion 0.80")


def leaks(seen: dict[str, str]) -> dict[str, list[str]]:
    return {
        where: [text[max(0, m.start() - 40) : m.end() + 20] for m in FORBIDDEN.finditer(text)]
        for where, text in seen.items()
        if FORBIDDEN.search(text)
    }


def lesson(feed: ScriptedFeed) -> None:
    """The class of six, a segment, then four of them Confused together (a class alert) with
    reasons naming the score and an expression, and an alert whose detail names states."""
    class_of_six(feed)
    feed.mark("intro", T0 + 1)
    for t in range(40, 60):
        for sid in ("ada", "alan", "grace", "barbara"):
            feed.sample(
                sid,
                T0 + t,
                State.CONFUSED,
                attention=0.4,
                confusion=0.8,
                reasons=CONFUSED_REASONS,
                cues=Cues(negative_expression=0.6, yaw=5.0, brow_down=0.4),
            )
    feed.alert("alan", T0 + 50, AlertReason.LOOKING_AWAY, "focused -> alert: looking away")


async def every_screen(app: SmartSessionApp, pilot: Any) -> dict[str, str]:
    """Visit every screen and view; what each showed (text and SVG screenshot), by name."""
    seen: dict[str, str] = {}

    def look(name: str) -> None:
        seen[name] = screen_text(app)
        seen[f"{name} (svg)"] = app.export_screenshot()

    await wait_until(pilot, lambda: any(n.title == "Class" for n in app._notifications))
    toasts = [f"{n.title}: {n.message}" for n in app._notifications]
    look("class view")
    for sort in range(4):
        await pilot.press("s")
        await pilot.pause(0.1)
        look(f"class view, sort {sort}")
    await pilot.press("t")
    await pilot.pause(0.1)
    look("class view, the other sparklines")
    await pilot.press("c")
    await pilot.pause(0.1)
    look("compact")
    await pilot.press("c", "m")
    await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
    look("segment prompt")
    await pilot.press("escape")
    first = next(iter(tiles(app).values()))
    first.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
    for student in range(len(tiles(app))):
        await pilot.pause(0.15)
        look(f"detail {student}")
        await pilot.press("n")
    await pilot.press("escape", "a")
    await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
    screen = app.screen
    assert isinstance(screen, AlertsScreen)
    for reason in range(12):
        await pilot.pause(0.15)
        look(f"alerts, filter {reason}")
        await pilot.press("r")
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
    await pilot.pause(0.1)
    look("help")
    await pilot.press("escape", "escape")
    seen["toasts"] = "\n".join(toasts + [f"{n.title}: {n.message}" for n in app._notifications])
    return seen


async def run_lesson(mode: str, clock: Any) -> dict[str, str]:
    feed = ScriptedFeed(clock=clock, expected={"ada": "Ada Lovelace", "zed": "Zed Absent"})
    app = create_app(feed, TuiConfig(label_mode=mode, bell=True), clock=clock)  # type: ignore[arg-type]
    app.bell = lambda: None  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        lesson(feed)
        return await every_screen(app, pilot)


async def test_no_screen_says_the_words_in_cues_mode(clock: Any) -> None:
    seen = await run_lesson("cues", clock)
    assert leaks(seen) == {}
    text = "\n".join(seen.values())
    for shown in (
        "▲ BROW/TILT",
        "● on screen",
        "brow/tilt cues 0.80",
        "show brow/tilt cues for 10 s",
        "○ ABSENT",
    ):
        assert shown in text, shown  # the screens did show the class in the cues' words
    assert "0.62" not in text  # the expression's value, with its name, is left out


async def test_states_mode_says_them_on_the_same_screens(clock: Any) -> None:
    found = leaks(await run_lesson("states", clock))
    for where in ("class view", "class view, sort 3", "detail 1", "alerts, filter 0", "help", "toasts"):
        assert where in found, where


def hub_config(folder: Path) -> Config:
    return Config(
        class_=ClassConfig(id=f"cues-{id(folder) % 10_000}"),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id="cues-hub"),
        storage=StorageConfig(database=str(folder / "hub.db"), batch_interval=0.02),
        tui=TuiConfig(label_mode="cues", spike_seconds=1.0),
        roster=RosterConfig(students={"pc-01": "Ann One", "pc-09": "Never Came"}),
        base_dir=str(folder),
    )


async def test_the_report_the_class_view_exports_in_cues_mode_is_clean(tmp_path: Path) -> None:
    config = hub_config(tmp_path)
    hub = Hub(config, SECRET)
    app = create_app(hub, config.tui, service=hub)
    async with app.run_test(size=(120, 40)) as pilot:
        await eventually(lambda: hub.port != 0, within=10)
        agents = [await join_agent(hub.url, SECRET, f"pc-0{i}") for i in range(1, 4)]
        for seq in range(1, 30):  # three seconds of the whole class Confused, then Focused
            confused = seq < 20
            for agent in agents:
                await agent.send(
                    Sample(
                        seq=seq,
                        ts=time.time(),
                        state=State.CONFUSED if confused else State.FOCUSED,
                        attention=0.4 if confused else 0.9,
                        confusion=0.8 if confused else 0.1,
                        faces=1,
                        reasons=CONFUSED_REASONS if confused else ("focused",),
                        cues=Cues(negative_expression=0.6, brow_down=0.4),
                    )
                )
            await asyncio.sleep(0.1)
        await agents[0].send(
            Event(
                seq=30,
                ts=time.time(),
                kind=EventKind.ALERT,
                state=State.ALERT,
                reason=AlertReason.LOOKING_AWAY,
                detail="focused -> alert: looking away; negative expression 0.6",
            )
        )
        for agent, last in zip(agents, (30, 29, 29), strict=True):
            await agent.wait_ack(last)  # read what the hub sent, so a close is not stuck behind it
        await wait_until(pilot, lambda: bool(hub.class_alerts()), seconds=5)
        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: any(n.title == "Export" and "written" in str(n.message) for n in app._notifications),
            seconds=15,
        )
        seen = {
            "class view": screen_text(app),
            "toasts": "\n".join(str(n.message) for n in app._notifications),
        }
        for agent in agents:
            await agent.close()
    (page,) = config.report_folder.glob("report-*.html")
    seen["exported report"] = page.read_text(encoding="utf-8")
    assert leaks(seen) == {}
    assert "Ann One" in seen["exported report"] and "Never Came" in seen["exported report"]
    assert "show brow/tilt cues" in seen["exported report"]  # the class alert, in the cues' words
