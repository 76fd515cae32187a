"""Screens of the teacher's TUI; each lays out widgets, the app feeds them data."""

from smartsession.tui.screens.alerts_screen import AlertsScreen
from smartsession.tui.screens.class_screen import ClassScreen
from smartsession.tui.screens.detail_screen import DetailScreen
from smartsession.tui.screens.help_screen import HelpScreen
from smartsession.tui.screens.prompt_screen import PromptScreen

__all__ = ["AlertsScreen", "ClassScreen", "DetailScreen", "HelpScreen", "PromptScreen"]
