"""The hub's WebSocket server: handshake, validation, storage and acks, one agent per connection.

Conversation (see ``docs/protocol.md``)::

    hub   -> agent  hello   {v, hub_id, class_id, nonce, time}
    agent -> hub    join    {v, student_id, name, host, agent_version, nonce, proof}
    hub   -> agent  welcome {session_id, session_started, last_seq, proof}
    agent -> hub    sample | event | batch ...      (any number)
    hub   -> agent  ack {seq}                       (after each commit that covered this student)

Any protocol violation gets an ``error`` frame and a close with its code (44xx); it never
affects other connections. No ``join`` within ``hub.join_timeout``: 4408. Unknown version:
4402. Bad proof: 4401. Hub full (``hub.max_agents`` joined students, or no unauthenticated
slot for this connection: see `smartsession.hub.admission`): 4503. A frame over
`MAX_FRAME_BYTES`: 4413. What a proven agent says is bounded too
(`smartsession.core.limits`): a timestamp off the session or a seq too far ahead: 4422;
more than ``hub.max_items_per_second`` items (a bucket per student holding
``hub.item_burst``): 4429; more than ``hub.session_quota`` items this session: 4507. Those
three are shown to the teacher (a roster notice), as is a takeover.

Proofs: the agent's HMAC uses the machine key of the student id it claims, which the hub
derives from the class key, so a machine can only ever speak for itself; the hub signs its
welcome with a key only the class key gives. With TLS the certificate's ``fingerprint`` is
bound into both, so an agent that saw another certificate (a man in the middle) cannot join,
and nothing secret is ever logged.

Takeover: a new connection for a student id already connected replaces the older one (closed
with 4409 "replaced by a newer connection") only because it proved the same machine key (no
other key can prove that id): an agent that restarted, or reconnected before the hub noticed
its old connection died, is never locked out. Each takeover is logged with both addresses
and shown to the teacher, so a key copied to a second machine is seen.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from smartsession.core.keys import machine_key
from smartsession.core.limits import Allowance, Bounds
from smartsession.core.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    CloseCode,
    Hello,
    Item,
    Join,
    ProtocolError,
    VisionMode,
    Welcome,
    agent_proof,
    decode_agent_message,
    encode,
    hub_proof_material,
    proofs_match,
)
from smartsession.core.roster import Roster
from smartsession.core.snapshots import RosterEvent
from smartsession.core.states import NoticeKind
from smartsession.hub.acceptor import Acceptor, AdmittedConnection
from smartsession.hub.admission import Admission, Limits, Throttle
from smartsession.hub.frames import SURELY_SMALL, check_size, decode_join, peer_of, refuse
from smartsession.hub.store import Store
from smartsession.keys import HubSigner

log = logging.getLogger(__name__)

#: Refusals of a proven agent that the teacher is shown, by close code.
NOTICE_CODES = {
    CloseCode.OUT_OF_RANGE: NoticeKind.OUT_OF_RANGE,
    CloseCode.RATE_LIMITED: NoticeKind.RATE_LIMITED,
    CloseCode.QUOTA_EXCEEDED: NoticeKind.QUOTA_EXCEEDED,
}
#: websockets' own frame limit, above `MAX_FRAME_BYTES` so that an oversized frame is read
#: and answered with a clear ``Error(4413)``; beyond this websockets closes with 1009.
WIRE_MAX_SIZE = 4 * MAX_FRAME_BYTES


@dataclass(eq=False)
class _Agent:
    """One authenticated connection."""

    ws: ServerConnection
    student_id: str
    connected_at: float
    acked: int
    allowance: Allowance
    peer: str
    name: str
    host: str
    ack_target: int = 0
    ack_wanted: asyncio.Event = field(default_factory=asyncio.Event)


class HubServer:
    """Accepts agents on a WebSocket port; call `start`, later `close`.

    ``publish`` receives the roster events each message caused (on the loop); ``listening``
    says whether anyone wants them now (when it returns False, e.g. a headless hub, the roster
    is updated without building events or snapshots).
    ``fingerprint`` is the TLS certificate fingerprint bound into proofs ("" without TLS).
    ``limits`` bound the connections not joined yet (`smartsession.hub.admission`).
    Wire `on_commit` as the store's ``on_commit`` so durable items get acked.
    """

    def __init__(
        self,
        *,
        secret: bytes,
        class_id: str,
        hub_id: str,
        session_id: str,
        store: Store,
        session_started: float = 0.0,
        roster: Roster,
        publish: Callable[[list[RosterEvent]], None],
        max_agents: int = 500,
        join_timeout: float = 10.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 10.0,
        fingerprint: str = "",
        bounds: Bounds | None = None,
        limits: Limits,
        listening: Callable[[], bool] | None = None,
    ) -> None:
        self._class_key = secret
        self._signer = HubSigner(secret, class_id)
        self.class_id = class_id
        self.hub_id = hub_id
        self.session_id = session_id
        self.session_started = session_started or time.time()
        self._store = store
        self._roster = roster
        self._publish = publish
        self._listening = listening
        self.max_agents = max_agents
        self.join_timeout = join_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.fingerprint = fingerprint
        #: What a proven agent may say (time, seq, rate, volume); see `smartsession.core.limits`.
        self.bounds = bounds or Bounds(
            session_started=self.session_started,
            max_skew=120.0,
            seq_window=10_000,
            quota=100_000,
            items_per_second=20.0,
            item_burst=2000,
        )
        self.admission = Admission(limits)
        self._agents: dict[str, _Agent] = {}
        self._applied: dict[str, int] = {}
        #: Per student, this session: highest seq and items accepted, the rate bucket.
        self._allowances: dict[str, Allowance] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._acceptor: Acceptor | None = None
        self._refusals = Throttle()
        self.port = 0

    @property
    def connected(self) -> list[str]:
        """Student ids with an authenticated connection now."""
        return list(self._agents)

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0: any free port), with TLS when given; returns the port bound.

        TLS 1.3 session tickets are turned off on ``tls``: nothing resumes sessions (every
        connection proves itself afresh), and tickets sent right after the handshake race with
        a client that reads and writes its TLS socket from two threads (websockets' sync
        client): its HTTP upgrade request was sometimes lost, and the connection closed after
        ``open_timeout`` without a 101 and without a log line.
        """
        if tls is not None:
            tls.num_tickets = 0
        acceptor = Acceptor(
            self._handle,
            self.admission,
            tls=tls,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            max_size=WIRE_MAX_SIZE,
        )
        self.port = await acceptor.start(host, port)
        self._acceptor = acceptor
        return self.port

    async def close(self) -> None:
        """Stop listening, drop connections not joined yet, close the others with 1001 (going away)."""
        if self._acceptor is not None:
            await self._acceptor.close()
            self._acceptor = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_commit(self, acks: dict[str, int]) -> None:
        """The store committed items up to these seqs; ack them to their agents (on the loop)."""
        for student_id, seq in acks.items():
            agent = self._agents.get(student_id)
            if agent is not None and seq > agent.ack_target:
                agent.ack_target = seq
                agent.ack_wanted.set()

    # one connection ---------------------------------------------------------------------

    async def _handle(self, ws: AdmittedConnection) -> None:
        peer = peer_of(ws)
        agent: _Agent | None = None
        acker: asyncio.Task[None] | None = None
        if not self.admission.promote(ws.ticket):
            if count := self._refusals.hit(time.monotonic()):
                log.warning(
                    "%d connections waiting to join (%d from %r): refused %d since the last report",
                    self.admission.unauthenticated,
                    self.admission.waiting_from(ws.ticket.address),
                    peer,
                    count,
                )
            await refuse(ws, CloseCode.HUB_FULL, "too many connections waiting to join")
            return
        try:
            try:
                agent = await self._handshake(ws, peer)
            finally:
                self.admission.release(ws.ticket)
            if agent is None:
                return
            acker = self._spawn(self._send_acks(agent))
            await self._receive(agent)
        except ProtocolError as exc:
            if agent is not None and exc.code in NOTICE_CODES:
                self.refused(agent.student_id, agent.name, CloseCode(exc.code), exc.message)
            else:
                log.info("closing connection from %r: %r (%d)", peer, exc.message, exc.code)
            await refuse(ws, exc.code, exc.message)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("unexpected error on the connection from %r", peer)
            await refuse(ws, CloseCode.MALFORMED, "internal error")
        finally:
            if acker is not None:
                acker.cancel()
            if agent is not None:
                self._leave(agent)

    async def _handshake(self, ws: ServerConnection, peer: str) -> _Agent | None:
        nonce = secrets.token_hex(16)
        hello = Hello(
            v=PROTOCOL_VERSION, hub_id=self.hub_id, class_id=self.class_id, nonce=nonce, time=time.time()
        )
        await ws.send(encode(hello))
        try:
            async with asyncio.timeout(self.join_timeout):
                frame = await ws.recv()
        except TimeoutError:
            log.info("no join from %r within %.0f s", peer, self.join_timeout)
            await refuse(ws, CloseCode.JOIN_TIMEOUT, f"no join within {self.join_timeout:g} s")
            return None
        check_size(frame)
        join = decode_join(frame)
        key = machine_key(self._class_key, self.class_id, join.student_id)
        expected = agent_proof(key, nonce, join.nonce, join.student_id, self.fingerprint)
        if not proofs_match(expected, join.proof):
            log.warning("bad proof from %r (student id %r)", peer, join.student_id)
            raise ProtocolError(CloseCode.BAD_PROOF, "bad proof: not this student's machine key?")
        student_id = join.student_id
        last_seq, stored = await self._store.standing(self.session_id, student_id)
        # From here to the registration nothing awaits, so two joins cannot interleave.
        allowance = self._allowances.get(student_id)
        if allowance is None:
            allowance = Allowance(self.bounds, last_seq, stored, time.monotonic())
            self._allowances[student_id] = allowance
        allowance.last_seq = max(allowance.last_seq, last_seq)
        if allowance.exhausted:
            self.refused(
                student_id, join.name, CloseCode.QUOTA_EXCEEDED, "storage quota for this session reached"
            )
            raise ProtocolError(CloseCode.QUOTA_EXCEEDED, "storage quota for this session reached")
        old = self._agents.get(student_id)
        if old is None and len(self._agents) >= self.max_agents:
            log.warning("hub full (%d agents): refusing %r from %r", self.max_agents, student_id, peer)
            raise ProtocolError(CloseCode.HUB_FULL, "hub full")
        now = time.time()
        agent = _Agent(
            ws=ws,
            student_id=student_id,
            connected_at=now,
            acked=last_seq,
            allowance=allowance,
            peer=peer,
            name=join.name,
            host=join.host,
        )
        self._agents[student_id] = agent
        self._applied[student_id] = max(self._applied.get(student_id, 0), last_seq)
        if old is not None:
            self._take_over(old, agent, join.name, now)
        self._store.record_join(self.session_id, student_id, join.name, join.host, now)
        welcome = Welcome(
            session_id=self.session_id,
            session_started=self.session_started,
            last_seq=last_seq,
            proof=_UNSIGNED,
        )
        material = hub_proof_material(nonce, join.nonce, student_id, self.fingerprint, welcome)
        await ws.send(encode(msgspec.structs.replace(welcome, proof=self._signer.sign(material))))
        name = self._roster.name_of(student_id, join.name)  # the class's roster names it, if it can
        log.info("student %r (%r) joined from %r, last seq %d", student_id, name, peer, last_seq)
        if join.vision is VisionMode.UNISOLATED:
            log.warning(
                "student %r analyses its camera WITHOUT network isolation (allowed by its config)", student_id
            )
        self._publish(self._roster.join(student_id, join.name, join.host, now, join.vision.value))
        return agent

    def _take_over(self, old: _Agent, new: _Agent, name: str, now: float) -> None:
        """``new`` proved the same machine key as the connected ``old``: it replaces it, said loudly."""
        student_id = new.student_id
        where = f"from {new.peer!r} ({new.host!r}) while connected from {old.peer!r} ({old.host!r})"
        log.warning("student %r connected again %s; the older connection is closed", student_id, where)
        self._store.record_leave(self.session_id, student_id, old.connected_at, now)
        self._spawn(refuse(old.ws, CloseCode.DUPLICATE_STUDENT, "replaced by a newer connection"))
        self._publish(self._roster.notice(student_id, NoticeKind.TAKEOVER, f"connected again {where}", now))

    def refused(self, student_id: str, name: str, code: CloseCode, why: str) -> None:
        """A proven agent broke a bound (`NOTICE_CODES`): log it and show it to the teacher."""
        log.warning(
            "student %r (%r) refused: %r (%d)", student_id, self._roster.name_of(student_id, name), why, code
        )
        kind = NOTICE_CODES.get(code)
        if kind is not None:
            self._publish(self._roster.notice(student_id, kind, why, time.time()))

    async def _receive(self, agent: _Agent) -> None:
        # The hot path (every message of every agent): names are looked up once, here.
        student_id, session_id, admit = agent.student_id, self.session_id, agent.allowance.admit
        add_items, apply, agents, applied_seqs = (
            self._store.add_items,
            self._roster.apply,
            self._agents,
            self._applied,
        )
        listening = self._listening
        async for frame in agent.ws:
            if len(frame) > SURELY_SMALL:
                check_size(frame)
            message = decode_agent_message(frame)
            if isinstance(message, Join):
                raise ProtocolError(CloseCode.MALFORMED, "already joined")
            items: tuple[Item, ...] = message.items if isinstance(message, Batch) else (message,)
            now = time.time()
            admit(items, now, time.monotonic())
            add_items(session_id, student_id, items, now)
            if agents.get(student_id) is not agent:
                continue  # replaced: stored, but the newer connection drives the roster
            applied = applied_seqs.get(student_id, 0)
            report = listening is None or listening()
            events: list[RosterEvent] = []
            for item in items:
                if item.seq > applied:
                    applied = item.seq
                    events += apply(student_id, item, now, report=report)
            applied_seqs[student_id] = applied
            if events:
                self._publish(events)

    async def _send_acks(self, agent: _Agent) -> None:
        while True:
            await agent.ack_wanted.wait()
            agent.ack_wanted.clear()
            if agent.ack_target > agent.acked:
                agent.acked = agent.ack_target
                try:
                    await agent.ws.send(encode(Ack(seq=agent.acked)))
                except ConnectionClosed:
                    return

    def _leave(self, agent: _Agent) -> None:
        if self._agents.get(agent.student_id) is not agent:
            return  # replaced by a newer connection, which owns the tile now
        del self._agents[agent.student_id]
        now = time.time()
        try:
            self._store.record_leave(self.session_id, agent.student_id, agent.connected_at, now)
        except Exception:
            log.exception("cannot record that %r left", agent.student_id)
        log.info("student %r (%r) left", agent.student_id, self._roster.name_of(agent.student_id, agent.name))
        self._publish(self._roster.leave(agent.student_id, now))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


#: A placeholder `Welcome.proof` until the welcome is signed.
_UNSIGNED = "0" * 128
