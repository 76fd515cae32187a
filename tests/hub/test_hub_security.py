"""A link a school can trust: TLS bound into the proofs, limits with close codes, no secret in
logs, storage failures survived, and liveness from pings."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from smartsession.agent.connection import client_context
from smartsession.agent.link import Link, LinkState
from smartsession.agent.outbox import Outbox
from smartsession.config import AgentConfig, Config
from smartsession.core.discovery import SERVICE_TYPE, txt_record
from smartsession.core.limits import TokenBucket
from smartsession.core.protocol import CloseCode, Hello, Sample
from smartsession.core.states import State
from smartsession.errors import HubError
from smartsession.hub import Hub
from smartsession.hub.tls import load_or_create, server_context

from .proxy import Relay
from .wsagent import CLASS_ID, eventually, expect_refusal, join_agent, machine, open_ws, recv, sample

TIMEOUT = 15.0


def agent_config(hub_config: Config, url: str, student_id: str = "pc-01", **network: object) -> Config:
    return msgspec.structs.replace(
        hub_config,
        network=msgspec.structs.replace(hub_config.network, **network),
        agent=AgentConfig(student_id=student_id, hub_url=url, reconnect_initial=0.05, reconnect_max=0.2),
    )


def produce(outbox: Outbox, link: Link, n: int) -> None:
    for _ in range(n):
        seq = outbox.next_seq
        outbox.add(
            Sample(seq=seq, ts=time.time(), state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1)
        )
    link.wake()


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# the certificate ------------------------------------------------------------------------


def test_certificate_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "tls", "hub1")
    assert stat.S_IMODE(os.stat(first.key_path).st_mode) == 0o600
    assert len(first.fingerprint) == 64
    again = load_or_create(tmp_path / "tls", "hub1")
    assert again.fingerprint == first.fingerprint
    assert load_or_create(tmp_path / "other", "hub1").fingerprint != first.fingerprint


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    cert = load_or_create(tmp_path, "hub1")
    os.chmod(cert.key_path, 0o644)
    with pytest.raises(HubError, match="chmod 600"):
        load_or_create(tmp_path, "hub1")


async def test_hub_serves_tls_with_the_advertised_fingerprint(hub: Hub, secret: bytes) -> None:
    assert hub.url.startswith("wss://")
    assert hub.fingerprint == load_or_create(Path(hub.store.path).parent, "x").fingerprint
    agent = await join_agent(hub.url, secret, "alice")  # proofs bound to the certificate seen
    status = hub.status()
    assert status.tls and status.url == hub.url and status.session_id == hub.session_id
    assert status.connected == 1 and status.storage_ok
    await agent.close()


async def test_insecure_hub_is_plain_ws_and_says_so(
    make_config: Callable[..., Config], secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config()
    config = msgspec.structs.replace(config, network=msgspec.structs.replace(config.network, tls=False))
    with caplog.at_level(logging.WARNING):
        async with Hub(config, secret) as hub:
            assert hub.url.startswith("ws://") and not hub.status().tls and hub.fingerprint == ""
            agent = await join_agent(hub.url, secret, "alice")
            await agent.close()
    assert "INSECURE" in caplog.text


async def test_agent_refuses_plain_ws_unless_insecure(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    config = make_config()
    config = msgspec.structs.replace(config, network=msgspec.structs.replace(config.network, tls=False))
    async with Hub(config, secret) as hub:
        outbox = Outbox(600.0)
        link = Link(agent_config(config, hub.url, tls=True), machine(secret), outbox)
        produce(outbox, link, 2)
        task = asyncio.create_task(link.run())
        await asyncio.sleep(0.5)
        assert link.attempts == 0 and hub.connected == []
        await stop(task)


# a man in the middle ----------------------------------------------------------------------


async def test_man_in_the_middle_with_another_certificate_cannot_authenticate(
    hub: Hub, secret: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A relay that terminates TLS with its own certificate and forwards every frame fails both ways."""
    mitm_cert = load_or_create(tmp_path / "mitm", "mitm")
    assert mitm_cert.fingerprint != hub.fingerprint
    relay = Relay(hub.port, tls=server_context(mitm_cert), upstream_tls=client_context())
    async with relay:
        outbox = Outbox(600.0)
        url = f"wss://127.0.0.1:{relay.port}/"
        link = Link(agent_config(hub.config, url), machine(secret), outbox)
        produce(outbox, link, 3)
        with caplog.at_level(logging.INFO):
            task = asyncio.create_task(link.run())
            # The hub refuses the relayed proof (4401): the agent backs off instead of retrying.
            await eventually(
                lambda: relay.connections >= 1 and "refused this machine's key" in caplog.text, TIMEOUT
            )
            await stop(task)
    assert link.connections == 0 and len(outbox) == 3  # nothing was sent as telemetry
    assert hub.students() == [] and await hub.store.last_seq("pc-01") == 0
    assert "bad proof" in caplog.text


