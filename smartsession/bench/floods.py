"""Floods without any secret against a hub, from a process of their own.

``python -m smartsession.bench.floods JOB`` (``JOB`` is a JSON object, see `Job`) prints
``{"ready": true}`` once flooding, floods for ``job.seconds``, closes everything and prints
its `Stats` as one JSON line. Used by ``smartsession bench abuse`` and the hub's tests.

Each connection flood holds ``per_source`` connections open from each of ``sources``
loopback addresses (127.0.0.2, 127.0.0.3, ...: distinct source addresses to the hub) and
opens another whenever the hub closes one, until about ``total`` were opened:

- ``tcp``: TCP connections that never send a byte;
- ``tls``: TLS handshakes that stall after half a ClientHello, or for one worker in
  ``whole_hello_every`` after a whole one (the hub then holds TLS state for it);
- ``ws``: WebSocket connections that read the hello and never join, opened again after each
  close (4408 join timeout, 4503 hub full): the lockout loop;
- ``adverts``: ``per_source`` zeroconf adverts for the class on 127.0.0.1, each pointing at
  a port that accepts and stays silent, plus one under the real hub's instance name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import ssl
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.agent.connection import client_context
from smartsession.core.discovery import SERVICE_TYPE, txt_record
from smartsession.hub.announcer import instance_name

KINDS = ("tcp", "tls", "ws", "adverts")
#: Seconds a flooding WebSocket handshake may take before the flooder gives up on it.
OPEN_TIMEOUT = 10.0


@dataclass
class Job:
    """One flood."""

    kind: str
    host: str = "127.0.0.1"
    port: int = 0
    sources: int = 8
    per_source: int = 32
    total: int = 6000
    seconds: float = 5.0
    #: Seconds between a connection that failed or was closed and the next one from that worker.
    retry_delay: float = 0.005
    #: For ``tls``: one worker in this many sends a whole ClientHello (0: none).
    whole_hello_every: int = 2
    #: For ``adverts``: the class and the real hub's id.
    class_id: str = ""
    hub_id: str = ""


@dataclass
class Stats:
    """What a flood did."""

    kind: str
    opened: int = 0
    failed: int = 0
    closed_by_hub: int = 0
    peak_open: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    open: int = 0

    def up(self) -> None:
        self.opened += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)


def source_address(index: int) -> str:
    """The loopback address flooding worker group ``index`` binds to (never 127.0.0.1)."""
    return f"127.0.{index // 250}.{index % 250 + 2}"


def client_hello() -> bytes:
    """A real TLS ClientHello (one record), as the ssl module sends it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the ServerHello
        tls.do_handshake()
    return outgoing.read()


