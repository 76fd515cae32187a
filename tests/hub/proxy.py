"""TCP relays for tests: a pausable one (a hub that stops answering) and a TLS-terminating one
(a man in the middle with its own certificate)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl


class Relay:
    """Relays every connection on its port to ``target_port``; `pause` stops moving bytes.

    With ``tls`` it terminates TLS with that context and opens TLS (``upstream_tls``) to the
    target: a man in the middle that can read and relay every frame.
    """

    def __init__(
        self,
        target_port: int,
        *,
        tls: ssl.SSLContext | None = None,
        upstream_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target_port = target_port
        self._tls = tls
        self._upstream_tls = upstream_tls
        self._running = asyncio.Event()
        self._running.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self.connections = 0

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def pause(self) -> None:
        """Stop relaying (connections stay open, bytes wait): the far side seems hung."""
        self._running.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port, ssl=self._upstream_tls
        )
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError, ssl.SSLError):
            while True:
                data = await src.read(65536)
                await self._running.wait()
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()
