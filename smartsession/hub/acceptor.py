"""The hub's front door: accepts TCP itself, applies `Admission`, then TLS and WebSocket.

Not ``websockets.serve``, because asyncio's accept loop starts a TLS handshake (with a
256 KiB read buffer) for every connection the moment it is accepted, knows nothing of source
addresses, and logs a traceback for every failed ``accept`` once file descriptors run out.
Here, for each connection:

1. ``accept``, then `Admission.open`: refused at once when its address already has too many
   waiting; when all slots are taken, one pending connection is dropped (`Admission.drop_one`).
   When ``accept`` fails for want of descriptors (EMFILE, ENFILE), a spare descriptor accepts
   the next connection anyway: closed at once if its address already has one waiting, else
   it takes the place of one pending connection; one log line per second at most.
2. Nothing is allocated for TLS until the client's first TLS record (its ClientHello) has
   arrived whole: the socket's receive low-water mark keeps the bytes in the kernel, so a
   silent or half-sent handshake costs the hub a socket and a few hundred bytes. Then the
   handshake waits its turn if its address started too many lately (`handshake_delay`).
3. TLS with asyncio's own protocol, reading 16 KiB at a time instead of 256 KiB.
4. The WebSocket opening handshake (websockets' `ServerConnection`), then the handler.

From accept to the end of step 4 a connection has ``handshake_timeout`` seconds. Once the
handler runs, the connection's ticket is the handler's to promote and release.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import ssl
import time
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection
from websockets.frames import CloseCode
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from smartsession.hub.admission import Admission, Throttle, Ticket, address_key
from smartsession.hub.memory import release_memory

log = logging.getLogger(__name__)

#: Connections the kernel may queue before the hub accepts them.
BACKLOG = 4096
#: Connections accepted per wake-up of the listening socket, so accepting never hogs the loop.
ACCEPT_BATCH = 256
#: Seconds accepting pauses when it fails and the spare descriptor cannot help.
ACCEPT_PAUSE = 0.1
#: Bytes of TLS read per call (asyncio's default of 256 KiB costs that much per connection).
TLS_READ_BUFFER = 16 * 1024
#: Seconds between the end of a flood and giving its memory back (its connections are torn down).
TRIM_DELAY = 1.0
#: Seconds a TLS close (close_notify both ways) may take.
TLS_SHUTDOWN_TIMEOUT = 10.0
#: A TLS record header: type (22 = handshake), version (2 bytes), length (2 bytes).
TLS_HEADER = 5
TLS_HANDSHAKE = 22
#: The largest TLS record (2^14 bytes of plaintext plus room for a record's overhead).
TLS_MAX_RECORD = 2**14 + 2048
_NO_DESCRIPTOR = frozenset({errno.EMFILE, errno.ENFILE})

Handler = Callable[["AdmittedConnection"], Awaitable[None]]


class _TLSProtocol(sslproto.SSLProtocol):
    """asyncio's TLS protocol (what ``loop.create_server(ssl=...)`` uses) with a small read buffer."""

    max_size = TLS_READ_BUFFER


