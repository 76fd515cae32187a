"""Finding the teacher's hub: a zeroconf browser (asyncio API only), or a fixed URL.

``async with HubBrowser(config) as browser:`` then ``browser.candidates()`` for what is known
now, or ``await browser.next_candidate(exclude=...)`` to wait for a usable hub. Adverts are
hints only; the link's proofs decide whether a hub is real. With ``config.agent.hub_url``
set (or ``config.network.discovery`` off) zeroconf is not started and that URL is the
only candidate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from smartsession.config import Config
from smartsession.core.discovery import SERVICE_TYPE, HubAdvert, parse_advert
from smartsession.core.protocol import PROTOCOL_VERSION
from smartsession.errors import AgentError

logger = logging.getLogger(__name__)

#: How long one resolution of a service may take, in milliseconds.
RESOLVE_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class Candidate:
    """A hub to try: its URL and the advert it came from (``None`` for a configured URL)."""

    url: str
    advert: HubAdvert | None = None


class HubBrowser:
    """Keeps the current set of hubs of this class; use as an async context manager."""

    def __init__(self, config: Config) -> None:
        self._class_id = config.class_.id
        self._interfaces = list(config.network.interfaces)
        self._fixed = config.agent.hub_url
        if not self._fixed and not config.network.discovery:
            raise ValueError("network.discovery is off and agent.hub_url is not set: no way to find a hub")
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._adverts: dict[str, HubAdvert] = {}
        self._generation: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

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
        logger.info(
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

    def candidates(self) -> list[Candidate]:
        """The hubs known now, most recently seen last."""
        if self._fixed:
            return [Candidate(self._fixed)]
        return [Candidate(advert.url, advert) for advert in self._adverts.values()]

    async def next_candidate(self, exclude: Container[str] = ()) -> Candidate:
        """Wait until a hub whose URL is not in ``exclude`` is known and return it.

        The most recently added or updated advert wins. Wrap in `asyncio.wait_for` to give up.
        """
        while True:
            for candidate in reversed(self.candidates()):
                if candidate.url not in exclude:
                    return candidate
            self._changed.clear()
            await self._changed.wait()

    async def wait_changed(self) -> None:
        """Wait until the set of candidates changes."""
        self._changed.clear()
        await self._changed.wait()

    # zeroconf side --------------------------------------------------------------------

    def _on_change(
        self, zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Browser handler: never blocks; resolution runs in a task we keep."""
        self._generation[name] = self._generation.get(name, 0) + 1
        if state_change is ServiceStateChange.Removed:
            advert = self._adverts.pop(name, None)
            if advert is not None:
                logger.info("hub %r at %r went away", advert.hub_id, advert.url)
                self._changed.set()
            return
        task = asyncio.get_running_loop().create_task(
            self._resolve(service_type, name, self._generation[name]), name=f"resolve {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str, generation: int) -> None:
        azc = self._azc
        if azc is None:
            return
        info = AsyncServiceInfo(service_type, name)
        try:
            found = await info.async_request(azc.zeroconf, RESOLVE_TIMEOUT_MS)
        except Exception:
            logger.exception("could not resolve %r", name)
            return
        if self._generation.get(name) != generation:
            return  # a newer change for this name is being handled
        advert = parse_advert(info.properties, info.parsed_addresses(), info.port) if found else None
        if advert is None:
            logger.debug("ignoring %r: no usable address or TXT (want protocol v%d)", name, PROTOCOL_VERSION)
            self._forget(name)
            return
        if advert.class_id != self._class_id:
            logger.debug("ignoring hub %r of class %r", advert.hub_id, advert.class_id)
            self._forget(name)
            return
        if self._adverts.get(name) != advert:
            logger.info("found hub %r at %r", advert.hub_id, advert.url)
        self._adverts.pop(name, None)  # re-insert: most recently seen last
        self._adverts[name] = advert
        self._changed.set()

    def _forget(self, name: str) -> None:
        if self._adverts.pop(name, None) is not None:
            self._changed.set()
