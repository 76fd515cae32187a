"""The one place that reads zeroconf's record cache directly.

`AsyncServiceInfo` resolves a service name to one SRV/TXT pair: the latest in the cache. When
two responders answer one question for a name (an advert that shadows the real hub's name),
the cache holds both, and `service_records` returns every combination instead. A record that
a newer announcement for its name superseded (RFC 6762 10.2: its TTL is cut to 1 s) is left
out, so a hub that moved to another port is seen at its new port only.

This uses zeroconf's record classes and constants, which its package does not export: kept
here so a zeroconf upgrade has one module to check.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from zeroconf import Zeroconf, current_time_millis
from zeroconf._dns import DNSAddress, DNSRecord, DNSService, DNSText
from zeroconf.const import _CLASS_IN, _TYPE_A, _TYPE_SRV, _TYPE_TXT

#: The TTL zeroconf gives a cached record that a newer announcement for its name superseded.
_SUPERSEDED_TTL = 1


@dataclass(frozen=True)
class ServiceRecords:
    """One way a name resolves: an SRV record's port, one IPv4 address of its host, one TXT record's data."""

    port: int
    address: str
    txt: bytes


def service_records(zc: Zeroconf, name: str) -> list[ServiceRecords]:
    """Every current SRV x address x TXT combination cached for ``name``, oldest SRV first (IPv4 only)."""
    now = current_time_millis()

    def live(key: str, type_: int) -> list[DNSRecord]:
        records = zc.cache.async_all_by_details(key, type_, _CLASS_IN)
        return [r for r in records if r.ttl > _SUPERSEDED_TTL and not r.is_expired(now)]

    texts = [r.text for r in live(name, _TYPE_TXT) if isinstance(r, DNSText)]
    found: list[ServiceRecords] = []
    for srv in live(name, _TYPE_SRV):
        if not isinstance(srv, DNSService):
            continue
        addresses = [
            socket.inet_ntoa(a.address)
            for a in live(srv.server, _TYPE_A)
            if isinstance(a, DNSAddress) and len(a.address) == 4
        ]
        found += [ServiceRecords(srv.port, address, text) for address in addresses for text in texts]
    return found
