"""Zeroconf announcement on loopback only, seen by a real browser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from smartsession.config import Config
from smartsession.core.discovery import SERVICE_TYPE, HubAdvert, parse_advert
from smartsession.hub import Hub
from smartsession.hub.announcer import Announcer, instance_name

from .wsagent import CLASS_ID, eventually


class Watcher:
    """Records what a browser on 127.0.0.1 sees of our service type."""

    def __init__(self, zc: AsyncZeroconf) -> None:
        self.zc = zc
        self.adverts: dict[str, HubAdvert] = {}
        self.removed: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def on_change(
        self, zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            self.removed.add(name)
            self.adverts.pop(name, None)
        else:
            task = asyncio.create_task(self.resolve(service_type, name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def resolve(self, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if await info.async_request(self.zc.zeroconf, 3000):
            advert = parse_advert(info.properties, info.parsed_addresses(), info.port)
            if advert is not None:
                self.adverts[name] = advert


async def test_announcer_is_seen_then_says_goodbye() -> None:
    zc = AsyncZeroconf(interfaces=["127.0.0.1"])
    watcher = Watcher(zc)
    browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, handlers=[watcher.on_change])
    try:
        announcer = Announcer(class_id=CLASS_ID, hub_id="room12", port=45678, interfaces=["127.0.0.1"])
        await announcer.start()
        name = announcer.name
        assert name == instance_name(CLASS_ID, "room12") == f"{CLASS_ID}-room12.{SERVICE_TYPE}"
        await eventually(lambda: name in watcher.adverts)
        advert = watcher.adverts[name]
        assert (advert.class_id, advert.hub_id, advert.port) == (CLASS_ID, "room12", 45678)
        assert advert.address == "127.0.0.1"
        assert not advert.tls and advert.fingerprint == ""
        assert advert.url == "ws://127.0.0.1:45678/"

        await announcer.stop()
        await eventually(lambda: name in watcher.removed)
        await announcer.stop()  # idempotent
    finally:
        await browser.async_cancel()
        await zc.async_close()


async def test_hub_announces_its_bound_port(make_config: Callable[..., Config], secret: bytes) -> None:
    zc = AsyncZeroconf(interfaces=["127.0.0.1"])
    watcher = Watcher(zc)
    browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, handlers=[watcher.on_change])
    try:
        hub = Hub(make_config(discovery=True), secret)
        await hub.start()
        name = instance_name(CLASS_ID, "testhub")
        await eventually(lambda: name in watcher.adverts)
        assert watcher.adverts[name].port == hub.port
        assert watcher.adverts[name].url == hub.url
        await hub.stop()
        await eventually(lambda: name in watcher.removed)
    finally:
        await browser.async_cancel()
        await zc.async_close()


def test_long_ids_fit_one_dns_label() -> None:
    name = instance_name("c" * 64, "h" * 64)
    label = name.removesuffix("." + SERVICE_TYPE)
    assert len(label.encode()) == 63