class AdmittedConnection(ServerConnection):
    """A WebSocket connection that came through the `Acceptor`; ``ticket`` is its `Admission` place."""

    def __init__(
        self,
        protocol: ServerProtocol,
        acceptor: Acceptor,
        ticket: Ticket,
        *,
        ping_interval: float,
        ping_timeout: float,
    ) -> None:
        # Besides registering in `connection_made` (replaced below), a websockets
        # ServerConnection only asks its server `is_serving()`, in the opening handshake.
        super().__init__(
            protocol, cast(Server, acceptor), ping_interval=ping_interval, ping_timeout=ping_timeout
        )
        self.ticket = ticket
        self._acceptor = acceptor

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The transport is ready (after TLS): the acceptor runs the opening handshake and handler."""
        Connection.connection_made(self, transport)
        self._acceptor.run(self)


@dataclass(eq=False)
class _Pending:
    """An accepted connection before its WebSocket handshake finished."""

    ticket: Ticket
    sock: socket.socket
    #: Bytes that must have arrived before TLS starts (the first record).
    want: int = 0
    reading: bool = False
    #: When its TLS handshake may start (the address's handshake rate), while it waits.
    turn: asyncio.TimerHandle | None = None
    #: True once `Acceptor._upgrade` runs; then the connection's transport, once made.
    started: bool = False
    transport: asyncio.Transport | None = None
    dropped: bool = False


class Acceptor:
    """Listens, admits and hands WebSocket connections to ``handler``; call `start`, later `close`."""

    def __init__(
        self,
        handler: Handler,
        admission: Admission,
        *,
        tls: ssl.SSLContext | None,
        ping_interval: float,
        ping_timeout: float,
        max_size: int,
    ) -> None:
        self._handler = handler
        self.admission = admission
        admission.on_flood_over = self._flood_over
        self._tls = tls
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_size = max_size
        self._loop = asyncio.get_running_loop()
        self._listeners: list[socket.socket] = []
        self._pending: dict[Ticket, _Pending] = {}
        self._connections: set[AdmittedConnection] = set()
        self._tasks: set[asyncio.Future[object]] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._resume: asyncio.TimerHandle | None = None
        self._trim: asyncio.TimerHandle | None = None
        self._serving = False
        #: A descriptor held in reserve, given up to accept one connection when there are none.
        self._spare: int | None = None
        self._accept_errors = Throttle()
        self._shed = Throttle()
        self._late = Throttle()
        self.port = 0

    def is_serving(self) -> bool:
        """True between `start` and `close` (websockets answers 503 to a handshake otherwise)."""
        return self._serving

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (every address ``host`` resolves to; port 0: any free port).

        Returns the port. Raises `OSError` when it cannot listen.
        """
        infos = await self._loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        try:
            for family, proto, address in dict.fromkeys((i[0], i[2], i[4]) for i in infos):
                if self.port:
                    address = (address[0], self.port, *address[2:])
                # With its protocol named (IPPROTO_TCP), asyncio turns Nagle's algorithm off on
                # the accepted sockets; without, every hello waited 40 ms for a delayed ACK.
                listener = socket.socket(family, socket.SOCK_STREAM, proto)
                self._listeners.append(listener)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                listener.bind(address)
                listener.listen(BACKLOG)
                listener.setblocking(False)
                self.port = int(listener.getsockname()[1])
        except BaseException:
            for listener in self._listeners:
                listener.close()
            self._listeners.clear()
            raise
        self._serving = True
        self._listen()
        return self.port

    async def close(self) -> None:
        """Stop listening, drop every pending connection, close open ones with 1001 (going away)."""
        self._serving = False
        self._unlisten()
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        for timer in (self._sweep, self._resume, self._trim):
            if timer is not None:
                timer.cancel()
        for pending in list(self._pending.values()):
            self.admission.release(pending.ticket)
            self._drop(pending)
        if self._connections:
            await asyncio.wait(
                [asyncio.create_task(c.close(CloseCode.GOING_AWAY)) for c in self._connections]
            )
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def run(self, connection: AdmittedConnection) -> None:
        """Run the opening handshake and the handler of a connection whose transport is ready."""
        self.admission.progressed(connection.ticket)
        self._spawn(self._serve(connection))

    # accepting ---------------------------------------------------------------------------

    def _listen(self) -> None:
        self._resume = None
        if self._spare is None:
            self._spare = _open_spare()
        for listener in self._listeners:
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def _unlisten(self) -> None:
        for listener in self._listeners:
            self._loop.remove_reader(listener.fileno())

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _NO_DESCRIPTOR and self._spare is not None:
                    self._accept_with_spare(listener, exc)
                    continue
                self._pause(exc)
                return
            self._admit(sock, peer)

    def _accept_with_spare(self, listener: socket.socket, exc: OSError) -> None:
        """Out of descriptors: accept one connection in the spare's place and judge it.

        From an address that already has a connection waiting, it is closed at once (a flood
        gets no descriptor); from any other, it takes the place of one pending connection
        (`Admission.drop_one`). Either way the kernel's queue keeps moving.
        """
        assert self._spare is not None
        os.close(self._spare)
        self._spare = None
        try:
            sock, peer = listener.accept()
        except OSError:
            pass
        else:
            host = _host(peer)
            if self.admission.waiting_from(address_key(host)):
                sock.close()
                self.admission.shed()
            else:
                victim = self.admission.drop_one()
                if victim is not None:
                    self._drop_ticket(victim)
                self._admit(sock, peer)
        self._spare = _open_spare()  # None until a descriptor is free again (see `_listen`)
        if count := self._accept_errors.hit(self._loop.time()):
            log.warning(
                "out of file descriptors (%s, %d times since the last report): turning away new "
                "connections from addresses already waiting, the others take the place of a "
                "pending one",
                exc,
                count,
            )

    def _pause(self, exc: OSError) -> None:
        self._unlisten()
        self._resume = self._loop.call_later(ACCEPT_PAUSE, self._listen)
        if count := self._accept_errors.hit(self._loop.time()):
            log.warning(
                "cannot accept connections: %s (%d times since the last report); pausing for %g s",
                exc,
                count,
                ACCEPT_PAUSE,
            )

    def _admit(self, sock: socket.socket, peer: object) -> None:
        host = _host(peer)
        ticket, dropped = self.admission.open(address_key(host), self._loop.time())
        for old in dropped:
            self._drop_ticket(old)
        if ticket is None:
            sock.close()
        else:
            pending = _Pending(ticket, sock)
            self._pending[ticket] = pending
            sock.setblocking(False)
            self._wait_for_hello(pending)
            self._arm_sweep()
        if ticket is None or dropped:
            self._report_shed(host, (ticket is None) + len(dropped))

    def _report_shed(self, address: str, count: int = 1) -> None:
        if count := self._shed.hit(self._loop.time(), count):
            log.warning(
                "too many connections waiting (%d pending, %d unauthenticated): %d refused or "
                "dropped since the last report, the latest from %s",
                self.admission.pending,
                self.admission.unauthenticated,
                count,
                address,
            )

    # before TLS: wait for the whole first record -------------------------------------------

    def _wait_for_hello(self, pending: _Pending) -> None:
        pending.want = TLS_HEADER if self._tls is not None else 1
        self._check_hello(pending, woken=False)  # an honest client's is usually there already

    def _check_hello(self, pending: _Pending, woken: bool) -> None:
        """Look at what arrived: start TLS once the first record is whole, else wait for it.

        ``woken``: called because the socket became readable, which with its low-water mark
        at ``pending.want`` means that many bytes arrived or the peer closed.
        """
        try:
            head = pending.sock.recv(pending.want, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            self._await_bytes(pending)
            return
        except OSError:
            self._fail(pending)
            return
        if not head or (woken and len(head) < pending.want):  # the peer closed
            self._fail(pending)
            return
        if len(head) < pending.want:
            self._await_bytes(pending)
            return
        if self._tls is not None and pending.want == TLS_HEADER:
            length = int.from_bytes(head[3:5], "big")
            if head[0] != TLS_HANDSHAKE or length > TLS_MAX_RECORD:
                self._fail(pending)  # not TLS: nothing to negotiate
                return
            pending.want = TLS_HEADER + length
            self._check_hello(pending, woken=False)  # the whole record may be there already
            return
        if pending.reading:
            self._stop_reading(pending)
            _set_low_water(pending.sock, 1)
        self.admission.progressed(pending.ticket)
        delay = self.admission.handshake_delay(pending.ticket, self._loop.time())
        if delay is None:  # its address used up its handshakes for longer than it may wait
            self._drop(pending)
            self._report_shed(pending.ticket.address)
        elif delay:
            pending.turn = self._loop.call_later(delay, self._start, pending)
        else:
            self._start(pending)

    def _await_bytes(self, pending: _Pending) -> None:
        """Be woken when ``pending.want`` bytes are there (or the peer closed)."""
        _set_low_water(pending.sock, pending.want)
        if not pending.reading:
            self._loop.add_reader(pending.sock.fileno(), self._check_hello, pending, True)
            pending.reading = True

    def _start(self, pending: _Pending) -> None:
        pending.turn = None
        pending.started = True
        self._spawn(self._upgrade(pending))

    def _stop_reading(self, pending: _Pending) -> None:
        if pending.reading:
            self._loop.remove_reader(pending.sock.fileno())
            pending.reading = False

    # TLS, then the WebSocket handshake --------------------------------------------------------

    async def _upgrade(self, pending: _Pending) -> None:
        connection = AdmittedConnection(
            ServerProtocol(max_size=self._max_size),
            self,
            pending.ticket,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
        )
        try:
            if self._tls is None:
                pending.transport, _ = await self._loop.connect_accepted_socket(
                    lambda: connection, pending.sock
                )
            else:
                handshake = self._loop.create_future()
                protocol = _TLSProtocol(
                    self._loop,
                    connection,
                    self._tls,
                    handshake,
                    server_side=True,
                    ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
                )
                pending.transport, _ = await self._loop.connect_accepted_socket(
                    lambda: protocol, pending.sock
                )
                if pending.dropped:
                    pending.transport.abort()
                # Waited for, not raised here: a failure's traceback would hold this frame and
                # make a reference cycle of the whole connection, kept until a full collection.
                await asyncio.wait((handshake,))
                if failure := handshake.exception():  # the peer went away, or spoke no TLS
                    log.debug("TLS with %s failed: %r", pending.ticket.address, failure)
                    self._fail(pending)
                    return
        except asyncio.CancelledError:
            self._fail(pending)
            raise
        except OSError as exc:  # asyncio closed its transport if it made one; else the socket is ours
            log.debug("cannot set up the connection from %s: %r", pending.ticket.address, exc)
            self._fail(pending)
            pending.sock.close()
            return
        if pending.dropped:
            pending.transport.abort()

    async def _serve(self, connection: AdmittedConnection) -> None:
        ticket = connection.ticket
        try:
            try:
                await connection.handshake()
            except Exception as exc:  # websockets < 17 raises on a failed handshake
                log.debug("WebSocket handshake with %s failed: %r", ticket.address, exc)
            self._pending.pop(ticket, None)
            if connection.protocol.state is not OPEN:
                connection.transport.abort()
                return
            self._connections.add(connection)
            connection.start_keepalive()
            try:
                await self._handler(connection)
            except Exception:
                log.exception("connection handler failed")
                await connection.close(CloseCode.INTERNAL_ERROR)
            else:
                await connection.close()
        finally:
            self._connections.discard(connection)
            self.admission.release(ticket)

    # dropping -------------------------------------------------------------------------------

    def _drop(self, pending: _Pending) -> None:
        """Close a pending connection whose ticket `Admission` already took out."""
        self._pending.pop(pending.ticket, None)
        pending.dropped = True
        if pending.transport is not None:
            pending.transport.abort()
        elif not pending.started:
            if pending.turn is not None:
                pending.turn.cancel()
            self._stop_reading(pending)
            pending.sock.close()
        # else: `_upgrade` is making its transport and aborts it when it sees ``dropped``

    def _drop_ticket(self, ticket: Ticket) -> None:
        pending = self._pending.get(ticket)
        if pending is not None:
            self._drop(pending)

    def _fail(self, pending: _Pending) -> None:
        """A pending connection failed or closed by itself."""
        self.admission.release(pending.ticket)
        self._drop(pending)

    def _arm_sweep(self) -> None:
        if self._sweep is None:
            deadline = self.admission.next_deadline()
            if deadline is not None:
                self._sweep = self._loop.call_at(deadline, self._on_sweep)

    def _on_sweep(self) -> None:
        self._sweep = None
        late = self.admission.expired(self._loop.time())
        for ticket in late:
            self._drop_ticket(ticket)
        if late and (count := self._late.hit(self._loop.time(), len(late))):
            log.info(
                "dropped %d connections that did not finish their handshakes within %g s",
                count,
                self.admission.limits.handshake_timeout,
            )
        self._arm_sweep()

    def _flood_over(self) -> None:
        # `Admission` says a flood of waiting connections ended: give its memory back to the OS
        # once the last of them are torn down.
        if self._trim is None:
            self._trim = self._loop.call_later(TRIM_DELAY, self._release_memory)

    def _release_memory(self) -> None:
        self._trim = None
        # Closed connections are reference cycles (transports, futures, exceptions) that the
        # hub's lazy collector (see `tune_gc_for_serving`) would keep for minutes: collect first.
        started = time.perf_counter()
        gc.collect()
        self._spawn(self._trim_heap(time.perf_counter() - started))

    async def _trim_heap(self, collect_seconds: float) -> None:
        started = time.perf_counter()
        resident = await asyncio.to_thread(release_memory)
        if resident is not None:
            log.info(
                "a flood of connections is over: resident memory %.0f -> %.0f MB "
                "(collecting took %.0f ms, giving back %.0f ms)",
                *resident,
                collect_seconds * 1000,
                (time.perf_counter() - started) * 1000,
            )

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _host(peer: object) -> str:
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _set_low_water(sock: socket.socket, size: int) -> None:
    """Have ``sock`` polled readable only once ``size`` bytes are there (or it closed)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
