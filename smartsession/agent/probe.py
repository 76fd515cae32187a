"""Can this lab machine reach its hub? Find it as the agent would, join, check the hub's proof, send nothing.

`probe_hub` is ``smartsession doctor``'s look at the network from a lab machine: it
browses (or takes ``agent.hub_url``) for `FIND_SECONDS`, picks the hub every agent of the
class would pick (`smartsession.core.candidates.preference`), opens it, joins with this
machine's key and checks the hub's signature, then closes (1000) without sending a single
sample or event. The hub's hello gives its clock, so the skew is measured on the way.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from dataclasses import dataclass

import websockets

import smartsession
from smartsession.agent.connection import open_hub, peer_fingerprint
from smartsession.agent.discovery import HubBrowser
from smartsession.config import Config
from smartsession.core import protocol
from smartsession.core.candidates import allowed, preference
from smartsession.core.discovery import Candidate
from smartsession.core.protocol import PROTOCOL_VERSION, Error, Hello, Join, Welcome
from smartsession.keys import MachineKey, hub_signature_valid

#: Seconds spent collecting adverts before choosing (adverts come within a few hundred ms).
FIND_SECONDS = 3.0


@dataclass(frozen=True)
class Probe:
    """What the probe found: ``ok`` when a hub passed its proof; ``detail`` one sentence."""

    ok: bool
    detail: str
    hub_id: str = ""
    url: str = ""
    #: The hub's clock minus this machine's (seconds), from its hello; None when no hello came.
    clock_offset: float | None = None


async def find_candidates(config: Config, seconds: float = FIND_SECONDS) -> list[Candidate]:
    """The hubs of this class announced within ``seconds`` (or the configured URL), preferred first."""
    async with HubBrowser(config, log_finds=False) as browser:
        if browser.browsing:
            await asyncio.sleep(seconds)
        found = [c for c in browser.candidates() if allowed(c, config.agent.hub_id)]
    return sorted(found, key=lambda c: preference(c, found))


async def probe_hub(config: Config, key: MachineKey) -> Probe:
    """Find the hub, join it and check its proof; never sends telemetry. See the module docstring."""
    candidates = await find_candidates(config)
    if not candidates:
        where = ", ".join(config.network.interfaces) or "every IPv4 interface"
        return Probe(
            False,
            f"no hub of class {config.class_.id!r} is announced on {where} (is the teacher's hub running, "
            "on this network? otherwise set agent.hub_url)",
        )
    failures = []
    for candidate in candidates:
        probe = await _join(config, key, candidate)
        if probe.ok:
            return probe
        failures.append(probe)
    first = failures[0]
    return Probe(False, first.detail, first.hub_id, first.url, first.clock_offset)


async def _join(config: Config, key: MachineKey, candidate: Candidate) -> Probe:
    url = candidate.url
    if config.network.tls and not url.startswith("wss://"):
        return Probe(False, f"hub at {url} offers no TLS", url=url)
    try:
        async with asyncio.timeout(config.agent.connect_timeout + config.hub.join_timeout):
            ws = await open_hub(url, config.hub)
            try:
                hello = protocol.decode_hub_message(await ws.recv())
                if not isinstance(hello, Hello):
                    return Probe(False, f"{url} did not say hello ({type(hello).__name__})", url=url)
                offset = hello.time - time.time()
                fingerprint = peer_fingerprint(ws)
                nonce = secrets.token_hex(16)
                proof = protocol.agent_proof(key.key, hello.nonce, nonce, key.student_id, fingerprint)
                join = Join(
                    v=PROTOCOL_VERSION,
                    student_id=key.student_id,
                    name=config.display_name[:80],
                    host=(socket.gethostname() or "unknown")[:80],
                    agent_version=smartsession.__version__[:32],
                    nonce=nonce,
                    proof=proof,
                )
                await ws.send(protocol.encode(join))
                reply = protocol.decode_hub_message(await ws.recv())
            finally:
                await ws.close()
    except (OSError, TimeoutError, protocol.ProtocolError, websockets.WebSocketException) as exc:
        return Probe(
            False, f"hub at {url} could not be joined: {exc or type(exc).__name__}", candidate.hub_id, url
        )
    hub = hello.hub_id
    if isinstance(reply, Error):
        detail = f"hub {hub!r} at {url} refused this machine: {reply.code} {reply.message}"
        return Probe(False, detail, hub, url, offset)
    if not isinstance(reply, Welcome):
        return Probe(False, f"hub {hub!r} at {url} broke the protocol", hub, url, offset)
    material = protocol.hub_proof_material(hello.nonce, nonce, key.student_id, fingerprint, reply)
    if not hub_signature_valid(key.hub_public_key, material, reply.proof):
        return Probe(False, f"hub {hub!r} at {url} could not prove it holds the class key", hub, url, offset)
    detail = (
        f"hub {hub!r} at {url} answered and proved the class key; this machine proved "
        f"student {key.student_id!r} (nothing was sent)"
    )
    return Probe(True, detail, hub, url, offset)
