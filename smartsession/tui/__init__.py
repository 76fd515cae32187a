"""The teacher's Textual TUI: a live grid of student tiles fed by the hub.

`create_app` is the one way to build it (CLI and tests).
"""

from smartsession.tui.app import SmartSessionApp, create_app

__all__ = ["SmartSessionApp", "create_app"]