async def _tcp_worker(job: Job, stats: Stats, source: str, payload: bytes, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < deadline and stats.opened < job.total:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((source, 0))
            await loop.sock_connect(sock, (job.host, job.port))
        except OSError:
            sock.close()
            stats.failed += 1
            await asyncio.sleep(job.retry_delay)
            continue
        stats.up()
        try:
            if payload:
                await loop.sock_sendall(sock, payload)
            async with asyncio.timeout_at(deadline):
                while await loop.sock_recv(sock, 65536):
                    pass  # what the hub answers a whole ClientHello: read and ignore
            stats.closed_by_hub += 1
        except TimeoutError:
            pass
        except OSError:
            stats.closed_by_hub += 1
        finally:
            sock.close()
            stats.open -= 1
        await asyncio.sleep(job.retry_delay)


async def _ws_worker(job: Job, stats: Stats, source: str, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    url = f"wss://{job.host}:{job.port}/"
    codes: collections.Counter[str] = collections.Counter()
    while loop.time() < deadline and stats.opened < job.total:
        try:
            async with asyncio.timeout_at(deadline):
                ws = await connect(
                    url,
                    ssl=client_context(),
                    compression=None,
                    open_timeout=OPEN_TIMEOUT,
                    ping_interval=None,
                    local_addr=(source, 0),
                )
        except TimeoutError:
            break
        except Exception:  # refused before the WebSocket handshake ended
            stats.failed += 1
            await asyncio.sleep(job.retry_delay)
            continue
        stats.up()
        try:
            async with asyncio.timeout_at(deadline):
                async for _ in ws:
                    pass  # the hello, then maybe an error frame: never a join
            stats.closed_by_hub += 1
        except TimeoutError:
            pass
        except Exception:
            stats.closed_by_hub += 1
        finally:
            codes[str(ws.close_code)] += 1
            stats.open -= 1
            await ws.close()
        await asyncio.sleep(job.retry_delay)
    for code, count in codes.items():
        stats.close_codes[code] = stats.close_codes.get(code, 0) + count


async def _adverts(job: Job, stats: Stats, ready: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    held: list[socket.socket] = []
    listeners: list[socket.socket] = []

    def accept(listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            held.append(listener.accept()[0])  # accepted and never answered
            stats.up()

    zc = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        names = [f"{job.class_id}-fake{n:02d}.{SERVICE_TYPE}" for n in range(job.per_source)]
        names.append(instance_name(job.class_id, job.hub_id))
        infos = []
        for n, name in enumerate(names):
            listener = socket.create_server(("127.0.0.1", 0))
            listener.setblocking(False)
            listeners.append(listener)
            loop.add_reader(listener.fileno(), accept, listener)
            infos.append(
                AsyncServiceInfo(
                    SERVICE_TYPE,
                    name,
                    port=listener.getsockname()[1],
                    properties=txt_record(job.class_id, f"fake{n:02d}", tls=True),
                    parsed_addresses=["127.0.0.1"],
                    server=f"{job.class_id}-fake{n:02d}.local.",
                )
            )
        # No probing first (a student shadowing a name does not ask), all announced at once.
        announced = [await zc.async_register_service(i, cooperating_responders=True) for i in infos]
        await asyncio.gather(*announced)
        ready.set()
        await asyncio.sleep(job.seconds)
    finally:
        await zc.async_close()
        for listener in listeners:
            loop.remove_reader(listener.fileno())
            listener.close()
        for sock in held:
            sock.close()


async def flood(job: Job, ready: asyncio.Event) -> Stats:
    """Run ``job`` for ``job.seconds`` once it floods (then ``ready`` is set). Returns what it did."""
    loop = asyncio.get_running_loop()
    stats = Stats(kind=job.kind)
    if job.kind == "adverts":
        await _adverts(job, stats, ready)
        return stats
    deadline = loop.time() + job.seconds
    hello = client_hello()
    workers = []
    for index in range(job.sources):
        source = source_address(index)
        for n in range(job.per_source):
            if job.kind == "ws":
                workers.append(_ws_worker(job, stats, source, deadline))
            else:
                whole = job.whole_hello_every > 0 and n % job.whole_hello_every == 0
                payload = b"" if job.kind == "tcp" else hello if whole else hello[: len(hello) // 2]
                workers.append(_tcp_worker(job, stats, source, payload, deadline))
    ready.set()
    await asyncio.gather(*workers)
    return stats


async def _main(job: Job) -> Stats:
    ready = asyncio.Event()
    task = asyncio.create_task(flood(job, ready))
    await asyncio.wait([task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
    print(json.dumps({"ready": True}), flush=True)
    return await task


def main(argv: list[str]) -> int:
    """Run the flood described by ``argv[0]`` (JSON); print readiness, then the stats."""
    fields: dict[str, Any] = json.loads(argv[0])
    job = Job(**fields)
    if job.kind not in KINDS:
        print(f"unknown flood {job.kind!r}; one of {', '.join(KINDS)}", file=sys.stderr)
        return 2
    stats = asyncio.run(_main(job))
    print(json.dumps(asdict(stats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
