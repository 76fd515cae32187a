"""The agent's main loop: frames -> engagement engine -> outbox, with the link running alongside.

``report = await run_agent(config, key, source, stop)`` runs until ``stop`` is set, then
tries briefly to get everything acknowledged, closes the source and returns an
`AgentReport` (JSON-serialisable with ``msgspec.json.encode``).

At start the student is told (`smartsession.agent.notice`): the notice goes to the log, to
the status file (`smartsession.agent.status`, which then carries every item queued for the
hub) and, where this process has a desktop session, to a desktop notification.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import platformdirs

from smartsession.agent.link import Link
from smartsession.agent.notice import NoticeError, notice_text, notify_desktop, session_bus_address
from smartsession.agent.outbox import Outbox, default_outbox_path
from smartsession.agent.sources import SignalSource
from smartsession.agent.status import LinkView, StatusFile, status_path
from smartsession.config import Config
from smartsession.core import protocol
from smartsession.core.engagement import Change, EngagementEngine, Reading
from smartsession.core.pacing import FramePacer
from smartsession.core.protocol import Event, Item, ProtocolError, Sample
from smartsession.keys import MachineKey

logger = logging.getLogger(__name__)

#: How long `run_agent` waits for the last acks after ``stop``, in seconds.
FLUSH_SECONDS = 2.0


class AgentReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one agent run produced and what the hub acknowledged.

    Seqs ``first_seq..last_seq`` were produced by this run (both 0 when nothing was); with
    ``dropped == 0`` and ``acked_seq == last_seq`` the hub holds every one of them.
    """

    student_id: str
    first_seq: int
    last_seq: int
    acked_seq: int
    unacked: int
    samples_produced: int
    events_produced: int
    samples_sent: int
    events_sent: int
    invalid: int
    connections: int
    reconnects: int
    bad_hubs: int
    dropped: int
    #: Frames read from the source (analysed frames, or camera-unavailable ones).
    frames: int = 0
    #: Times a hub with another certificate than the pinned one was used (see `Link.pin_switches`).
    pin_switches: int = 0
    #: Frames per second while the pacer kept the steady rate, and at the full rate (bursts),
    #: and the share of the run's time spent at the full rate.
    steady_fps: float = 0.0
    burst_fps: float = 0.0
    burst_share: float = 0.0


class RateTally:
    """Frames and seconds at the steady and at the full rate: each gap between two frames
    counts for the rate the pacer chose after the first of them."""

    def __init__(self) -> None:
        self._last: tuple[float, bool] | None = None
        self._frames = {False: 0, True: 0}
        self._seconds = {False: 0.0, True: 0.0}

    def frame(self, t: float, bursting: bool) -> None:
        """Count a frame at ``t``; ``bursting``: the pacer chose the full rate after it."""
        if self._last is not None:
            last_t, last_bursting = self._last
            self._frames[last_bursting] += 1
            self._seconds[last_bursting] += max(t - last_t, 0.0)
        self._last = (t, bursting)

    def fps(self, *, bursting: bool) -> float:
        """Frames per second at that rate (0 when none was spent there)."""
        seconds = self._seconds[bursting]
        return round(self._frames[bursting] / seconds, 3) if seconds > 0 else 0.0

    @property
    def burst_share(self) -> float:
        """The share of the time between frames spent at the full rate."""
        total = self._seconds[False] + self._seconds[True]
        return round(self._seconds[True] / total, 3) if total > 0 else 0.0


def to_item(output: Reading | Change, seq: int) -> Item:
    """The protocol item for an engine output, validated as the hub will validate it.

    Raises `ProtocolError` when the output would not pass the hub's checks.
    """
    fields = msgspec.structs.asdict(output)
    item: Item = Sample(seq=seq, **fields) if isinstance(output, Reading) else Event(seq=seq, **fields)
    decoded = protocol.decode_agent_message(protocol.encode(item))
    if not isinstance(decoded, Sample | Event):
        raise ProtocolError(protocol.CloseCode.MALFORMED, "not an item")
    return decoded


def outbox_path(config: Config, key: MachineKey) -> Path:
    """``agent.outbox_path``, or a file per class and student in the user's data folder."""
    if config.agent.outbox_path:
        return config.path(config.agent.outbox_path)
    data_dir = Path(platformdirs.user_data_dir("smartsession"))
    return default_outbox_path(data_dir, config.class_.id, key.student_id, key.key)


def pins_path(config: Config, key: MachineKey) -> Path:
    """The file of pinned hub certificates: ``pins/<class id>.json`` beside the outbox file."""
    return outbox_path(config, key).parent / "pins" / f"{config.class_.id}.json"


