"""One connection to a hub, below the protocol: TLS without a CA, the certificate seen, the first
frame within one deadline, and what a failed attempt counts as.

`open_hub` does TCP, TLS, the WebSocket upgrade and waits for the hub's first frame (its
hello), so one deadline covers all of them; `peer_fingerprint` is what the proofs bind;
`classify_failure` turns an attempt's exception into an `Outcome` for the candidate policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event

import smartsession
from smartsession.config import HubConfig
from smartsession.core import protocol
from smartsession.core.candidates import Outcome
from smartsession.core.protocol import MAX_FRAME_BYTES, Hello, ProtocolError


class HubConnection(ClientConnection):
    """A client connection that shows the hub's first frame (its hello) as soon as it arrives.

    The frame is not consumed: ``recv`` still returns it. This lets one deadline cover TCP,
    TLS, the WebSocket upgrade and the hello (`open_hub`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The payload of the first text or binary frame; ``b""`` when the connection ended first.
        self.first_frame: asyncio.Future[bytes] = self.loop.create_future()

    def process_event(self, event: Event) -> None:
        """Process one incoming event (websockets' hook), noting the first data frame."""
        super().process_event(event)
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES and not self.first_frame.done():
            self.first_frame.set_result(bytes(event.data))

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport closed (asyncio's hook): no first frame is coming any more."""
        super().connection_lost(exc)
        if not self.first_frame.done():
            self.first_frame.set_result(b"")


async def open_hub(url: str, hub: HubConfig) -> HubConnection:
    """TCP, TLS, the WebSocket upgrade and the hub's first frame; call within a deadline.

    The first frame stays unread (for `Link._join`). On failure or cancellation nothing stays open.
    """
    ws = await connect(
        url,
        ssl=client_context() if url.startswith("wss://") else None,
        compression=None,
        max_size=MAX_FRAME_BYTES,
        proxy=None,
        open_timeout=None,  # the caller's deadline covers the hello too
        ping_interval=hub.ping_interval,
        ping_timeout=hub.ping_timeout,
        close_timeout=2.0,
        user_agent_header=f"smartsession-agent/{smartsession.__version__}",
        create_connection=HubConnection,
    )
    assert isinstance(ws, HubConnection)
    try:
        await ws.first_frame
    except BaseException:
        ws.transport.abort()  # silent: no closing handshake to wait for
        raise
    return ws


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


def hello_hub_id(frame: bytes) -> str:
    """The hub id a hub's first frame claims ("" when it is not a valid `Hello`)."""
    try:
        hello = protocol.decode_hub_message(frame.decode("utf-8", errors="replace"))
    except ProtocolError:
        return ""
    return hello.hub_id if isinstance(hello, Hello) else ""


def classify_failure(exc: Exception, *, opened: bool, join_timeout: float) -> tuple[Outcome, str]:
    """How an attempt that raised ``exc`` counts, and why (``opened``: the hub had said hello)."""
    if isinstance(exc, ProtocolError):
        return Outcome.FAILED, f"broke the protocol: {exc.message}"
    if isinstance(exc, websockets.ConnectionClosed):
        rcvd = exc.rcvd
        return Outcome.DECLINED, "closed the connection" + (
            f" (code {rcvd.code}: {rcvd.reason})" if rcvd else ""
        )
    if isinstance(exc, TimeoutError):
        return Outcome.FAILED, f"did not finish the join within {join_timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.UNREACHABLE, "refused the connection"
    if isinstance(exc, ssl.SSLEOFError | ConnectionError):  # reset: nobody at home (yet)
        return (Outcome.DECLINED if opened else Outcome.UNREACHABLE), f"dropped the connection ({exc})"
    if isinstance(exc, ssl.SSLError):
        return Outcome.FAILED, f"failed the TLS handshake ({exc})"
    if isinstance(exc, OSError):
        return (Outcome.DECLINED if opened else Outcome.UNREACHABLE), f"cannot be reached ({exc})"
    return Outcome.FAILED, f"is not a SmartSession hub ({exc})"
