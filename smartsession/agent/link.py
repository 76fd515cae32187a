"""The agent's link to the hub: discover, authenticate both ways, stream the outbox, reconnect.

One `Link` per agent. ``await link.run()`` runs until cancelled: it picks a hub (zeroconf or
``agent.hub_url``), joins with an HMAC proof, checks the hub's proof in `Welcome` (a hub that
cannot prove the class secret gets nothing at all and is skipped for `BAD_HUB_SECONDS`),
replays the outbox and then sends each new item as `Link.wake` announces it. Acks drop
items from the outbox. On any disconnect it waits a backoff delay and starts again;
production never depends on the link (items simply accumulate in the outbox).

TLS (``network.tls``, on by default): the agent only connects to ``wss://`` hubs, without a
CA; it reads the certificate the hub presented, and binds its SHA-256 fingerprint into both
proofs, so a man in the middle with another certificate fails the handshake. A TXT ``fp``
that differs from the certificate seen refuses the hub before the join. With TLS off
(``--insecure``) plain ``ws://`` is allowed, with a warning.

Liveness comes from WebSocket pings (``hub.ping_interval`` / ``hub.ping_timeout``): a hub
that stops answering is dropped within their sum and the link looks for a hub again.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import random
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import websockets
from websockets.asyncio.client import ClientConnection, connect

import smartsession
from smartsession.agent.discovery import Candidate, HubBrowser
from smartsession.agent.outbox import Outbox
from smartsession.config import Config
from smartsession.core import protocol
from smartsession.core.backoff import backoff_delays
from smartsession.core.protocol import (
    MAX_BATCH_ITEMS,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    CloseCode,
    Error,
    Hello,
    Item,
    Join,
    ProtocolError,
    Sample,
    VisionMode,
    Welcome,
)
from smartsession.keys import MachineKey, hub_signature_valid

logger = logging.getLogger(__name__)

#: How long a hub that failed its proof (or belongs to another class) is skipped, in seconds.
BAD_HUB_SECONDS = 60.0
#: Clock difference to the hub (seconds) above which the agent warns in its log.
CLOCK_SKEW_WARNING = 30.0
#: Room left in a frame for the batch envelope, in bytes.
_ENVELOPE_BYTES = 64


class LinkState(enum.Enum):
    """Where the link is; every transition is logged by `Link._set_state`."""

    IDLE = "idle"
    DISCOVERING = "discovering"
    CONNECTING = "connecting"
    JOINING = "joining"
    STREAMING = "streaming"
    WAITING = "waiting"
    STOPPED = "stopped"


class Link:
    """Moves outbox items to an authenticated hub; see the module docstring."""

    def __init__(
        self,
        config: Config,
        key: MachineKey,
        outbox: Outbox,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        vision: Callable[[], VisionMode] = lambda: VisionMode.UNKNOWN,
    ) -> None:
        self._config = config
        self._vision = vision
        self._key = key
        self._outbox = outbox
        self._rng = rng or random.Random()
        self._clock = clock
        self._student_id = key.student_id
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._bad: dict[str, float] = {}
        self._tried: dict[str, float] = {}
        self.state = LinkState.IDLE
        #: The hub URL of the current authenticated connection ("" when none).
        self.hub_url = ""
        #: Connections that completed the mutual authentication.
        self.connections = 0
        #: Connection attempts (successful or not).
        self.attempts = 0
        self.samples_sent = 0
        self.events_sent = 0
        #: Hubs that failed their proof (counted per failure).
        self.bad_hubs = 0
        #: The hub's clock minus this machine's, as last seen in a hello (seconds).
        self.clock_offset = 0.0

    @property
    def reconnects(self) -> int:
        """Authenticated connections after the first one."""
        return max(0, self.connections - 1)

    def wake(self) -> None:
        """Tell the link that new items are in the outbox; call after every `Outbox.add`."""
        self._wake.set()

    async def flush(self) -> None:
        """Wait until the hub has acknowledged everything in the outbox (wrap in `asyncio.timeout`)."""
        while len(self._outbox):
            self._acked.clear()
            await self._acked.wait()

    async def run(self) -> None:
        """Connect, stream and reconnect until cancelled."""
        try:
            async with HubBrowser(self._config) as browser:
                delays = self._delays()
                while True:
                    self._set_state(LinkState.DISCOVERING)
                    candidate = await self._pick(browser)
                    if await self._session(candidate):
                        delays = self._delays()
                    self._set_state(LinkState.WAITING)
                    await asyncio.sleep(next(delays))
        finally:
            self._set_state(LinkState.STOPPED)

    # one connection ---------------------------------------------------------------------

    def _delays(self) -> Iterator[float]:
        agent = self._config.agent
        return backoff_delays(agent.reconnect_initial, agent.reconnect_max, self._rng)

    async def _pick(self, browser: HubBrowser) -> Candidate:
        """The usable candidate tried least recently; waits while there is none."""
        while True:
            now = self._clock()
            self._bad = {url: until for url, until in self._bad.items() if until > now}
            choices = [c for c in browser.candidates() if c.url not in self._bad]
            if choices:
                # Stable sort: among equally old attempts the most recently seen advert wins.
                return min(reversed(choices), key=lambda c: self._tried.get(c.url, float("-inf")))
            timeout = min(self._bad.values()) - now if self._bad else None
            try:
                async with asyncio.timeout(timeout):
                    await browser.wait_changed()
            except TimeoutError:
                pass

    async def _session(self, candidate: Candidate) -> bool:
        """One connection to ``candidate``; True when it authenticated (the backoff then resets)."""
        url = candidate.url
        self._tried[url] = self._clock()
        tls = url.startswith("wss://")
        if not tls and self._config.network.tls:
            logger.warning(
                "hub %r offers no TLS (ws://); skipping it (allow plain ws with --insecure, debugging only)",
                url,
            )
            self._mark_bad(url)
            return False
        self.attempts += 1
        self._set_state(LinkState.CONNECTING, url)
        hub = self._config.hub
        authenticated = False
        try:
            async with connect(
                url,
                ssl=client_context() if tls else None,
                compression=None,
                max_size=MAX_FRAME_BYTES,
                proxy=None,
                open_timeout=hub.join_timeout,
                ping_interval=hub.ping_interval,
                ping_timeout=hub.ping_timeout,
                close_timeout=2.0,
                user_agent_header=f"smartsession-agent/{smartsession.__version__}",
            ) as ws:
                self._set_state(LinkState.JOINING, url)
                async with asyncio.timeout(hub.join_timeout):
                    welcome = await self._join(ws, candidate)
                if welcome is None:
                    return False
                authenticated = True
                self.connections += 1
                self.hub_url = url
                self._set_state(LinkState.STREAMING, url)
                await self._stream(ws, welcome)
        except ProtocolError as exc:
            logger.warning("hub %r broke the protocol: %r", url, exc.message)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            why = f" (code {rcvd.code}: {rcvd.reason!r})" if rcvd else ""
            logger.info("connection to hub %r closed%s", url, why)
        except TimeoutError:
            logger.info("hub %r did not answer in time", url)
        except (OSError, websockets.WebSocketException) as exc:
            logger.info("cannot connect to hub %r: %r", url, str(exc))
        finally:
            self.hub_url = ""
        return authenticated

    async def _join(self, ws: ClientConnection, candidate: Candidate) -> Welcome | None:
        """Hello -> Join -> Welcome with both proofs checked; None when this hub is refused."""
        url = candidate.url
        fingerprint = peer_fingerprint(ws)  # "" on plain ws
        advertised = candidate.advert.fingerprint if candidate.advert is not None else ""
        if url.startswith("wss://") and not fingerprint:
            raise ProtocolError(CloseCode.MALFORMED, "no TLS certificate from the hub")
        if advertised and advertised != fingerprint:
            logger.warning(
                "hub %r presented certificate %s but advertised %s; refusing it (man in the middle?)",
                url,
                fingerprint,
                advertised,
            )
            self.bad_hubs += 1
            self._mark_bad(url)
            await ws.close(CloseCode.BAD_PROOF, "certificate does not match the advert")
            return None
        hello = protocol.decode_hub_message(await ws.recv())
        if isinstance(hello, Error):
            logger.warning("hub %r refused us before hello: %d %r", url, hello.code, hello.message)
            return None
        if not isinstance(hello, Hello):
            raise ProtocolError(CloseCode.MALFORMED, f"expected hello, got {type(hello).__name__}")
        if hello.v != PROTOCOL_VERSION:
            logger.warning("hub %r speaks protocol v%d, not v%d; skipping it", url, hello.v, PROTOCOL_VERSION)
            self._mark_bad(url)
            await ws.close(CloseCode.BAD_VERSION, "unsupported protocol version")
            return None
        if hello.class_id != self._config.class_.id:
            logger.warning(
                "hub %r is for class %r, not %r; skipping it", url, hello.class_id, self._config.class_.id
            )
            self._mark_bad(url)
            await ws.close(CloseCode.NORMAL, "wrong class")
            return None
        skew = self.clock_offset = hello.time - time.time()
        if abs(skew) > CLOCK_SKEW_WARNING:
            logger.warning(
                "this machine's clock is %.0f s %s the hub's; the hub refuses telemetry more than "
                "hub.max_clock_skew off its clock: check the time service (NTP) on both",
                abs(skew),
                "behind" if skew > 0 else "ahead of",
            )
        nonce = secrets.token_hex(16)
        join = Join(
            v=PROTOCOL_VERSION,
            student_id=self._student_id,
            name=self._config.display_name[:80],
            host=(socket.gethostname() or "unknown")[:80],
            agent_version=smartsession.__version__[:32],
            nonce=nonce,
            proof=protocol.agent_proof(self._key.key, hello.nonce, nonce, self._student_id, fingerprint),
            vision=self._vision(),
        )
        await ws.send(protocol.encode(join))
        reply = protocol.decode_hub_message(await ws.recv())
        if isinstance(reply, Error):
            logger.warning("hub %r refused the join: %d %r", url, reply.code, reply.message)
            return None
        if not isinstance(reply, Welcome):
            raise ProtocolError(CloseCode.MALFORMED, f"expected welcome, got {type(reply).__name__}")
        material = protocol.hub_proof_material(hello.nonce, nonce, self._student_id, fingerprint, reply)
        if not hub_signature_valid(self._key.hub_public_key, material, reply.proof):
            logger.warning("hub %r could not prove it holds the class key; ignoring it", url)
            self.bad_hubs += 1
            self._mark_bad(url)
            await ws.close(CloseCode.BAD_PROOF, "hub proof does not match")
            return None
        logger.info(
            "joined hub %r (%r) as %r; it holds seq up to %d",
            url,
            hello.hub_id,
            self._student_id,
            reply.last_seq,
        )
        return reply

    async def _stream(self, ws: ClientConnection, welcome: Welcome) -> None:
        """Replay, then send new items, while reading acks; returns when the connection ends."""
        # Items made before the session began (by the hub's clock, with a second of slack for
        # the offset's measurement) belong to no session the hub keeps.
        not_before = welcome.session_started - self.clock_offset - 1.0
        self._outbox.welcome(welcome.last_seq, welcome.session_id, not_before)
        self._acked.set()
        sender = asyncio.create_task(self._send_loop(ws, welcome.last_seq), name="link sender")
        receiver = asyncio.create_task(self._receive_loop(ws), name="link receiver")
        tasks = {sender, receiver}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raise what ended the connection
        logger.info("hub closed the connection (code %s: %r)", ws.close_code, ws.close_reason or "no reason")

    async def _send_loop(self, ws: ClientConnection, cursor: int) -> None:
        pending = self._outbox.pending_after(cursor)
        if pending:
            logger.info("replaying %d items from seq %d", len(pending), pending[0].seq)
        while True:
            self._wake.clear()
            items = self._outbox.pending_after(cursor)
            if not items:
                await self._wake.wait()
                continue
            for frame, chunk in _frames(items):
                cursor = chunk[-1].seq
                self._outbox.mark_sent(cursor)  # before sending: a crash right after must not renumber it
                await ws.send(frame)
                samples = sum(isinstance(item, Sample) for item in chunk)
                self.samples_sent += samples
                self.events_sent += len(chunk) - samples

    async def _receive_loop(self, ws: ClientConnection) -> None:
        async for frame in ws:
            try:
                message = protocol.decode_hub_message(frame)
            except ProtocolError as exc:
                logger.warning("hub sent a malformed message: %r", exc.message)
                await ws.close(exc.code, "malformed message")
                return
            if isinstance(message, Ack):
                self._outbox.ack(message.seq)
                self._acked.set()
            elif isinstance(message, Error):
                logger.warning("hub error %d: %r", message.code, message.message)
            else:
                logger.warning("ignoring an unexpected %s from the hub", type(message).__name__)

    def _mark_bad(self, url: str) -> None:
        self._bad[url] = self._clock() + BAD_HUB_SECONDS

    def _set_state(self, state: LinkState, url: str = "") -> None:
        if state is self.state:
            return
        logger.debug("link %s -> %s%s", self.state.value, state.value, f" ({url!r})" if url else "")
        self.state = state


def client_context() -> ssl.SSLContext:
    """TLS without a CA: the hub's certificate is self-signed, and the proofs bind its fingerprint."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def peer_fingerprint(ws: ClientConnection) -> str:
    """SHA-256 (hex) of the DER certificate the hub presented on this connection; "" without TLS."""
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return ""
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else ""


def _frames(items: list[Item]) -> Iterator[tuple[str, list[Item]]]:
    """Encode items as frames: one item alone, several as `Batch`es within the frame limits."""
    if len(items) == 1:
        yield protocol.encode(items[0]), items
        return
    chunk: list[Item] = []
    size = _ENVELOPE_BYTES
    for item in items:
        length = len(protocol.encode(item)) + 1
        if chunk and (len(chunk) >= MAX_BATCH_ITEMS or size + length > MAX_FRAME_BYTES):
            yield protocol.encode(Batch(items=tuple(chunk))), chunk
            chunk, size = [], _ENVELOPE_BYTES
        chunk.append(item)
        size += length
    yield protocol.encode(Batch(items=tuple(chunk))), chunk
