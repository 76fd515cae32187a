"""The agent's pinned hubs: per hub id, the certificate and URL of the last hub that passed the proof.

One JSON file per class (``pins/<class id>.json`` beside the outbox), owner-only: the file
mode 0600, its folder 0700. `PinStore.load` and `PinStore.save` block (small file, an fsync):
from the event loop run them with ``asyncio.to_thread``. A missing file is no pins; an
unreadable, malformed or group/other-accessible one is ignored with a warning (the next
save replaces it), so a damaged file never stops the agent.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec

from smartsession.core.candidates import Pin

logger = logging.getLogger(__name__)

#: Version of the file's layout.
FORMAT = 1


class _PinRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fingerprint: str
    url: str


class _PinFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: int
    hubs: dict[str, _PinRecord]


class PinStore:
    """Reads and writes the pins of one class at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Pin]:
        """The pins on disk, by hub id ({} when there are none or the file is not trustworthy)."""
        try:
            mode = self.path.stat().st_mode
            if stat.S_IMODE(mode) & 0o077:
                logger.warning(
                    "ignoring the pinned hubs in %s: other users can access it (it is rewritten owner-only)",
                    self.path,
                )
                return {}
            data = msgspec.json.decode(self.path.read_bytes(), type=_PinFile)
        except FileNotFoundError:
            return {}
        except (OSError, msgspec.DecodeError) as exc:
            logger.warning("ignoring the pinned hubs in %s: %s", self.path, exc)
            return {}
        if data.format != FORMAT:
            logger.warning(
                "ignoring the pinned hubs in %s: format %d, not %d", self.path, data.format, FORMAT
            )
            return {}
        return {hub_id: Pin(hub_id, record.fingerprint, record.url) for hub_id, record in data.hubs.items()}

    def save(self, pins: Mapping[str, Pin]) -> None:
        """Replace the file with ``pins`` atomically (a temporary file, fsync, rename), owner-only.

        Raises `OSError` when the folder or file cannot be written.
        """
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        body = msgspec.json.encode(
            _PinFile(
                format=FORMAT,
                hubs={pin.hub_id: _PinRecord(pin.fingerprint, pin.url) for pin in pins.values()},
            )
        )
        # A temporary file of our own (mkstemp: mode 0600): agents sharing the folder never collide.
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            os.unlink(temporary)
            raise
        os.replace(temporary, self.path)