async def test_advertised_fingerprint_must_match_the_certificate(
    make_config: Callable[..., Config], secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with Hub(make_config(), secret) as hub:
        zc = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:
            info = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{CLASS_ID}-liar.{SERVICE_TYPE}",
                port=hub.port,
                properties=txt_record(CLASS_ID, "liar", tls=True, fingerprint="ab" * 32),
                parsed_addresses=["127.0.0.1"],
                server=f"{CLASS_ID}-liar.local.",
            )
            await (await zc.async_register_service(info, cooperating_responders=True))
            outbox = Outbox(600.0)
            link = Link(agent_config(hub.config, "", discovery=True), machine(secret), outbox)
            produce(outbox, link, 1)
            with caplog.at_level(logging.WARNING):
                task = asyncio.create_task(link.run())
                await eventually(lambda: link.bad_hubs >= 1, TIMEOUT)
                await stop(task)
        finally:
            await zc.async_close()
    assert link.connections == 0 and "refusing it" in caplog.text


# limits -----------------------------------------------------------------------------------


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]


async def test_rate_limit_closes_with_4429(make_config: Callable[..., Config], secret: bytes) -> None:
    async with Hub(make_config(max_items_per_second=5.0, item_burst=10), secret) as hub:
        bystander = await join_agent(hub.url, secret, "bob")
        flooder = await join_agent(hub.url, secret, "eve")
        for seq in range(1, 40):
            await flooder.send(sample(seq))
        error, code = await expect_refusal(flooder.ws)
        assert code == CloseCode.RATE_LIMITED and error is not None and error.code == 4429
        await bystander.send(sample(1))
        await bystander.wait_ack(1)
        assert await hub.store.last_seq("eve") <= 11
        await bystander.close()


