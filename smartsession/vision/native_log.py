"""Keep what MediaPipe, TFLite and glog write to file descriptor 2 off the user's terminal.

Those libraries write straight to fd 2 ("INFO: Created TensorFlow Lite XNNPACK delegate for
CPU.", "W0000 ... inference_feedback_manager.cc:121] ...", "WARNING: Logging before
InitGoogle() ..."), below Python. `native_stderr_to_log` points fd 2 at a pipe for as long
as it is active and logs every line that arrives there at debug level (logger
``smartsession.native``, shown with ``-v``). Python's own ``sys.stderr`` and the logging
handlers that wrote to it keep writing to the terminal, through a copy of the original fd.

The vision process needs none of this: its fd 2 is already a pipe that the agent logs at
debug level (`smartsession.agent.isolation`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

log = logging.getLogger("smartsession.native")


def _log_lines(fd: int) -> None:
    with open(fd, "rb") as pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                log.debug("%s", line)


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """While active, lines written to fd 2 by native code go to the debug log, not the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    reader = threading.Thread(target=_log_lines, args=(read_end,), name="native stderr", daemon=True)
    reader.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    old_stderr = sys.stderr
    new_stderr = open(  # noqa: SIM115 - closed on the way out
        terminal, "w", buffering=1, encoding=old_stderr.encoding, errors="backslashreplace", closefd=False
    )
    moved = _retarget_handlers(old_stderr, new_stderr)
    sys.stderr = new_stderr
    try:
        yield
    finally:
        new_stderr.flush()
        sys.stderr = old_stderr
        _retarget_handlers(new_stderr, old_stderr, moved)
        os.dup2(terminal, 2)  # also closes the pipe's last write end: the reader sees EOF
        reader.join(timeout=5.0)
        new_stderr.close()
        os.close(terminal)


def _retarget_handlers(
    old: TextIO, new: TextIO, only: list[logging.StreamHandler[TextIO]] | None = None
) -> list[logging.StreamHandler[TextIO]]:
    """Point the root logger's stream handlers that write to ``old`` (or ``only`` these) at ``new``."""
    moved: list[logging.StreamHandler[TextIO]] = []
    for handler in only if only is not None else logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(new)
            moved.append(handler)
    return moved