async def _tell_the_student(config: Config) -> StatusFile:
    """Log the notice, start the status file with it, and show it on the desktop if there is one."""
    text = notice_text(config.class_.id, config.student_id)
    logger.info("notice to the student: %s", text)
    status = StatusFile(
        status_path(config), class_id=config.class_.id, student_id=config.student_id, notice=text
    )
    address = session_bus_address()
    if not address:
        logger.info("no desktop session here: the notice is in the log and in %s", status.path)
        return status
    try:
        shown = await asyncio.to_thread(notify_desktop, text, address=address)
    except NoticeError as exc:
        logger.warning("the notice could not be shown on the desktop: %s", exc)
    else:
        logger.info("the notice is shown on the desktop (notification %d)", shown)
    return status


async def run_agent(
    config: Config, key: MachineKey, source: SignalSource, stop: asyncio.Event
) -> AgentReport:
    """Produce samples and events from ``source`` and send them to the hub until ``stop`` is set.

    Frames are read in a worker thread, so a slow camera never blocks the loop; after each
    one the `FramePacer` says when the next is due (``config.pacing``). The source is closed
    before this returns.
    """
    outbox = Outbox(config.agent.outbox_seconds, outbox_path(config, key))
    link = Link(config, key, outbox, vision=lambda: source.vision, pins_path=pins_path(config, key))
    loop = asyncio.get_running_loop()

    # The outbox's writer thread commits items, then they may be sent: wake the link then.
    def wake_link() -> None:
        loop.call_soon_threadsafe(link.wake)

    outbox.on_durable = wake_link
    engine = EngagementEngine(config.engagement, mismatch_checks=config.identity.mismatch_checks)
    pacer = FramePacer(config.pacing)
    rates = RateTally()
    link_task = asyncio.create_task(link.run(), name="agent link")
    stop_task = asyncio.create_task(stop.wait(), name="agent stop")
    samples = events = invalid = frames = 0
    status = await _tell_the_student(config)

    def link_state() -> LinkView:
        return link.state.value, link.hub_url, link.clock_offset

    status.publish(link_state)
    if not config.network.tls:
        logger.warning(
            "INSECURE: TLS is off (--insecure / network.tls = false); plain ws:// hubs are accepted "
            "and telemetry crosses the network in clear text. Use this for debugging only."
        )
    try:
        while not stop.is_set():
            read = asyncio.create_task(asyncio.to_thread(source.read), name="agent read")
            await asyncio.wait({read, stop_task, link_task}, return_when=asyncio.FIRST_COMPLETED)
            if link_task.done():
                link_task.result()  # the link never ends by itself; surface its failure
            frame = await read  # finishes within one frame period even after stop
            frames += 1
            outputs = engine.update(frame)
            rates.frame(frame.t, pacer.bursting)
            if pacer.pacing.adaptive:  # else the source keeps its own steady cadence
                source.schedule(pacer.after(frame, engine.conditions, engine.deadline(), engine.interval_end))
            for output in outputs:
                seq = outbox.next_seq
                try:
                    item = to_item(output, seq)
                except ProtocolError as exc:
                    invalid += 1
                    logger.error("engine output rejected (not sent): %r", exc.message)
                    continue
                outbox.add(item)
                status.add(item)
                if isinstance(item, Sample):
                    samples += 1
                else:
                    events += 1
            if outputs:
                link.wake()  # most frames add nothing: the engine emits once per interval
                status.publish(link_state)
                if status.error:
                    logger.warning("%s", status.error)
        if len(outbox):
            try:
                async with asyncio.timeout(FLUSH_SECONDS):
                    await link.flush()
            except TimeoutError:
                logger.warning("%d items were not acknowledged before stopping", len(outbox))
    finally:
        for task in (link_task, stop_task):
            task.cancel()
        await asyncio.gather(link_task, stop_task, return_exceptions=True)
        source.close()
        await status.close()
        outbox.on_durable = None
        await asyncio.to_thread(outbox.close)
    report = AgentReport(
        student_id=config.student_id,
        first_seq=outbox.first_seq,
        last_seq=outbox.last_seq,
        acked_seq=outbox.acked,
        unacked=len(outbox),
        samples_produced=samples,
        events_produced=events,
        samples_sent=link.samples_sent,
        events_sent=link.events_sent,
        invalid=invalid,
        connections=link.connections,
        reconnects=link.reconnects,
        bad_hubs=link.bad_hubs,
        dropped=outbox.dropped,
        frames=frames,
        pin_switches=link.pin_switches,
        steady_fps=rates.fps(bursting=False),
        burst_fps=rates.fps(bursting=True),
        burst_share=rates.burst_share,
    )
    logger.info("agent stopped: %s", msgspec.json.encode(report).decode())
    return report