async def test_unauthenticated_connections_are_capped(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    async with Hub(make_config(max_unauthenticated=2), secret) as hub:
        # From three addresses, each with nothing else waiting (see test_hub_admission.py for
        # the per-address limits and the slots kept for such addresses).
        idle = [await open_ws(hub.url, local_addr=(f"127.0.0.{n}", 0)) for n in (2, 3)]
        for ws in idle:
            assert isinstance(await recv(ws), Hello)
        extra = await open_ws(hub.url, local_addr=("127.0.0.4", 0))
        error, code = await expect_refusal(extra)
        assert code == CloseCode.HUB_FULL and error is not None
        for ws in idle:
            await ws.close()
        await eventually(lambda: hub._server is not None and hub._server.admission.unauthenticated == 0)
        agent = await join_agent(hub.url, secret, "alice")  # room again
        await agent.close()


# nothing secret in logs -------------------------------------------------------------------


async def test_secret_never_appears_in_logs(
    hub: Hub, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = bytes(reversed(secret))
    with caplog.at_level(logging.DEBUG):
        for key, student in ((wrong, "mallory"), (secret, "alice")):
            outbox = Outbox(600.0)
            link = Link(agent_config(hub.config, hub.url, student), machine(key, student), outbox)
            produce(outbox, link, 2)
            task = asyncio.create_task(link.run())
            if key == secret:
                await eventually(lambda outbox=outbox: len(outbox) == 0, TIMEOUT)  # type: ignore[misc]
            else:
                await eventually(lambda: "bad proof" in caplog.text, TIMEOUT)
            await stop(task)
    text = caplog.text.lower()
    assert "joined hub" in text
    for key in (secret, wrong):
        assert key.hex() not in text and key.hex().upper() not in caplog.text


# storage failure ----------------------------------------------------------------------------


async def test_full_disk_is_a_status_error_and_the_agent_keeps_its_outbox(hub: Hub, secret: bytes) -> None:
    outbox = Outbox(600.0)
    link = Link(agent_config(hub.config, hub.url), machine(secret), outbox)
    produce(outbox, link, 3)
    task = asyncio.create_task(link.run())
    try:
        await eventually(lambda: len(outbox) == 0, TIMEOUT)
        pages = await hub.store.call(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
        await hub.store.call(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))  # "disk full"
        produce(outbox, link, 200)
        await eventually(lambda: not hub.status().storage_ok, TIMEOUT)
        assert "full" in hub.status().storage_error
        await asyncio.sleep(0.5)
        assert len(outbox) == 200  # nothing acked while nothing is committed
        await hub.store.call(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
        await eventually(lambda: len(outbox) == 0, TIMEOUT)
        assert hub.status().storage_ok
    finally:
        await stop(task)
    assert await hub.store.seqs("pc-01") == list(range(1, 204))


# liveness ---------------------------------------------------------------------------------


async def test_hung_hub_is_noticed_by_pings_and_the_agent_moves_on(
    make_config: Callable[..., Config], secret: bytes
) -> None:
    ping_interval, ping_timeout = 0.5, 1.0
    config = make_config(ping_interval=ping_interval, ping_timeout=ping_timeout)
    async with Hub(config, secret) as hub, Relay(hub.port) as relay:
        zc = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:

            async def advertise(name: str, port: int, started: float) -> None:
                info = AsyncServiceInfo(
                    SERVICE_TYPE,
                    f"{CLASS_ID}-{name}.{SERVICE_TYPE}",
                    port=port,
                    properties=txt_record(
                        CLASS_ID, name, tls=True, fingerprint=hub.fingerprint, started=started
                    ),
                    parsed_addresses=["127.0.0.1"],
                    server=f"{CLASS_ID}-{name}.local.",
                )
                await (await zc.async_register_service(info, cooperating_responders=True))

            # The direct advert says it started later: the agent stays with the relay (the
            # one-class-one-hub rule) until the relay hangs.
            await advertise("via-relay", relay.port, started=1_000_000.0)
            outbox = Outbox(600.0)
            link = Link(agent_config(config, "", discovery=True), machine(secret), outbox)
            produce(outbox, link, 3)
            task = asyncio.create_task(link.run())
            try:
                await eventually(
                    lambda: len(outbox) == 0 and link.hub_url.endswith(f":{relay.port}/"), TIMEOUT
                )
                await advertise("direct", hub.port, started=2_000_000.0)
                relay.pause()
                loop = asyncio.get_running_loop()
                paused_at = loop.time()
                await eventually(lambda: link.state is not LinkState.STREAMING, TIMEOUT)
                noticed = loop.time() - paused_at
                assert noticed <= ping_interval + ping_timeout + 3.0, noticed
                produce(outbox, link, 3)
                await eventually(lambda: len(outbox) == 0 and link.hub_url.endswith(f":{hub.port}/"), TIMEOUT)
            finally:
                await stop(task)
        finally:
            await zc.async_close()
    assert link.connections >= 2
    async with Hub(config, secret) as again:
        assert await again.store.seqs("pc-01") == [1, 2, 3, 4, 5, 6]
