"""Finding the teacher's hub: a zeroconf browser (asyncio API only), or a fixed URL.

``async with HubBrowser(config) as browser:`` then ``browser.candidates()`` for what is known
now, ``await browser.wait_changed(since=browser.version)`` to wait for news, or
``await browser.next_candidate(exclude=...)`` to wait for a usable hub. Adverts are hints
only; the link's proofs decide whether a hub is real. With ``config.agent.hub_url`` set (or
``config.network.discovery`` off) zeroconf is not started and that URL is the only candidate.

A name can carry several adverts at once: while two responders answer for one instance name
(an advert shadowing the real hub's name), every SRV/TXT pair the cache holds for it is a
candidate, not only the latest (see `smartsession.agent.mdns_records`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container
from types import TracebackType
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from smartsession.agent import mdns_records
from smartsession.config import Config
from smartsession.core.discovery import SERVICE_TYPE, Candidate, HubAdvert, parse_advert, txt_properties
from smartsession.core.protocol import PROTOCOL_VERSION
from smartsession.errors import AgentError

logger = logging.getLogger(__name__)

#: How long one resolution of a service may take, in milliseconds.
RESOLVE_TIMEOUT_MS = 3000
#: Most adverts kept for one instance name (each SRV record and address paired with each TXT record).
MAX_ADVERTS_PER_NAME = 8

__all__ = ["MAX_ADVERTS_PER_NAME", "RESOLVE_TIMEOUT_MS", "Candidate", "HubBrowser"]


class HubBrowser:
    """Keeps the current set of hubs of this class; use as an async context manager."""

    def __init__(self, config: Config, *, log_finds: bool = True) -> None:
        """``log_finds``: log each hub found or gone at info (else at debug: a hub watching its rivals)."""
        self._find_level = logging.INFO if log_finds else logging.DEBUG
        self._class_id = config.class_.id
        self._interfaces = list(config.network.interfaces)
        self._fixed = config.agent.hub_url
        if not self._fixed and not config.network.discovery:
            raise ValueError("network.discovery is off and agent.hub_url is not set: no way to find a hub")
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._adverts: dict[str, tuple[HubAdvert, ...]] = {}
        self._generation: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        #: Grows by one whenever the candidates change (see `wait_changed`).
        self.version = 0

    async def __aenter__(self) -> HubBrowser:
        """Start browsing; raises `AgentError` when zeroconf cannot bind the interfaces."""
        if self._fixed:
            logger.info("using the configured hub %s; zeroconf browsing is off", self._fixed)
            return self
        interfaces: Any = self._interfaces or InterfaceChoice.All
        try:
            self._azc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        except OSError as exc:
            where = ", ".join(self._interfaces) or "all IPv4 interfaces"
            raise AgentError(
                f"cannot browse for the hub on {where}: {exc}; check network.interfaces or set agent.hub_url"
            ) from exc
        self._browser = AsyncServiceBrowser(self._azc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        logger.log(
            self._find_level,
            "browsing for %s (class %s) on %s",
            SERVICE_TYPE,
            self._class_id,
            ", ".join(self._interfaces) or "all IPv4 interfaces",
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop browsing: cancel resolutions, then the browser, then zeroconf (reverse order)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._azc is not None:
            await self._azc.async_close()
            self._azc = None

    @property
    def browsing(self) -> bool:
        """Whether hubs come from zeroconf (False: the configured ``agent.hub_url`` only)."""
        return not self._fixed

    def candidates(self) -> list[Candidate]:
        """The hubs known now, most recently seen last."""
        if self._fixed:
            return [Candidate(self._fixed)]
        return [
            Candidate(advert.url, advert, name=name, hub_id=advert.hub_id)
            for name, adverts in self._adverts.items()
            for advert in adverts
        ]

    async def next_candidate(self, exclude: Container[str] = ()) -> Candidate:
        """Wait until a hub whose URL is not in ``exclude`` is known and return it.

        The most recently added or updated advert wins. Wrap in `asyncio.wait_for` to give up.
        """
        while True:
            for candidate in reversed(self.candidates()):
                if candidate.url not in exclude:
                    return candidate
            await self.wait_changed()

    async def wait_changed(self, since: int | None = None) -> int:
        """Wait until the candidates change after `version` was ``since`` (default: now); returns the new version.

        Pass the `version` read together with `candidates` so that no change is missed.
        """
        start = self.version if since is None else since
        while self.version == start:
            self._changed.clear()
            await self._changed.wait()
        return self.version

    # zeroconf side --------------------------------------------------------------------

    def _on_change(
        self, zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Browser handler: never blocks; resolution runs in a task we keep."""
        self._generation[name] = self._generation.get(name, 0) + 1  # older resolutions stand down
        if state_change is ServiceStateChange.Removed:
            for advert in self._adverts.get(name, ()):
                logger.log(self._find_level, "hub %r at %r went away", advert.hub_id, advert.url)
            self._forget(name)
            return
        task = asyncio.get_running_loop().create_task(
            self._resolve(name, self._generation[name]), name=f"resolve {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str, generation: int) -> None:
        azc = self._azc
        if azc is None:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        try:
            found = await info.async_request(azc.zeroconf, RESOLVE_TIMEOUT_MS)
        except Exception:
            logger.exception("could not resolve %r", name)
            return
        if self._generation.get(name) != generation:
            return  # a newer change for this name is being handled
        adverts: list[HubAdvert] = []
        for records in mdns_records.service_records(azc.zeroconf, name) if found else []:
            advert = parse_advert(txt_properties(records.txt), [records.address], records.port)
            if advert is None:
                logger.debug(
                    "ignoring a record of %r: no usable address or TXT (want protocol v%d)",
                    name,
                    PROTOCOL_VERSION,
                )
            elif advert.class_id != self._class_id:
                logger.debug("ignoring hub %r of class %r", advert.hub_id, advert.class_id)
            elif advert not in adverts:
                adverts.append(advert)
        if not adverts:
            self._forget(name)
            return
        known = self._adverts.pop(name, ())  # re-insert: most recently seen last
        self._adverts[name] = tuple(adverts[-MAX_ADVERTS_PER_NAME:])
        for advert in self._adverts[name]:
            if advert not in known:
                logger.log(self._find_level, "found hub %r at %r", advert.hub_id, advert.url)
        self._bump()

    def _forget(self, name: str) -> None:
        if self._adverts.pop(name, None) is not None:
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
