"""What the agent sends about this student, readable by the student: the status file.

The agent runs as its own service user, owning the machine key and the outbox; the
student's login reads neither. What the student may see is published here instead
(``agent.status_file``): the notice, whether and where the agent is connected, and the
last `KEEP` items of the outbox exactly as they go on the wire. It holds no key and no
image, and is world-readable (0644) in a folder others may enter; it is replaced whole
(a temporary file, then a rename), so a reader never sees half of one.

``smartsession agent --show`` and ``smartsession status`` read it (`follow`), sample by
sample, without a second camera and without any right to the key.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import platformdirs

from smartsession.config import Config
from smartsession.core import protocol
from smartsession.core.protocol import Item, Sample

#: What the status says about the link: its state, the hub's URL ("" when none), the clock offset.
LinkView = tuple[str, str, float]
#: Items kept in the file (about half a minute of samples and events).
KEEP = 30
#: Version of the file's layout.
FORMAT = 1
#: Mode of the file: the student's login may read it, nobody but the agent may write it.
FILE_MODE = 0o644


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """The status file's content."""

    format: int = FORMAT
    class_id: str
    student_id: str
    pid: int
    #: When the agent started and when this was written (epoch seconds).
    started: float
    updated: float
    #: The notice the student is shown (what is measured, what is never sent).
    notice: str
    #: "streaming" with ``hub_url`` while connected; else what the link is doing.
    link: str
    hub_url: str = ""
    #: The hub's clock minus this machine's, from its last hello (seconds).
    clock_offset: float = 0.0
    #: The last items, oldest first, each as sent (the protocol's JSON object).
    items: tuple[msgspec.Raw, ...] = ()


#: The system service's runtime folder (its ``RuntimeDirectory=``, mode 0755).
SERVICE_FOLDER = Path("/run/smartsession")


def status_path(config: Config) -> Path:
    """``agent.status_file``; else ``status.json`` in `SERVICE_FOLDER` when it exists (the
    system service's, so a login finds it without a config), else in the user's runtime folder."""
    if config.agent.status_file:
        return config.path(config.agent.status_file)
    if SERVICE_FOLDER.is_dir():
        return SERVICE_FOLDER / "status.json"
    with warnings.catch_warnings():  # without XDG_RUNTIME_DIR platformdirs picks a folder, and warns
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir("smartsession")) / "status.json"


class StatusFile:
    """The agent's side: `add` each item it queues, `publish` to write (coalesced, off the loop)."""

    def __init__(self, path: Path, *, class_id: str, student_id: str, notice: str) -> None:
        self.path = path
        self._class_id = class_id
        self._student_id = student_id
        self._notice = notice
        self._started = time.time()
        self._items: deque[Item] = deque(maxlen=KEEP)
        self._writing: asyncio.Task[None] | None = None
        self._again = False
        #: The last write error ("" when the last write worked); logged once per change by the runner.
        self.error = ""

    def add(self, item: Item) -> None:
        """Note an item just queued for the hub."""
        self._items.append(item)

    def snapshot(self, link: str, hub_url: str, clock_offset: float) -> Status:
        """The file's content now."""
        return Status(
            class_id=self._class_id,
            student_id=self._student_id,
            pid=os.getpid(),
            started=self._started,
            updated=time.time(),
            notice=self._notice,
            link=link,
            hub_url=hub_url,
            clock_offset=clock_offset,
            items=tuple(msgspec.Raw(protocol.encode(item).encode()) for item in self._items),
        )

    def publish(self, state: Callable[[], LinkView]) -> None:
        """Write the file soon with ``state()`` (link state, hub URL, clock offset), in a thread; at most one
        write at a time, and one more if asked meanwhile."""
        if self._writing is not None and not self._writing.done():
            self._again = True
            return
        self._writing = asyncio.get_running_loop().create_task(self._write(state), name="status file")

    async def close(self) -> None:
        """Wait for a write in progress."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)

    async def _write(self, state: Callable[[], LinkView]) -> None:
        while True:
            self._again = False
            try:
                await asyncio.to_thread(write_status, self.path, self.snapshot(*state()))
                self.error = ""
            except OSError as exc:
                self.error = f"cannot write the status file {self.path}: {exc}"
            if not self._again:
                return


def write_status(path: Path, status: Status) -> None:
    """Replace ``path`` with ``status``, mode 0644 (its folder is made 0755 when missing)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            file.write(msgspec.json.encode(status))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read_status(path: Path) -> Status | None:
    """The status file's content, or ``None`` when there is none (yet) or it is not one."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Status)
    except (OSError, msgspec.DecodeError):
        return None


def items_of(status: Status) -> list[Item]:
    """The items of a status, decoded as the hub decodes them (damaged ones left out)."""
    found: list[Item] = []
    for raw in status.items:
        try:
            item = protocol.decode_agent_message(bytes(raw).decode())
        except protocol.ProtocolError:
            continue
        if isinstance(item, Sample | protocol.Event):
            found.append(item)
    return found


def describe(item: Item) -> str:
    """One line a student can read: when, what, and every number sent."""
    clock = time.strftime("%H:%M:%S", time.localtime(item.ts))
    if isinstance(item, Sample):
        alert = f" alert {item.alert}" if item.alert else ""
        cues = " ".join(f"{k}={v:.2f}" for k, v in msgspec.structs.asdict(item.cues).items())
        reasons = f" | {'; '.join(item.reasons)}" if item.reasons else ""
        return (
            f"{clock} #{item.seq} sample {item.state.value}{alert} attention {item.attention:.2f} "
            f"confusion {item.confusion:.2f} faces {item.faces} cues {cues}{reasons}"
        )
    reason = f" {item.reason}" if item.reason else ""
    detail = f" | {item.detail}" if item.detail else ""
    return f"{clock} #{item.seq} event {item.kind}{reason} state {item.state.value}{detail}"


def follow(
    path: Path, *, poll: float = 0.5, wait: Callable[[float], None] = time.sleep
) -> Iterator[Item | Status]:
    """The status once it exists, then each new item as the agent publishes it (forever).

    Yields the `Status` first (and again when the agent restarted), then items in seq order.
    """
    last_pid, last_seq = 0, 0
    while True:
        status = read_status(path)
        if status is not None:
            if status.pid != last_pid:
                last_pid, last_seq = status.pid, 0
                yield status
            for item in items_of(status):
                if item.seq > last_seq:
                    last_seq = item.seq
                    yield item
        wait(poll)
