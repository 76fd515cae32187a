"""End-of-session email against a real SMTP server on loopback (aiosmtpd).

A real hub records a short session from a simulated agent; at stop the HTML report is
written to disk, then mailed. A failing server is retried (bounded) and logged; the hub's
stop never waits for it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from smartsession.agent.runner import run_agent
from smartsession.agent.sources import SimulatedSource
from smartsession.config import AgentConfig, Config, EmailConfig, ReportConfig
from smartsession.hub import Hub, mailer

RECORD_SECONDS = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping what it receives; the first ``fail_first`` DATA commands get a 451."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return "451 4.3.0 try again later"
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"teacher"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def with_email(config: Config, tmp_path: Path, **email_settings: Any) -> Config:
    password = tmp_path / "smtp.password"
    password.write_text("s3cret\n")
    os.chmod(password, 0o600)
    settings = {
        "enabled": True,
        "host": "127.0.0.1",
        "starttls": False,
        "sender": "smartsession@school.example",
        "to": ("teacher@school.example",),
        "timeout": 5.0,
        **email_settings,
    }
    return msgspec.structs.replace(
        config,
        email=EmailConfig(**settings),
        report=ReportConfig(folder=str(tmp_path / "reports")),
        base_dir=str(tmp_path),
    )


async def record_and_stop(config: Config, secret: bytes) -> tuple[Hub, float]:
    """Run a hub with one simulated agent for a few seconds; returns the hub and how long stop took."""
    stop = asyncio.Event()
    hub = Hub(config, secret)
    await hub.start()
    agent_config = msgspec.structs.replace(
        config,
        network=msgspec.structs.replace(config.network, discovery=True),
        agent=AgentConfig(student_id="pc-01", display_name="Ada"),
    )
    agent = asyncio.create_task(run_agent(agent_config, secret, SimulatedSource("mixed", 1, 5.0), stop))
    await asyncio.sleep(RECORD_SECONDS)
    stop.set()
    await asyncio.wait_for(agent, 30)
    began = time.monotonic()
    await hub.stop()
    return hub, time.monotonic() - began


async def test_report_mailed_with_attachment_intact(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    config = with_email(
        make_config(discovery=True), tmp_path, port=port, user="teacher", password_file="smtp.password"
    )
    hub, _ = await record_and_stop(config, secret)
    assert hub.mail_thread is not None
    await asyncio.to_thread(hub.mail_thread.join, 60)
    assert not hub.mail_thread.is_alive()
    reports = list((tmp_path / "reports").glob("report-*.html"))
    assert len(reports) == 1
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert inbox.envelopes[0].rcpt_tos == ["teacher@school.example"]
    assert "SmartSession report: cs101" in message["Subject"]
    body = message.get_body(("plain",))
    assert body is not None and "Present: 1" in body.get_content() and "not verdicts" in body.get_content()
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [reports[0].name]
    assert attachments[0].get_content_type() == "text/html"
    assert attachments[0].get_payload(decode=True) == reports[0].read_bytes()
    assert b"Ada" in reports[0].read_bytes()


async def test_failing_server_is_retried_then_logged_and_stop_does_not_wait(
    make_config: Callable[..., Config],
    secret: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(mailer, "RETRY_FIRST", 1.0)
    config = with_email(
        make_config(discovery=True), tmp_path, port=free_port(), attempts=3
    )  # nothing listens
    caplog.set_level(logging.INFO, logger="smartsession.hub.mailer")
    hub, stop_seconds = await record_and_stop(config, secret)
    assert stop_seconds < 2.0  # three attempts take >= 3 s: stop did not wait for them
    assert hub.mail_thread is not None
    await asyncio.to_thread(hub.mail_thread.join, 60)
    failures = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert len(failures) == 3
    assert "giving up" in failures[-1]
    assert len(list((tmp_path / "reports").glob("report-*.html"))) == 1  # the report stayed on disk


async def test_temporary_failure_is_retried_and_delivered(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailer, "RETRY_FIRST", 0.2)
    inbox = Inbox(fail_first=1)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = with_email(make_config(discovery=True), tmp_path, port=controller.port)
        hub, _ = await record_and_stop(config, secret)
        assert hub.mail_thread is not None
        await asyncio.to_thread(hub.mail_thread.join, 60)
    finally:
        controller.stop()
    assert inbox.attempts == 2
    assert len(inbox.messages) == 1


async def test_export_report_while_the_class_runs(
    make_config: Callable[..., Config], secret: bytes, tmp_path: Path
) -> None:
    config = msgspec.structs.replace(
        make_config(discovery=True), report=ReportConfig(folder=str(tmp_path / "out")), base_dir=str(tmp_path)
    )
    stop = asyncio.Event()
    async with Hub(config, secret) as hub:
        agent_config = msgspec.structs.replace(
            config, agent=AgentConfig(student_id="pc-05", display_name="Barbara")
        )
        agent = asyncio.create_task(
            run_agent(agent_config, secret, SimulatedSource("attentive", 2, 5.0), stop)
        )
        await asyncio.sleep(3.0)
        path = await hub.export_report()
        stop.set()
        await asyncio.wait_for(agent, 30)
    assert path.parent == tmp_path / "out"
    text = path.read_text(encoding="utf-8")
    assert "Barbara" in text and hub.session_id in text
