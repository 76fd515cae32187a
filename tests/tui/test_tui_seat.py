"""The seat check in the class view: a tile's mark, the detail screen's line and mismatch
times, in both label modes (a check for a human to review, never an identification)."""

from __future__ import annotations

from typing import Any

from feeds import T0, FixedClock, ScriptedFeed
from test_tui_app import SIZE, screen_text, tiles, wait_until

from smartsession.config import TuiConfig
from smartsession.core.identity import SeatResult
from smartsession.core.protocol import SeatStatus
from smartsession.core.states import AlertReason, State
from smartsession.core.wording import CUES_FORBIDDEN
from smartsession.tui import create_app
from smartsession.tui.screens import DetailScreen

MATCH = SeatStatus(result=SeatResult.MATCH, distance=0.21)
MISMATCH = SeatStatus(result=SeatResult.MISMATCH, distance=0.71, mismatches=1)
NOT_ENROLLED = SeatStatus(result=SeatResult.NOT_ENROLLED)


def seat_class() -> ScriptedFeed:
    """Ada enrolled and matching, Alan's seat taken by someone else, Grace not enrolled, Ken
    without the check."""
    feed = ScriptedFeed()
    for sid, name in (
        ("ada", "Ada Lovelace"),
        ("alan", "Alan Turing"),
        ("grace", "Grace Hopper"),
        ("ken", "Ken"),
    ):
        feed.join(sid, name, T0)
    for i in range(50):
        now = T0 + i
        check = i % 10 == 0  # a check every 10 s
        feed.sample("ada", now, State.FOCUSED, seat=MATCH if check else None)
        alan_seat = (MATCH if i < 20 else MISMATCH) if check else None
        different = i >= 40
        feed.sample(
            "alan",
            now,
            State.ALERT if different else State.FOCUSED,
            alert=AlertReason.DIFFERENT_PERSON if different else None,
            reasons=("seat check differs (0.71)",) if different else (),
            seat=alan_seat,
        )
        feed.sample("grace", now, State.FOCUSED, seat=NOT_ENROLLED if check else None)
        feed.sample("ken", now, State.FOCUSED)
    detail = "seat check: the face differs from the one enrolled here (3 checks in a row, distance 0.71); a human should look"
    feed.alert("alan", T0 + 40, AlertReason.DIFFERENT_PERSON, detail)
    return feed


async def test_tiles_mark_the_seat_check_where_it_is_on() -> None:
    feed = seat_class()
    app = create_app(feed, TuiConfig(), clock=FixedClock(T0 + 50))
    async with app.run_test(size=SIZE):
        shown = tiles(app)
        assert {sid: tile.seat for sid, tile in shown.items()} == {
            "ada": "seat ✓",
            "alan": "seat ✗",
            "grace": "seat ?",
            "ken": "",
        }
        assert shown["alan"].badge_text == "■ ALERT" and shown["alan"].reason == "seat check differs (0.71)"
        text = screen_text(app)
        assert text.count("seat ✓") == 1 and text.count("seat ✗") == 1 and text.count("seat ?") == 1


def seat_shown(app: Any) -> str:
    """The detail screen's seat-check text ("" when hidden), and every other line on screen."""
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    return str(screen.seat.render()) if screen.seat.display else ""


async def test_the_detail_screen_says_what_the_checks_found_for_a_human_to_review() -> None:
    feed = seat_class()
    app = create_app(feed, TuiConfig(), clock=FixedClock(T0 + 50))
    async with app.run_test(size=SIZE) as pilot:
        app.open_student("ada")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.2)
        text = seat_shown(app)
        assert text == (
            "seat check: matches the student enrolled here (5 checks, 0 mismatches) — a check for a human "
            "to review, not an identification"
        )
        app.open_student("alan")
        await wait_until(pilot, lambda: getattr(app.screen, "student_id", "") == "alan")
        await pilot.pause(0.2)
        text = seat_shown(app)
        assert (
            "seat check: the latest face differs from the one enrolled here (distance 0.71; 5 checks," in text
        )
        assert "3 mismatches) — a check for a human to review, not an identification" in text
        assert "mismatches at 09:00:20 (0.71), 09:00:30 (0.71), 09:00:40 (0.71)" in text
        alerts = str(app.screen.alert_list.render())  # type: ignore[attr-defined]
        assert "different person: seat check: the face differs from the one enrolled here" in alerts
        app.open_student("grace")
        await wait_until(pilot, lambda: getattr(app.screen, "student_id", "") == "grace")
        await pilot.pause(0.2)
        assert seat_shown(app).startswith(
            "seat check: nobody is enrolled on this machine, so no face is compared"
        )
        app.open_student("ken")
        await wait_until(pilot, lambda: getattr(app.screen, "student_id", "") == "ken")
        await pilot.pause(0.2)
        assert seat_shown(app) == "" and "seat check" not in screen_text(app)


async def test_in_cues_mode_the_seat_words_name_no_state_of_mind() -> None:
    feed = seat_class()
    app = create_app(feed, TuiConfig(label_mode="cues"), clock=FixedClock(T0 + 50))
    async with app.run_test(size=SIZE) as pilot:
        grid_text = screen_text(app)
        assert "seat ✗" in grid_text
        assert not CUES_FORBIDDEN.search(grid_text), CUES_FORBIDDEN.findall(grid_text)
        app.open_student("alan")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.2)
        seat = seat_shown(app)
        assert "seat check: the latest face differs" in seat and "mismatches at 09:00:20" in seat
        text = screen_text(app) + seat + str(app.screen.alert_list.render())  # type: ignore[attr-defined]
        assert not CUES_FORBIDDEN.search(text), CUES_FORBIDDEN.findall(text)


def test_a_summary_counts_only_checks_that_compared() -> None:
    feed = seat_class()
    summary = {s.student_id: s.seat for s in feed.students()}
    ada, alan, grace = summary["ada"], summary["alan"], summary["grace"]
    assert ada is not None and (ada.checks, ada.mismatches, ada.matches, ada.enrolled) == (5, 0, 5, True)
    assert alan is not None and (alan.checks, alan.mismatches) == (5, 3)
    assert alan.mismatch_times == ((T0 + 20, 0.71), (T0 + 30, 0.71), (T0 + 40, 0.71))
    assert grace is not None and (grace.checks, grace.enrolled, grace.mark) == (0, False, "seat ?")
    assert summary["ken"] is None
