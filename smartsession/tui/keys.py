"""Every key of the teacher's TUI in one table: the help screen and the README list these."""

from __future__ import annotations

#: (screen, key, what it does), in the order the help screen lists them.
KEYS: tuple[tuple[str, str, str], ...] = (
    ("class view", "arrows home end pgup pgdn", "move between tiles"),
    ("class view", "enter / click", "open the student's detail screen"),
    ("class view", "s", "sort: arrival, name, state severity, confusion"),
    ("class view", "/", "filter by name (type; enter keeps it, escape clears it)"),
    ("class view", "f", "show only students in Alert"),
    ("class view", "c", "compact mode: one line per student"),
    ("class view", "t", "sparklines: attention or confusion"),
    ("class view", "escape", "clear the name filter and the alerts-only switch"),
    ("everywhere", "a", "alerts screen: every alert of the class, newest first"),
    ("everywhere", "m", "mark a new lecture segment (type a label)"),
    ("everywhere", "e", "export the session report"),
    ("everywhere", "?", "this help"),
    ("everywhere", "q", "quit"),
    ("detail", "n / p", "next / previous student"),
    ("detail", "escape", "back to the class"),
    ("alerts", "r", "filter by reason (cycles)"),
    ("alerts", "enter", "open the student of the selected alert"),
    ("alerts", "escape", "back"),
)
