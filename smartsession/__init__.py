"""SmartSession: a terminal-first LAN classroom monitor."""

__version__ = "0.1.0"
