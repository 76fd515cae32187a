"""Hub discovery against real zeroconf on 127.0.0.1 (never all interfaces)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.agent.discovery import Candidate, HubBrowser
from smartsession.config import AgentConfig, ClassConfig, Config, NetworkConfig
from smartsession.core.discovery import SERVICE_TYPE, txt_record
from smartsession.errors import AgentError

TIMEOUT = 10.0
#: Class ids (and so advert names) of this test run: two runs on one machine must not meet.
CLASS, OTHER = f"physics{os.getpid()}", f"chemistry{os.getpid()}"


def make_config(class_id: str = CLASS, hub_url: str = "") -> Config:
    return Config(
        class_=ClassConfig(id=class_id),
        network=NetworkConfig(interfaces=("127.0.0.1",)),
        agent=AgentConfig(hub_url=hub_url),
    )


@pytest.fixture
async def zc() -> AsyncIterator[AsyncZeroconf]:
    azc = AsyncZeroconf(interfaces=["127.0.0.1"])
    yield azc
    await azc.async_close()


def service(name: str, port: int, properties: dict[str, str] | dict[bytes, bytes]) -> AsyncServiceInfo:
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        port=port,
        properties=properties,
        parsed_addresses=["127.0.0.1"],
        server=f"{name}.local.",
    )


async def register(zc: AsyncZeroconf, info: AsyncServiceInfo) -> None:
    # cooperating_responders: skip the conflict probe (the names are unique here); faster tests
    await (await zc.async_register_service(info, cooperating_responders=True))


async def until(browser: HubBrowser, predicate: object) -> list[Candidate]:
    assert callable(predicate)
    async with asyncio.timeout(TIMEOUT):
        while not predicate(browser.candidates()):
            await browser.wait_changed()
    return browser.candidates()


async def test_finds_hub_of_its_class_only(zc: AsyncZeroconf) -> None:
    other = service(f"{OTHER}-hub1", 4001, txt_record(OTHER, "hub1", tls=False))
    bad_txt = service(f"{CLASS}-junk", 4002, {b"proto": b"1", b"class": CLASS.encode(), b"hub": b"bad id!"})
    mine = service(f"{CLASS}-hub2", 4003, txt_record(CLASS, "hub2", tls=False))
    async with HubBrowser(make_config()) as browser:
        await asyncio.gather(*(register(zc, info) for info in (other, bad_txt, mine)))
        async with asyncio.timeout(TIMEOUT):
            candidate = await browser.next_candidate()
        assert candidate.url == "ws://127.0.0.1:4003/"
        assert candidate.advert is not None and candidate.advert.hub_id == "hub2"
        # give the ignored ones a moment to have been resolved, then check they stayed out
        await asyncio.sleep(0.3)
        assert [c.url for c in browser.candidates()] == ["ws://127.0.0.1:4003/"]
        await zc.async_unregister_service(mine)
        await until(browser, lambda cs: not cs)


async def test_exclude_waits_for_another_hub(zc: AsyncZeroconf) -> None:
    async with HubBrowser(make_config()) as browser:
        await register(zc, service(f"{CLASS}-a", 4011, txt_record(CLASS, "a", tls=False)))
        await until(browser, lambda cs: len(cs) == 1)
        waiter = asyncio.create_task(browser.next_candidate(exclude={"ws://127.0.0.1:4011/"}))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await register(zc, service(f"{CLASS}-b", 4012, txt_record(CLASS, "b", tls=False)))
        async with asyncio.timeout(TIMEOUT):
            candidate = await waiter
        assert candidate.url == "ws://127.0.0.1:4012/"


def newest_is(url: str) -> Callable[[list[Candidate]], bool]:
    # Within a second of the first announcement both ports are current (RFC 6762 10.2: only
    # records older than a second are superseded), so the old one may still be listed.
    return lambda cs: bool(cs) and cs[-1].url == url


async def test_new_port_is_found(zc: AsyncZeroconf) -> None:
    info = service(f"{CLASS}-hub", 4021, txt_record(CLASS, "hub", tls=False))
    async with HubBrowser(make_config()) as browser:
        await register(zc, info)
        await until(browser, lambda cs: [c.url for c in cs] == ["ws://127.0.0.1:4021/"])
        moved = service(f"{CLASS}-hub", 4022, txt_record(CLASS, "hub", tls=False))
        await (await zc.async_update_service(moved))
        await until(browser, newest_is("ws://127.0.0.1:4022/"))


async def test_restart_without_goodbye_on_new_port() -> None:
    """A hub that crashed (no goodbye) and came back on another port replaces the old advert."""
    async with HubBrowser(make_config()) as browser:
        first = AsyncZeroconf(interfaces=["127.0.0.1"])
        await register(first, service(f"{CLASS}-hub", 4031, txt_record(CLASS, "hub", tls=False)))
        await until(browser, lambda cs: [c.url for c in cs] == ["ws://127.0.0.1:4031/"])
        # crash: close the sockets without sending goodbyes
        await first.zeroconf._async_close()
        second = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:
            await register(second, service(f"{CLASS}-hub", 4032, txt_record(CLASS, "hub", tls=False)))
            await until(browser, newest_is("ws://127.0.0.1:4032/"))
        finally:
            await second.async_close()


async def test_configured_url_skips_zeroconf() -> None:
    async with HubBrowser(make_config(hub_url="ws://10.9.8.7:9000/")) as browser:
        assert browser._azc is None
        async with asyncio.timeout(1):
            candidate = await browser.next_candidate()
        assert candidate == Candidate("ws://10.9.8.7:9000/")


async def test_unusable_interface_is_an_agent_error() -> None:
    config = msgspec.structs.replace(make_config(), network=NetworkConfig(interfaces=("192.0.2.123",)))
    with pytest.raises(AgentError, match=r"192\.0\.2\.123"):
        async with HubBrowser(config):
            pass


async def test_an_advert_under_the_same_name_does_not_hide_the_first(zc: AsyncZeroconf) -> None:
    """Two responders announcing one instance name: both adverts stay candidates (the cache
    holds both; zeroconf's ServiceInfo alone would show only the latest)."""
    name = f"{CLASS}-real"
    async with HubBrowser(make_config()) as browser:
        await register(zc, service(name, 4041, txt_record(CLASS, "real", tls=False)))
        await until(browser, lambda cs: [c.url for c in cs] == ["ws://127.0.0.1:4041/"])
        attacker = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:
            shadow = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{name}.{SERVICE_TYPE}",
                port=4042,
                properties=txt_record(CLASS, "real", tls=False),
                parsed_addresses=["127.0.0.1"],
                server="attacker.local.",
            )
            await register(attacker, shadow)
            found = await until(browser, lambda cs: len(cs) == 2)
        finally:
            await attacker.async_close()
    assert [c.url for c in found] == ["ws://127.0.0.1:4041/", "ws://127.0.0.1:4042/"]
    assert {c.name for c in found} == {f"{name}.{SERVICE_TYPE}"}
