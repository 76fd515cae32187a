"""The link against a small in-test hub (websockets server + core.protocol) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import msgspec
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.agent.link import BAD_HUB_SECONDS, Link, LinkState, _frames
from smartsession.agent.outbox import Outbox
from smartsession.config import AgentConfig, ClassConfig, Config, NetworkConfig
from smartsession.core import protocol
from smartsession.core.discovery import SERVICE_TYPE, txt_record
from smartsession.core.identity import SeatResult
from smartsession.core.keys import machine_key
from smartsession.core.protocol import (
    MAX_BATCH_ITEMS,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    CloseCode,
    Error,
    Event,
    EventKind,
    Hello,
    Item,
    Join,
    ProtocolError,
    Sample,
    Welcome,
)
from smartsession.core.states import AlertReason, State
from smartsession.keys import HubSigner, MachineKey

SECRET = bytes.fromhex("11" * 32)
#: The machine key of pc-01 in the fake hub's class.
KEY = MachineKey.derive(SECRET, "physics", "pc-01")
TIMEOUT = 10.0


class FakeHub:
    """Just enough hub: hello, checks the join, welcome (with a right or wrong proof), acks."""

    def __init__(self, secret: bytes = SECRET, class_id: str = "physics") -> None:
        self.secret = secret
        self.class_id = class_id
        self.ack = True
        #: Close the connection (without acking) once this many items arrived on it.
        self.drop_after: int | None = None
        self.joins: list[Join] = []
        self.agent_proof_ok: list[bool] = []
        #: Every item received after a welcome, duplicates included.
        self.received: list[Item] = []
        self.frames: list[str] = []
        self.stored: dict[int, Item] = {}
        self.connections = 0
        self.close_codes: list[int | None] = []
        self.after_welcome: Callable[[ServerConnection], Awaitable[None]] | None = None
        #: How the hub decodes what the agent sends (refusals close the connection).
        self.decode: Callable[[str], protocol.AgentMessage] = protocol.decode_agent_message
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeHub:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def last_seq(self) -> int:
        seq = 0
        while seq + 1 in self.stored:
            seq += 1
        return seq

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            await self._converse(ws)
        except ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)

    async def _converse(self, ws: ServerConnection) -> None:
        server_nonce = secrets.token_hex(16)
        hello = Hello(
            v=PROTOCOL_VERSION, hub_id="fake", class_id=self.class_id, nonce=server_nonce, time=time.time()
        )
        await ws.send(protocol.encode(hello))
        join = protocol.decode_agent_message(await ws.recv())
        assert isinstance(join, Join)
        self.joins.append(join)
        key = machine_key(self.secret, self.class_id, join.student_id)
        expected = protocol.agent_proof(key, server_nonce, join.nonce, join.student_id)
        self.agent_proof_ok.append(protocol.proofs_match(expected, join.proof))
        welcome = Welcome(session_id="s1", session_started=1000.0, last_seq=self.last_seq, proof="0" * 128)
        material = protocol.hub_proof_material(server_nonce, join.nonce, join.student_id, "", welcome)
        signed = msgspec.structs.replace(welcome, proof=HubSigner(self.secret, self.class_id).sign(material))
        await ws.send(protocol.encode(signed))
        if self.after_welcome is not None:
            await self.after_welcome(ws)
        on_this_connection = 0
        async for frame in ws:
            assert isinstance(frame, str)
            self.frames.append(frame)
            try:
                message = self.decode(frame)
            except ProtocolError as exc:  # what the hub does (hub/frames.py)
                await ws.send(protocol.encode(Error(code=exc.code, message=exc.message[:160])))
                await ws.close(exc.code, "malformed message")
                return
            assert not isinstance(message, Join)
            items = message.items if isinstance(message, Batch) else (message,)
            for item in items:
                self.received.append(item)
                self.stored.setdefault(item.seq, item)
                on_this_connection += 1
            if self.drop_after is not None and on_this_connection >= self.drop_after:
                self.drop_after = None
                # lose the last frame's items, as a hub that crashed before committing would
                for item in items:
                    self.stored.pop(item.seq, None)
                await ws.close(CloseCode.GOING_AWAY, "going away")
                return
            if self.ack:
                await ws.send(protocol.encode(Ack(seq=self.last_seq)))


def make_config(url: str, student_id: str = "pc-01") -> Config:
    return Config(
        class_=ClassConfig(id="physics"),
        network=NetworkConfig(interfaces=("127.0.0.1",), tls=url.startswith("wss://")),
        agent=AgentConfig(student_id=student_id, hub_url=url, reconnect_initial=0.02, reconnect_max=0.1),
    )


def sample(seq: int, reasons: tuple[str, ...] = ()) -> Sample:
    return Sample(
        seq=seq, ts=1000.0 + seq, state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1, reasons=reasons
    )


def produce(outbox: Outbox, link: Link, n: int) -> None:
    for _ in range(n):
        seq = outbox.next_seq
        item: Item = sample(seq)
        if seq % 4 == 0:
            item = Event(seq=seq, ts=1000.0 + seq, kind=EventKind.STATE, state=State.CONFUSED)
        outbox.add(item)
    link.wake()


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - polling plain attributes in a test
            await asyncio.sleep(0.01)
    assert predicate(), what


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    async with FakeHub() as fake:
        yield fake


async def run_link(link: Link) -> asyncio.Task[None]:
    return asyncio.create_task(link.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_authenticates_sends_and_handles_acks(hub: FakeHub) -> None:
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    produce(outbox, link, 5)  # produced before connecting: replayed as a batch
    task = await run_link(link)
    try:
        await eventually(lambda: len(outbox) == 0 and hub.last_seq == 5, "first five acked")
        assert link.state is LinkState.STREAMING
        join = hub.joins[0]
        assert hub.agent_proof_ok == [True]
        assert (join.student_id, join.v) == ("pc-01", PROTOCOL_VERSION)
        assert '"type":"batch"' in hub.frames[0]
        for _ in range(3):  # then one frame per new item
            produce(outbox, link, 1)
            await eventually(lambda: len(outbox) == 0, "acked")
        assert hub.frames[-1].startswith('{"type":')
        assert [item.seq for item in hub.received] == list(range(1, 9))
        assert outbox.acked == 8
        assert link.samples_sent + link.events_sent == 8
        assert link.connections == 1
    finally:
        await stop(task)
    assert link.state.value == LinkState.STOPPED.value


async def test_replays_unacked_after_the_hub_drops_the_connection(hub: FakeHub) -> None:
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    hub.ack = False
    hub.drop_after = 6
    task = await run_link(link)
    try:
        await eventually(lambda: link.state is LinkState.STREAMING, "connected")
        for _ in range(6):
            produce(outbox, link, 1)
            await asyncio.sleep(0.005)
        await eventually(lambda: hub.connections >= 2, "reconnected")
        hub.ack = True
        produce(outbox, link, 4)  # keeps producing across the reconnect
        await eventually(lambda: hub.last_seq == 10 and len(outbox) == 0, "everything stored and acked")
        assert sorted(hub.stored) == list(range(1, 11))  # no gaps
        seqs = [item.seq for item in hub.received]
        assert sorted(set(seqs)) == list(range(1, 11))  # duplicates only, dedupable by seq
        assert link.reconnects >= 1
    finally:
        await stop(task)


async def test_hub_without_the_secret_gets_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartsession.agent")
    async with FakeHub(secret=bytes.fromhex("22" * 32)) as rogue:
        outbox = Outbox(600.0)
        link = Link(make_config(rogue.url), KEY, outbox)
        produce(outbox, link, 5)
        task = await run_link(link)
        try:
            await eventually(lambda: link.bad_hubs == 1 and bool(rogue.close_codes), "rogue refused")
            produce(outbox, link, 3)
            await asyncio.sleep(0.3)  # several backoff periods: it must not come back to the rogue
            assert rogue.received == []
            assert rogue.frames == []
            assert rogue.close_codes == [CloseCode.BAD_PROOF]
            assert rogue.connections == 1
            assert len(outbox) == 8
            assert link.samples_sent == link.events_sent == 0
        finally:
            await stop(task)
    assert f"hub {rogue.url!r} could not prove it holds the class key; ignoring it" in caplog.text
    assert SECRET.hex() not in caplog.text and KEY.key.hex() not in caplog.text
    assert BAD_HUB_SECONDS >= 30


async def test_hub_of_another_class_is_skipped() -> None:
    async with FakeHub(class_id="chemistry") as other:
        outbox = Outbox(600.0)
        link = Link(make_config(other.url), KEY, outbox)
        produce(outbox, link, 2)
        task = await run_link(link)
        try:
            await eventually(lambda: bool(other.close_codes), "closed")
            assert other.joins == []
            assert other.received == []
        finally:
            await stop(task)


async def test_hub_error_is_logged(hub: FakeHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartsession.agent")

    async def complain(ws: ServerConnection) -> None:
        await ws.send(protocol.encode(Error(code=CloseCode.RATE_LIMITED, message="slow down")))

    hub.after_welcome = complain
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    task = await run_link(link)
    try:
        await eventually(lambda: "hub error 4429: 'slow down'" in caplog.text, "error logged")
        produce(outbox, link, 1)
        await eventually(lambda: len(outbox) == 0, "still streaming")
    finally:
        await stop(task)


async def test_unreachable_hub_backs_off_and_keeps_the_outbox() -> None:
    async with FakeHub() as gone:
        url = gone.url
    outbox = Outbox(600.0)
    link = Link(make_config(url), KEY, outbox)
    produce(outbox, link, 3)
    task = await run_link(link)
    try:
        await eventually(lambda: link.attempts >= 3, "retried")
        assert len(outbox) == 3
        assert link.connections == 0
    finally:
        await stop(task)


def test_frames_respect_batch_and_size_limits() -> None:
    long = tuple("x" * 160 for _ in range(protocol.MAX_REASONS))
    items: list[Item] = [sample(seq, reasons=long) for seq in range(1, 701)]
    frames = list(_frames(items))
    assert [seq for _, chunk in frames for seq in (i.seq for i in chunk)] == list(range(1, 701))
    for frame, chunk in frames:
        assert len(frame.encode()) <= MAX_FRAME_BYTES
        assert len(chunk) <= MAX_BATCH_ITEMS
        batch = protocol.decode_agent_message(frame)
        assert isinstance(batch, Batch) and list(batch.items) == chunk
    small: list[Item] = [
        Event(seq=seq, ts=1.0, kind=EventKind.STATE, state=State.FOCUSED) for seq in range(1, 301)
    ]
    assert [len(chunk) for _, chunk in _frames(small)] == [MAX_BATCH_ITEMS, 300 - MAX_BATCH_ITEMS]
    one = list(_frames([sample(1)]))
    assert msgspec.json.decode(one[0][0])["type"] == "sample"


async def test_rogue_advert_gets_nothing_and_the_real_hub_gets_everything() -> None:
    """Two adverts of this class on zeroconf; only the hub holding the secret receives telemetry."""
    async with FakeHub(secret=bytes.fromhex("33" * 32)) as rogue, FakeHub() as real:
        zc = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:
            for name, fake in (("physics-rogue", rogue), ("physics-real", real)):
                port = int(fake.url.rsplit(":", 1)[1].strip("/"))
                info = AsyncServiceInfo(
                    SERVICE_TYPE,
                    f"{name}.{SERVICE_TYPE}",
                    port=port,
                    properties=txt_record("physics", name, tls=False),
                    parsed_addresses=["127.0.0.1"],
                    server=f"{name}.local.",
                )
                await (await zc.async_register_service(info, cooperating_responders=True))
            config = msgspec.structs.replace(
                make_config(""), network=NetworkConfig(interfaces=("127.0.0.1",), tls=False)
            )
            outbox = Outbox(600.0)
            link = Link(config, KEY, outbox)
            produce(outbox, link, 4)
            task = await run_link(link)
            try:
                await eventually(lambda: real.last_seq == 4 and len(outbox) == 0, "real hub got everything")
            finally:
                await stop(task)
        finally:
            await zc.async_close()
    assert rogue.received == []
    # Both are tried at once: the rogue may lose the race before its join, never after it.
    assert link.bad_hubs == len(rogue.joins)


# A hub from before Sample.fps ---------------------------------------------------------------


class SampleBeforeFps(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="sample"
):
    """`Sample` as hubs before the analysis rate decode it (strict, no ``fps``)."""

    seq: int
    ts: float
    state: State
    attention: float
    confusion: float
    faces: int
    alert: AlertReason | None = None
    reasons: tuple[str, ...] = ()
    cues: protocol.Cues = protocol.Cues()


class BatchBeforeFps(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="batch"
):
    items: tuple[SampleBeforeFps | Event, ...]


def refusing_like(decoder: msgspec.json.Decoder[Any]) -> Callable[[str], protocol.AgentMessage]:
    """A hub's decoder that accepts what ``decoder`` (an older hub's types) does, and refuses
    the rest the way such a hub refuses it (4400, msgspec's words)."""

    def decode(frame: str) -> protocol.AgentMessage:
        try:
            decoder.decode(frame)
        except msgspec.ValidationError as exc:
            raise ProtocolError(CloseCode.MALFORMED, f"invalid message: {exc}") from None
        return protocol.decode_agent_message(frame)

    return decode


decode_before_fps = refusing_like(msgspec.json.Decoder(SampleBeforeFps | Event | BatchBeforeFps))


def produce_rated(outbox: Outbox, link: Link, n: int) -> None:
    for _ in range(n):
        outbox.add(msgspec.structs.replace(sample(outbox.next_seq), fps=2.0))
    link.wake()


async def test_a_hub_from_before_fps_gets_samples_without_it_and_loses_nothing(
    hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub.decode = decode_before_fps
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    produce_rated(outbox, link, 3)
    task = await run_link(link)
    try:
        await eventually(lambda: hub.last_seq == 3 and len(outbox) == 0, "the first three acked")
        produce_rated(outbox, link, 2)
        await eventually(lambda: hub.last_seq == 5 and len(outbox) == 0, "two more acked")
    finally:
        await stop(task)
    assert hub.connections == 2  # refused once, then served
    assert [code for code in hub.close_codes[:1]] == [CloseCode.MALFORMED]
    assert sorted(hub.stored) == [1, 2, 3, 4, 5]
    assert all(isinstance(item, Sample) and item.fps is msgspec.UNSET for item in hub.stored.values())
    assert any("predates the analysis rate" in r.getMessage() for r in caplog.records)


async def test_a_current_hub_gets_the_rate(hub: FakeHub) -> None:
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    produce_rated(outbox, link, 2)
    task = await run_link(link)
    try:
        await eventually(lambda: hub.last_seq == 2 and len(outbox) == 0, "acked")
    finally:
        await stop(task)
    assert hub.connections == 1
    assert [item.fps for item in hub.stored.values()] == [2.0, 2.0]


# A hub from before Sample.seat and the "different person" reason ----------------------------


class SampleBeforeSeat(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="sample"
):
    """`Sample` as hubs with the rate but before the seat check decode it (no ``seat``, and
    only the alert reasons they knew)."""

    seq: int
    ts: float
    state: State
    attention: float
    confusion: float
    faces: int
    alert: (
        Literal["no_face", "multiple_faces", "looking_away", "eyes_closed", "camera_unavailable"] | None
    ) = None
    reasons: tuple[str, ...] = ()
    cues: protocol.Cues = protocol.Cues()
    fps: float = 0.0


class EventBeforeSeat(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="event"
):
    seq: int
    ts: float
    kind: EventKind
    state: State
    reason: (
        Literal["no_face", "multiple_faces", "looking_away", "eyes_closed", "camera_unavailable"] | None
    ) = None
    detail: str = ""


class BatchBeforeSeat(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="batch"
):
    items: tuple[SampleBeforeSeat | EventBeforeSeat, ...]


decode_before_seat = refusing_like(msgspec.json.Decoder(SampleBeforeSeat | EventBeforeSeat | BatchBeforeSeat))


def produce_seat_checked(outbox: Outbox, link: Link) -> None:
    """A matching check, then the alert a run of mismatches raises (a sample and its event)."""
    match = protocol.SeatStatus(result=SeatResult.MATCH, distance=0.2)
    mismatch = protocol.SeatStatus(result=SeatResult.MISMATCH, distance=0.71, mismatches=1)
    outbox.add(msgspec.structs.replace(sample(outbox.next_seq), fps=2.0, seat=match))
    outbox.add(
        Event(
            seq=outbox.next_seq,
            ts=1000.0 + outbox.next_seq,
            kind=EventKind.ALERT,
            state=State.ALERT,
            reason=AlertReason.DIFFERENT_PERSON,
            detail="seat check: the face differs from the one enrolled here",
        )
    )
    different = msgspec.structs.replace(
        sample(outbox.next_seq, ("seat check differs (0.71)",)),
        state=State.ALERT,
        alert=AlertReason.DIFFERENT_PERSON,
        fps=2.0,
        seat=mismatch,
    )
    outbox.add(different)
    link.wake()


async def test_a_hub_from_before_the_seat_check_gets_items_without_it_and_loses_nothing(
    hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub.decode = decode_before_seat
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    produce_seat_checked(outbox, link)
    task = await run_link(link)
    try:
        await eventually(lambda: hub.last_seq == 3 and len(outbox) == 0, "all three acked")
        produce_seat_checked(outbox, link)  # later items go without them at once
        await eventually(lambda: hub.last_seq == 6 and len(outbox) == 0, "three more acked")
    finally:
        await stop(task)
    assert hub.connections == 3  # refused for the seat field, then for the reason, then served
    assert hub.close_codes[:2] == [CloseCode.MALFORMED, CloseCode.MALFORMED]
    assert sorted(hub.stored) == [1, 2, 3, 4, 5, 6]
    stored = list(hub.stored.values())
    assert all(isinstance(i, Sample) and i.seat is msgspec.UNSET and i.fps == 2.0 for i in stored[::3])
    assert all(isinstance(i, Event) and i.reason is None and "differs" in i.detail for i in stored[1::3])
    alerted = stored[2::3]
    assert all(isinstance(i, Sample) and i.state is State.ALERT and i.alert is None for i in alerted)
    assert all(isinstance(i, Sample) and i.reasons == ("seat check differs (0.71)",) for i in alerted)
    messages = [r.getMessage() for r in caplog.records]
    assert any("predates the seat check in samples" in m for m in messages), messages
    assert any("predates the 'different person' alert reason" in m for m in messages), messages


async def test_a_current_hub_gets_the_seat_check(hub: FakeHub) -> None:
    outbox = Outbox(600.0)
    link = Link(make_config(hub.url), KEY, outbox)
    produce_seat_checked(outbox, link)
    task = await run_link(link)
    try:
        await eventually(lambda: hub.last_seq == 3 and len(outbox) == 0, "acked")
    finally:
        await stop(task)
    assert hub.connections == 1
    first, event, last = hub.stored.values()
    assert isinstance(first, Sample) and first.seat == protocol.SeatStatus(
        result=SeatResult.MATCH, distance=0.2
    )
    assert isinstance(event, Event) and event.reason is AlertReason.DIFFERENT_PERSON
    assert isinstance(last, Sample) and last.alert is AlertReason.DIFFERENT_PERSON
