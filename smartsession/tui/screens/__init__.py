"""Screens of the teacher's TUI; each lays out widgets, the app feeds them data."""

from smartsession.tui.screens.class_screen import ClassScreen

__all__ = ["ClassScreen"]
