"""The agent's link to the hub: discover, authenticate both ways, stream the outbox, reconnect.

One `Link` per agent. ``await link.run()`` runs until cancelled. Each round tries the
candidates (zeroconf adverts, the pinned hubs' last good URLs, or ``agent.hub_url``) at once,
up to `PARALLEL_ATTEMPTS`: each gets ``agent.connect_timeout`` for TCP, TLS and the hub's
hello, then joins with an HMAC proof and checks the hub's proof in `Welcome` (a hub that
cannot prove the class secret gets nothing at all). The first to pass wins; the others finish
in the background to learn their verdict, stand down and close. Two routes to one
certificate never join at once (the hub would let the newest win).
The link replays the outbox and then sends each new item as `Link.wake` announces it; acks
drop items from the outbox. When the connection ends it waits a backoff delay and starts a
new round; production never depends on the link (items simply accumulate in the outbox).

One class, one hub (`smartsession.core.candidates.preference`): the first round waits
`DISCOVERY_SETTLE` after the first advert for the other hubs' answers; an attempt that has the hub's
hello waits, before it joins, while an attempt on a candidate the rule prefers (the hub of
the class that started first; ``agent.hub_id`` allows only that hub) is still undecided, so
every agent of a class ends on the same hub. While streaming, a preferred hub that appears
is joined on the side (both proofs) and, once it passed, the link moves to it and logs why.

Skipping (`smartsession.core.candidates`): a candidate that was silent, broke the protocol or
failed a check, or refused this machine's key (4401), is skipped until its advert changes, or
for `BAD_HUB_SECONDS`; one that refused the connection or turned the agent away otherwise is
tried again next round. Each is logged once per
candidate and change.

Pinning: the certificate fingerprint and URL of a hub that passed the mutual proof are pinned
per hub id (kept in ``pins_path`` across restarts). A connection that presents another
certificate for a pinned hub id joins only after every other candidate of the round failed;
when it then wins, a warning names both fingerprints, `Link.pin_switches` counts it and the
pin moves to it. A pinned URL stays a candidate after an advert under its name points elsewhere.

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
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

import smartsession
from smartsession.agent.connection import (
    HubConnection,
    classify_failure,
    hello_hub_id,
    open_hub,
    peer_fingerprint,
)
from smartsession.agent.discovery import HubBrowser
from smartsession.agent.outbox import Outbox
from smartsession.agent.pins import PinStore
from smartsession.agent.rounds import Joined, Round, move_reason
from smartsession.config import Config
from smartsession.core import protocol
from smartsession.core.backoff import backoff_delays
from smartsession.core.candidates import (
    CandidatePolicy,
    Outcome,
    Pin,
    PinCheck,
    Plan,
    allowed,
    check_pin,
    preference,
)
from smartsession.core.discovery import Candidate
from smartsession.core.protocol import (
    MAX_BATCH_ITEMS,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Addition,
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

#: How long a hub that failed (silent, bad proof, another class...) is skipped while its
#: advert stays the same, in seconds.
BAD_HUB_SECONDS = 60.0
#: Clock difference to the hub (seconds) above which the agent warns in its log.
CLOCK_SKEW_WARNING = 30.0
#: Seconds the agent's first round waits, once a first hub is announced, for the others.
DISCOVERY_SETTLE = 1.0
#: Most candidates tried at once (each holds a socket until it answers or its deadline).
PARALLEL_ATTEMPTS = 32
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
        pins_path: Path | None = None,
    ) -> None:
        """``pins_path``: the file keeping pinned hubs across restarts (None: pins live in memory only)."""
        self._config = config
        self._vision = vision
        self._key = key
        self._outbox = outbox
        self._rng = rng or random.Random()
        self._clock = clock
        self._student_id = key.student_id
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._policy = CandidatePolicy(BAD_HUB_SECONDS)
        self._pin_store = PinStore(pins_path) if pins_path is not None else None
        self._pins: dict[str, Pin] = {}
        #: URLs `_join` refused (`_mark_bad`) in the attempts now running.
        self._refused: set[str] = set()
        #: Per protocol addition (`Sample.fps`, `Sample.seat`, ...), the hub ids that refused it
        #: (hubs from before it): they get items without it (`protocol.without`).
        self._older_hubs: dict[Addition, set[str]] = {addition: set() for addition in Addition}
        #: Attempts of a round already won, finishing in the background.
        self._losers: set[asyncio.Task[Joined | None]] = set()
        #: The first round waits `DISCOVERY_SETTLE` after the first advert (see `_find_hub`).
        self._settled = False
        #: The candidate of the latest authenticated connection.
        self._last: Candidate | None = None
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
        #: Times a hub presenting another certificate than the pinned one was used (each is logged).
        self.pin_switches = 0

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
            if self._pin_store is not None:
                self._pins = await asyncio.to_thread(self._pin_store.load)
            async with HubBrowser(self._config) as browser:
                delays = self._delays()
                while True:
                    self._set_state(LinkState.DISCOVERING)
                    joined = await self._find_hub(browser)
                    why = ""
                    while joined is not None:
                        joined, why = await self._session(joined, browser, why)
                        delays = self._delays()
                    self._set_state(LinkState.WAITING)
                    await asyncio.sleep(next(delays))
        finally:
            for task in self._losers:
                task.cancel()
            await asyncio.gather(*self._losers, return_exceptions=True)
            self._set_state(LinkState.STOPPED)

    # finding a hub -------------------------------------------------------------------------

    def _delays(self) -> Iterator[float]:
        agent = self._config.agent
        return backoff_delays(agent.reconnect_initial, agent.reconnect_max, self._rng)

    async def _find_hub(self, browser: HubBrowser) -> Joined | None:
        """One round: attempts on the planned candidates at once, until one passes both proofs.

        Candidates that appear meanwhile join the round. Those presenting another certificate
        than the pinned one are tried once everything else failed. Waits while there is
        nothing to try; returns None when everything tried failed.
        """
        round_ = Round()
        attempts: dict[asyncio.Task[Joined | None], Candidate] = {}
        tried: set[Candidate] = set()
        tried_last: set[Candidate] = set()
        last_resort = False  # trying the candidates that contradict a pin
        try:
            while True:
                version = browser.version
                plan = self._plan(browser)
                if not self._settled and browser.browsing and plan.first:
                    # Every hub of the class answers the first query, not all at once: wait a
                    # moment for them, so a new agent joins the hub the rule prefers at once.
                    self._settled = True
                    await asyncio.sleep(DISCOVERY_SETTLE)
                    continue
                round_.known = (*plan.first, *plan.later)
                fresh = [(c, False) for c in plan.first if c not in tried]
                late = [(c, True) for c in (*round_.deferred, *plan.later) if c not in tried_last]
                todo = fresh + late if last_resort else fresh
                for candidate, allow_other in todo[: max(0, PARALLEL_ATTEMPTS - len(attempts))]:
                    (tried_last if allow_other else tried).add(candidate)
                    self._set_state(LinkState.CONNECTING)
                    round_.enter(candidate)
                    attempt = asyncio.create_task(
                        self._attempt(round_, candidate, allow_other=allow_other),
                        name=f"attempt {candidate.url}",
                    )
                    attempts[attempt] = candidate
                if not attempts:
                    if late and not last_resort:
                        last_resort = True
                        continue
                    if tried or tried_last:
                        return None
                    await self._wait_for_candidates(browser, version)
                    continue
                changed = asyncio.create_task(browser.wait_changed(version), name="candidates changed")
                try:
                    done, _ = await asyncio.wait({*attempts, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                for finished in [task for task in attempts if task in done]:
                    del attempts[finished]
                    joined = finished.result()
                    if joined is not None:
                        return joined
        finally:
            # The others finish in the background: each still gets its verdict (a silent one
            # is then skipped next time), stands down and closes; `run` cancels them at stop.
            for loser in attempts:
                self._losers.add(loser)
                loser.add_done_callback(self._losers.discard)

    def _plan(self, browser: HubBrowser) -> Plan:
        """This round's candidates (`CandidatePolicy.plan`), without hubs ``agent.hub_id`` rules out."""
        pins = self._pins if browser.browsing else {}
        plan = self._policy.plan(browser.candidates(), pins, self._clock())
        hub_id = self._config.agent.hub_id
        return Plan(
            first=tuple(c for c in plan.first if allowed(c, hub_id)),
            later=tuple(c for c in plan.later if allowed(c, hub_id)),
        )

    async def _wait_for_candidates(self, browser: HubBrowser, version: int) -> None:
        """Nothing to try: wait for a change of the adverts, or until a skipped candidate's time is up."""
        try:
            async with asyncio.timeout(self._policy.next_retry(self._clock())):
                await browser.wait_changed(version)
        except TimeoutError:
            pass

    async def _attempt(
        self, round_: Round, candidate: Candidate, *, allow_other: bool, side: bool = False
    ) -> Joined | None:
        """Open ``candidate``, check its certificate against the pins and the rule, join; None unless it won.

        ``side``: a join beside the current connection (a preferred hub); the link's state stays.
        """
        try:
            return await self._try(round_, candidate, allow_other=allow_other, side=side)
        finally:
            round_.leave(candidate)

    async def _try(
        self, round_: Round, candidate: Candidate, *, allow_other: bool, side: bool
    ) -> Joined | None:
        url = candidate.url
        if not url.startswith("wss://") and self._config.network.tls:
            self._note(
                candidate,
                Outcome.FAILED,
                "offers no TLS (ws://); allow plain ws with --insecure, debugging only",
            )
            return None
        self.attempts += 1
        ws: HubConnection | None = None
        opened = False
        try:
            connect_timeout = self._config.agent.connect_timeout
            try:
                async with asyncio.timeout(connect_timeout):
                    ws = await open_hub(url, self._config.hub)
            except TimeoutError:
                reason = f"was silent for {connect_timeout:g} s (no TLS handshake or hello)"
                self._note(candidate, Outcome.FAILED, reason)
                return None
            opened = True
            if round_.won:
                return None  # another hub won meanwhile; this one only had to answer in time
            fingerprint = peer_fingerprint(ws)
            hub_ids = frozenset({candidate.hub_id, hello_hub_id(ws.first_frame.result())} - {""})
            check, pin = check_pin(self._pins, hub_ids, fingerprint)
            if check is PinCheck.OTHER and pin is not None and not allow_other:
                reason = (
                    f"presented certificate {fingerprint}, not the one pinned for hub {pin.hub_id} "
                    f"({pin.fingerprint})"
                )
                self._note(candidate, Outcome.DEFERRED, reason)
                round_.deferred.append(candidate)
                return None
            only = self._config.agent.hub_id
            if only and only not in hub_ids:
                claimed = ", ".join(sorted(hub_ids)) or "without a hub id"
                self._note(candidate, Outcome.FAILED, f"is hub {claimed}, not agent.hub_id {only}")
                return None
            await round_.wait_turn(candidate)  # a hub the rule prefers goes first
            async with round_.joining(fingerprint):
                if round_.won:
                    return None
                if not side:
                    self._set_state(LinkState.JOINING, url)
                async with asyncio.timeout(self._config.hub.join_timeout):
                    welcome = await self._join(ws, candidate)
                if welcome is None:
                    if url in self._refused:
                        self._note(candidate, Outcome.FAILED, "was refused in the handshake")
                    else:
                        self._note(candidate, Outcome.DECLINED, "turned the agent away")
                    return None
                if round_.won:
                    return None  # a hub with another certificate won while this one joined
                round_.win()
            joined = Joined(ws, candidate, welcome, fingerprint, hub_ids, check, pin)
            ws = None  # handed over to the session
            return joined
        except (ProtocolError, TimeoutError, OSError, websockets.WebSocketException) as exc:
            outcome, reason = classify_failure(exc, opened=opened, join_timeout=self._config.hub.join_timeout)
            self._note(candidate, outcome, reason)
            return None
        finally:
            self._refused.discard(url)
            if ws is not None:
                await ws.close()

    def _note(self, candidate: Candidate, outcome: Outcome, reason: str) -> None:
        """Record how an attempt ended; logged once per candidate and change, repeats at debug."""
        news = self._policy.record(candidate, outcome, reason, self._clock())
        then = {
            Outcome.FAILED: f"skipping it until its advert changes (or for {BAD_HUB_SECONDS:g} s)",
            Outcome.DEFERRED: "trying it only if no other hub answers",
        }.get(outcome, "trying it again next round")
        logger.log(logging.INFO if news else logging.DEBUG, "hub %s %s; %s", candidate.url, reason, then)

    # one connection ---------------------------------------------------------------------

    async def _session(self, joined: Joined, browser: HubBrowser, why: str) -> tuple[Joined | None, str]:
        """Adopt the hub that won the round, then stream to it until the connection ends.

        Returns a preferred hub joined meanwhile (`_challenge`) and why the link moves to it,
        or ``(None, "")`` when the connection simply ended. ``why``: the reason of the move
        that led here ("" after a round).
        """
        ws, url = joined.ws, joined.candidate.url
        tasks: set[asyncio.Task[Any]] = set()
        try:
            await self._adopt(joined, why)
            self.connections += 1
            self.hub_url = url
            self._set_state(LinkState.STREAMING, url)
            stream = asyncio.create_task(self._stream(ws, joined.welcome, joined.hub_ids), name="link stream")
            challenge = asyncio.create_task(self._challenge(browser, joined), name="link challenge")
            tasks = {stream, challenge}
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            better = challenge.result() if challenge in done else None
            if better is not None:
                reason = move_reason(joined, better)
                logger.warning(
                    "moving from hub %r at %r to hub %r at %r: %s",
                    ", ".join(sorted(joined.hub_ids)),
                    url,
                    ", ".join(sorted(better.hub_ids)),
                    better.candidate.url,
                    reason,
                )
                return better, reason
            stream.result()  # re-raise what ended the connection
        except ProtocolError as exc:
            logger.warning("hub %r broke the protocol: %r", url, exc.message)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            reason = f" (code {rcvd.code}: {rcvd.reason!r})" if rcvd else ""
            logger.info("connection to hub %r closed%s", url, reason)
        except (OSError, websockets.WebSocketException) as exc:
            logger.info("connection to hub %r failed: %r", url, str(exc))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hub_url = ""
            await ws.close()
        return None, ""

    async def _challenge(self, browser: HubBrowser, current: Joined) -> Joined | None:
        """While streaming to ``current``: join a hub the rule prefers once one is announced.

        Each preferred candidate (another hub id, no failure on record) is joined beside the
        current connection, with both proofs; the first that passes is returned. A forged
        advert therefore never costs the current connection. Runs until cancelled otherwise.
        """
        tried: set[Candidate] = set()
        while True:
            version = browser.version
            known = self._plan(browser).first
            # The current hub's own rank: its earliest announced start, whichever URL it came by.
            mine = min(
                preference(c, known)
                for c in (current.candidate, *known)
                if c == current.candidate or c.hub_id in current.hub_ids
            )
            better = [
                c
                for c in known
                if c not in tried
                and preference(c, known) < mine
                and c.hub_id not in current.hub_ids
                and not self._policy.reason(c)
            ]
            if not better:
                await browser.wait_changed(version)
                continue
            candidate = min(better, key=lambda c: preference(c, known))
            tried.add(candidate)
            round_ = Round()
            round_.enter(candidate)
            joined = await self._attempt(round_, candidate, allow_other=False, side=True)
            if joined is not None:
                return joined

    async def _adopt(self, joined: Joined, why: str = "") -> None:
        """Log a move to another hub, report a certificate that is not the pinned one, and pin this one.

        ``why``: the reason of a move `_session` decided (already logged); else the last hub's
        verdict says why the link is elsewhere now.
        """
        candidate, fingerprint = joined.candidate, joined.fingerprint
        self._policy.record(candidate, Outcome.JOINED, "", self._clock())
        last, self._last = self._last, candidate
        if last is not None and last.url != candidate.url and not why:
            reason = self._policy.reason(last) or "its advert changed or went away"
            logger.info("moved from hub %r to %r: the former %s", last.url, candidate.url, reason)
        if not fingerprint:
            return  # plain ws: nothing to pin
        if joined.pin_check is PinCheck.OTHER and joined.pin is not None:
            self.pin_switches += 1
            logger.warning(
                "hub %r at %r presented certificate %s, not the pinned %s; using it because the pinned "
                "hub did not answer (pinning the new one)",
                joined.pin.hub_id,
                candidate.url,
                fingerprint,
                joined.pin.fingerprint,
            )
        elif joined.pin_check is PinCheck.NEW:
            logger.info(
                "pinning hub %s at %r: certificate %s",
                ", ".join(sorted(joined.hub_ids)),
                candidate.url,
                fingerprint,
            )
        pins = self._pins | {hub_id: Pin(hub_id, fingerprint, candidate.url) for hub_id in joined.hub_ids}
        if pins == self._pins:
            return
        self._pins = pins
        if self._pin_store is not None:
            try:
                await asyncio.to_thread(self._pin_store.save, pins)
            except OSError as exc:
                logger.warning("cannot save the pinned hubs to %s: %s", self._pin_store.path, exc)

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
            if reply.code == CloseCode.BAD_PROOF:
                # Our key, not the hub, is wrong: asking again at once cannot help (and floods its log).
                logger.warning(
                    "hub %r refused this machine's key for student %r (4401): is %s the key made for it "
                    "from this class's key ('smartsession keygen --student %s')?",
                    url,
                    self._student_id,
                    self._config.key_path,
                    self._student_id,
                )
                self._mark_bad(url)
                return None
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

    async def _stream(self, ws: ClientConnection, welcome: Welcome, hub_ids: frozenset[str]) -> None:
        """Replay, then send new items, while reading acks; returns when the connection ends.

        ``hub_ids`` name the hub: one that refused an addition (`Sample.fps`, `Sample.seat`, the
        "different person" reason) gets items without it.
        """
        # Items made before the session began (by the hub's clock, with a second of slack for
        # the offset's measurement) belong to no session the hub keeps.
        not_before = welcome.session_started - self.clock_offset - 1.0
        self._outbox.welcome(welcome.last_seq, welcome.session_id, not_before)
        self._acked.set()
        sender = asyncio.create_task(self._send_loop(ws, welcome.last_seq, hub_ids), name="link sender")
        receiver = asyncio.create_task(self._receive_loop(ws, hub_ids), name="link receiver")
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

    async def _send_loop(self, ws: ClientConnection, cursor: int, hub_ids: frozenset[str]) -> None:
        pending = self._outbox.pending_after(cursor)
        if pending:
            logger.info("replaying %d items from seq %d", len(pending), pending[0].seq)
        while True:
            self._wake.clear()
            items = self._outbox.pending_after(cursor)
            if not items:
                await self._wake.wait()
                continue
            refused = frozenset(addition for addition, ids in self._older_hubs.items() if hub_ids & ids)
            if refused:
                items = [protocol.without(item, refused) for item in items]
            for frame, chunk in _frames(items):
                cursor = chunk[-1].seq
                self._outbox.mark_sent(cursor)  # before sending: a crash right after must not renumber it
                await ws.send(frame)
                samples = sum(isinstance(item, Sample) for item in chunk)
                self.samples_sent += samples
                self.events_sent += len(chunk) - samples

    async def _receive_loop(self, ws: ClientConnection, hub_ids: frozenset[str]) -> None:
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
                addition = protocol.refused_addition(message)
                if addition is not None and not hub_ids <= self._older_hubs[addition]:
                    self._older_hubs[addition] |= hub_ids
                    logger.info(
                        "hub %s predates %s; sending it items without it (what it refused is sent again)",
                        ", ".join(sorted(hub_ids)),
                        addition.description,
                    )
                else:
                    logger.warning("hub error %d: %r", message.code, message.message)
            else:
                logger.warning("ignoring an unexpected %s from the hub", type(message).__name__)

    def _mark_bad(self, url: str) -> None:
        """`_join` refused this hub: its attempt counts as FAILED (skipped until its advert changes)."""
        self._refused.add(url)

    def _set_state(self, state: LinkState, url: str = "") -> None:
        if state is self.state:
            return
        logger.debug("link %s -> %s%s", self.state.value, state.value, f" ({url!r})" if url else "")
        self.state = state


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
