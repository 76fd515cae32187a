"""``?``: every key of the TUI, from `smartsession.tui.keys.KEYS`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from smartsession.tui.keys import KEYS
from smartsession.tui.labels import LabelMode


def help_content(mode: LabelMode) -> Content:
    """The key table as text, grouped by screen."""
    parts: list[Content | str] = []
    group = ""
    for screen, key, text in KEYS:
        if screen != group:
            group = screen
            parts.append(Content.styled(f"\n{screen}\n", "bold $accent"))
        if mode == "cues":
            text = text.replace("confusion", "brow/tilt cues")
        parts.extend([Content.styled(f"  {key:<27}", "bold"), f"{text}\n"])
    parts.append(Content.styled("\nescape, ? or q closes this help", "$text-muted"))
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    """Lists every key; escape, ``?`` or ``q`` closes it (a click outside too)."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, label_mode: LabelMode = "states") -> None:
        super().__init__()
        self.label_mode: LabelMode = label_mode

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Content.styled("SmartSession keys", "bold"), id="help-title")
            yield Static(help_content(self.label_mode), id="help-keys")

    def on_click(self) -> None:
        self.dismiss()
