"""Frame-level helpers of the hub's server: sizes, the first frame, refusals, peers.

Each function works on one connection and knows nothing of the class: `check_size` and
`decode_join` turn a bad frame into the `ProtocolError` to close with, `refuse` sends the
`Error` and closes, `peer_of` names the other end for the log.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from smartsession.core.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    CloseCode,
    Error,
    Join,
    ProtocolError,
    decode_agent_message,
    encode,
)

#: How long closing a refused (or replaced) connection may take before it is dropped.
REPLACE_CLOSE_TIMEOUT = 5.0


class _VersionPeek(msgspec.Struct):
    """Enough of a frame to tell a join from a newer protocol version."""

    type: str = ""
    v: int = -1


#: Frames of at most this many characters are under `MAX_FRAME_BYTES` even in UTF-8.
SURELY_SMALL = MAX_FRAME_BYTES // 4


def check_size(frame: str | bytes) -> None:
    """Refuse a frame over `MAX_FRAME_BYTES` (in UTF-8 bytes) with 4413."""
    size = len(frame)
    if size > SURELY_SMALL and isinstance(frame, str):
        size = len(frame.encode("utf-8", errors="replace"))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(CloseCode.TOO_BIG, f"frame of {size} bytes is over the {MAX_FRAME_BYTES} limit")


def decode_join(frame: str | bytes) -> Join:
    """The first agent frame as a `Join`, or `ProtocolError` (4402 for another protocol version)."""
    try:
        message = decode_agent_message(frame)
    except ProtocolError:
        if isinstance(frame, str):
            try:
                peek = msgspec.json.decode(frame, type=_VersionPeek)
            except (msgspec.DecodeError, msgspec.ValidationError):
                peek = None
            if peek is not None and peek.type == "join" and peek.v != PROTOCOL_VERSION:
                raise _bad_version(peek.v) from None
        raise
    if not isinstance(message, Join):
        raise ProtocolError(CloseCode.MALFORMED, "expected a join first")
    if message.v != PROTOCOL_VERSION:
        raise _bad_version(message.v)
    return message


def _bad_version(v: int) -> ProtocolError:
    message = f"protocol version {v} not supported (hub speaks {PROTOCOL_VERSION})"
    return ProtocolError(CloseCode.BAD_VERSION, message)


async def refuse(ws: ServerConnection, code: int, message: str) -> None:
    """Send an `Error` frame, then close with ``code``; quiet if the connection is gone."""
    try:
        await ws.send(encode(Error(code=code, message=message[:160])))
    except ConnectionClosed:
        return
    # Keep reading (and dropping) what the peer still sends, so that its close frame is not
    # stuck behind a full receive queue (a flooding agent would otherwise delay the close).
    drain = asyncio.create_task(_drain(ws))
    try:
        async with asyncio.timeout(REPLACE_CLOSE_TIMEOUT):
            await ws.close(code, message.encode()[:120].decode(errors="ignore"))
    except TimeoutError:
        pass
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


async def _drain(ws: ServerConnection) -> None:
    """Discard incoming frames until the connection closes (never while another reader reads)."""
    with contextlib.suppress(Exception):
        while True:
            await ws.recv()


def peer_of(ws: ServerConnection) -> str:
    """The other end's address (host only) for the log."""
    address = ws.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)
