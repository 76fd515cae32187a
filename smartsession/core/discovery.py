"""Zeroconf names and the hub advertisement's TXT record, parsed and validated (pure).

The hub announces `SERVICE_TYPE` with TXT keys below; agents browse for it. TXT is a hint,
never trusted by itself: the WebSocket handshake's proofs decide. ``started`` (when the hub's
session began, epoch seconds) orders the hubs of one class: every agent prefers the one that
started first (`smartsession.core.candidates.preference`), and a hub seeing another one of its
class says so. A `Candidate` is one way to
reach a hub that the agent may try: an advert's URL, a configured URL, or the last good URL
of a pinned hub.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from smartsession.core.protocol import PROTOCOL_VERSION

SERVICE_TYPE = "_smartsession._tcp.local."

TXT_PROTOCOL = "proto"
TXT_CLASS = "class"
TXT_HUB = "hub"
TXT_FINGERPRINT = "fp"
TXT_TLS = "tls"
TXT_STARTED = "started"

# \Z, not $: $ also matches before a trailing newline.
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}\Z")
_STARTED = re.compile(r"^[0-9]{1,11}(\.[0-9]{1,6})?\Z")


@dataclass(frozen=True)
class HubAdvert:
    """A hub as seen through zeroconf: where it is and what it claims to be."""

    class_id: str
    hub_id: str
    protocol: int
    address: str
    port: int
    tls: bool
    fingerprint: str
    #: When the hub's session began (epoch seconds, TXT ``started``); 0.0 when not announced.
    started: float = 0.0

    @property
    def url(self) -> str:
        """The WebSocket URL of this hub."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}/"


@dataclass(frozen=True)
class Candidate:
    """A hub to try: its URL and where the agent learnt it.

    ``advert`` is the advert it came from (``None`` for a configured URL or a remembered one),
    ``name`` the zeroconf instance name it was announced under, ``hub_id`` the hub it claims
    to be ("" when unknown). Two candidates with any field different are different
    candidates: a changed advert is a new candidate.
    """

    url: str
    advert: HubAdvert | None = None
    name: str = ""
    hub_id: str = ""


def txt_record(
    class_id: str, hub_id: str, *, tls: bool, fingerprint: str = "", started: float = 0.0
) -> dict[str, str]:
    """The TXT properties a hub announces (``started``: when its session began, 0 = not said)."""
    record = {
        TXT_PROTOCOL: str(PROTOCOL_VERSION),
        TXT_CLASS: class_id,
        TXT_HUB: hub_id,
        TXT_TLS: "1" if tls else "0",
    }
    if fingerprint:
        record[TXT_FINGERPRINT] = fingerprint
    if started > 0:
        record[TXT_STARTED] = f"{started:.3f}"
    return record


def _started(text: str) -> float:
    """TXT ``started`` as epoch seconds; 0.0 when absent or not a plain positive number."""
    if not _STARTED.match(text):
        return 0.0
    value = float(text)
    return value if 0.0 < value < 1e11 else 0.0


def txt_properties(raw: bytes) -> dict[bytes, bytes | None]:
    """Decode TXT record data (length-prefixed ``key=value`` strings); the first of a repeated key wins.

    A truncated string ends the decoding; a string without ``=`` is a key with no value.
    """
    properties: dict[bytes, bytes | None] = {}
    offset = 0
    while offset < len(raw):
        length = raw[offset]
        entry = raw[offset + 1 : offset + 1 + length]
        offset += 1 + length
        if len(entry) < length:
            break
        key, equals, value = entry.partition(b"=")
        if key and key not in properties:
            properties[key] = value if equals else None
    return properties


def parse_advert(
    properties: Mapping[bytes, bytes | None], addresses: list[str], port: int | None
) -> HubAdvert | None:
    """Turn a resolved service into a `HubAdvert`, or ``None`` when it is unusable.

    Prefers an IPv4 address. Bad or missing TXT entries, an unknown protocol version or no
    address give ``None``.
    """
    txt: dict[str, str] = {}
    for key, value in properties.items():
        try:
            txt[key.decode("ascii")] = (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            continue
    class_id = txt.get(TXT_CLASS, "")
    hub_id = txt.get(TXT_HUB, "")
    fingerprint = txt.get(TXT_FINGERPRINT, "")
    try:
        protocol = int(txt.get(TXT_PROTOCOL, ""))
    except ValueError:
        return None
    if protocol != PROTOCOL_VERSION or not _IDENT.match(class_id) or not _IDENT.match(hub_id):
        return None
    if fingerprint and not _FINGERPRINT.match(fingerprint):
        return None
    if not addresses or port is None or not 0 < port < 65536:
        return None
    ipv4 = [a for a in addresses if ":" not in a]
    address = (ipv4 or addresses)[0]
    return HubAdvert(
        class_id=class_id,
        hub_id=hub_id,
        protocol=protocol,
        address=address,
        port=port,
        tls=txt.get(TXT_TLS) == "1",
        fingerprint=fingerprint,
        started=_started(txt.get(TXT_STARTED, "")),
    )
