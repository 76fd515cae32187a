"""Announce the hub on the LAN through zeroconf (DNS-SD), with the asyncio API only.

`Announcer.start` registers ``<class_id>-<hub_id>._smartsession._tcp.local.`` with the TXT
record from `smartsession.core.discovery.txt_record`; `Announcer.stop` sends goodbyes and
closes zeroconf. Liveness comes from the WebSocket, not from mDNS: a crashed hub lingers in
browsers' caches.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

import ifaddr
from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.core.discovery import SERVICE_TYPE, txt_record

log = logging.getLogger(__name__)

#: Longest DNS label, in bytes (the service instance name is one label).
_MAX_LABEL = 63


def instance_name(class_id: str, hub_id: str) -> str:
    """The full service instance name of a hub (instance label cut to 63 bytes)."""
    label = f"{class_id}-{hub_id}".encode()[:_MAX_LABEL].decode("utf-8", errors="ignore")
    return f"{label}.{SERVICE_TYPE}"


def host_ipv4_addresses() -> list[str]:
    """This host's non-loopback IPv4 addresses (``["127.0.0.1"]`` when there is none)."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                address = ipaddress.IPv4Address(ip.ip)
                if not address.is_loopback and not address.is_link_local and str(address) not in found:
                    found.append(str(address))
    return found or ["127.0.0.1"]


class Announcer:
    """Advertises one hub; call `start` once the port is bound, `stop` on shutdown.

    ``interfaces``: addresses to announce on; empty means every IPv4 interface.
    """

    def __init__(
        self,
        *,
        class_id: str,
        hub_id: str,
        port: int,
        interfaces: Sequence[str] = (),
        tls: bool = False,
        fingerprint: str = "",
        started: float = 0.0,
    ) -> None:
        self.class_id = class_id
        self.hub_id = hub_id
        self.port = port
        self.interfaces = tuple(interfaces)
        self.tls = tls
        self.fingerprint = fingerprint
        #: When the hub's session began (TXT ``started``: agents prefer the hub that started first).
        self.started = started
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    @property
    def name(self) -> str:
        """The registered instance name (zeroconf may have changed it to avoid a clash)."""
        if self._info is not None:
            return str(self._info.name)
        return instance_name(self.class_id, self.hub_id)

    @property
    def addresses(self) -> list[str]:
        """The addresses announced."""
        return list(self.interfaces) if self.interfaces else host_ipv4_addresses()

    async def start(self) -> None:
        """Register the service and wait until it is announced."""
        if self.interfaces:
            zc = AsyncZeroconf(interfaces=list(self.interfaces))
        else:
            zc = AsyncZeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            instance_name(self.class_id, self.hub_id),
            port=self.port,
            properties=txt_record(
                self.class_id, self.hub_id, tls=self.tls, fingerprint=self.fingerprint, started=self.started
            ),
            parsed_addresses=self.addresses,
        )
        try:
            await (await zc.async_register_service(info, allow_name_change=True))
        except BaseException:
            await zc.async_close()
            raise
        self._zc, self._info = zc, info
        log.info("announcing %s on port %d at %s", info.name, self.port, ", ".join(self.addresses))

    async def stop(self) -> None:
        """Send goodbyes (unregister), then close zeroconf."""
        zc, info = self._zc, self._info
        self._zc = self._info = None
        if zc is None:
            return
        try:
            if info is not None:
                await (await zc.async_unregister_service(info))
        except Exception:
            log.exception("zeroconf unregister failed")
        finally:
            await zc.async_close()
        log.info("stopped announcing")
