"""Snapshot of the class grid at 80x24 (update with --snapshot-update, after looking at it)."""

from __future__ import annotations

from typing import Any

from smartsession.config import TuiConfig
from smartsession.tui import create_app


def test_class_grid_80x24(snap_compare: Any, feed: Any, clock: Any) -> None:
    app = create_app(feed, TuiConfig(), clock=clock)
    assert snap_compare(app, terminal_size=(80, 24))
