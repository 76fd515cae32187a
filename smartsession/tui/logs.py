"""Keep logging off the terminal while Textual owns it.

`TerminalLogGuard.install` swaps the root logger's console handlers for Textual's handler
(records go to the Textual devtools console instead); `restore` puts them back. File
handlers are left alone.
"""

from __future__ import annotations

import logging
import sys

from textual.logging import TextualHandler


def _writes_to_terminal(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = handler.stream
    return stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


class TerminalLogGuard:
    """Swap console log handlers for Textual's while an app runs; call `restore` after."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger if logger is not None else logging.getLogger()
        self._removed: list[logging.Handler] = []
        self._handler: logging.Handler | None = None

    def install(self) -> None:
        """Detach console handlers and attach a Textual handler (idempotent)."""
        if self._handler is not None:
            return
        self._removed = [h for h in self._logger.handlers if _writes_to_terminal(h)]
        for handler in self._removed:
            self._logger.removeHandler(handler)
        self._handler = TextualHandler(stderr=False, stdout=False)
        self._logger.addHandler(self._handler)

    def restore(self) -> None:
        """Put the console handlers back and drop the Textual handler."""
        if self._handler is None:
            return
        self._logger.removeHandler(self._handler)
        self._handler = None
        for handler in self._removed:
            self._logger.addHandler(handler)
        self._removed = []
