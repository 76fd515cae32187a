"""End-of-session email against a real SMTP server on loopback (aiosmtpd).

A real hub records a short session from a simulated agent; at stop the HTML report is
written to disk, then mailed. A failing server is retried (bounded) and logged; the hub's
stop never waits for it. STARTTLS runs against a server whose certificate for "localhost"
comes from a private CA made here: trusted through ``email.ca_file``, refused otherwise.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smartsession.agent.runner import run_agent
from smartsession.agent.sources import SimulatedSource
from smartsession.config import AgentConfig, Config, EmailConfig, ReportConfig
from smartsession.doctor import FAIL, OK, WARN, Check, check_email
from smartsession.hub import Hub, mailer

from .wsagent import CLASS_ID, machine

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
        #: The TLS version of each delivery's connection (None: plain text).
        self.tls_versions: list[str | None] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return "451 4.3.0 try again later"
        self.envelopes.append(envelope)
        self.tls_versions.append(session.ssl["ssl_object"].version() if session.ssl else None)
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


def make_private_ca(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private CA (its certificate in ``folder/ca.pem``) and a server context it signed for "localhost"."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "School test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(server.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return ca_path, context


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    """An SMTP server that refuses mail before STARTTLS and logins without TLS; yields its CA file."""
    ca_path, context = make_private_ca(tmp_path)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        yield inbox, controller.port, ca_path
    finally:
        controller.stop()


def tls_email(port: int, **settings: Any) -> EmailConfig:
    """Settings for the `tls_smtp` server, reached as "localhost" (STARTTLS on, two attempts)."""
    return EmailConfig(
        **{
            "enabled": True,
            "host": "localhost",
            "port": port,
            "sender": "smartsession@school.example",
            "to": ("teacher@school.example",),
            "attempts": 2,
            "timeout": 5.0,
            **settings,
        }
    )


def small_message(tmp_path: Path, email_config: EmailConfig) -> EmailMessage:
    """A message with a small HTML attachment (for `send_mail` on its own)."""
    attachment = tmp_path / "report.html"
    attachment.write_text("<p>report</p>")
    return mailer.build_message(email_config, "report", "summary", attachment)


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
    agent = asyncio.create_task(
        run_agent(agent_config, machine(secret, "pc-01"), SimulatedSource("mixed", 1, 5.0), stop)
    )
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
    assert f"SmartSession report: {CLASS_ID}" in message["Subject"]
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


async def test_report_mailed_over_starttls_trusting_a_private_ca(
    make_config: Callable[..., Config],
    secret: bytes,
    tmp_path: Path,
    tls_smtp: tuple[Inbox, int, Path],
) -> None:
    inbox, port, ca_path = tls_smtp
    config = with_email(
        make_config(),
        tmp_path,
        host="localhost",
        port=port,
        starttls=True,
        ca_file=ca_path.name,  # relative: resolved against the config file's folder
        user="teacher",
        attempts=1,
        password_file="smtp.password",
    )
    hub = Hub(config, secret)
    await hub.start()
    await hub.stop()
    assert hub.mail_thread is not None
    await asyncio.to_thread(hub.mail_thread.join, 60)
    reports = list((tmp_path / "reports").glob("report-*.html"))
    assert len(reports) == 1
    assert len(inbox.messages) == 1
    assert inbox.tls_versions[0] in ("TLSv1.2", "TLSv1.3")
    assert inbox.envelopes[0].rcpt_tos == ["teacher@school.example"]
    attachments = list(inbox.messages[0].iter_attachments())
    assert [a.get_filename() for a in attachments] == [reports[0].name]
    assert attachments[0].get_payload(decode=True) == reports[0].read_bytes()


def test_starttls_server_refuses_plain_mail(
    tmp_path: Path, tls_smtp: tuple[Inbox, int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port, _ = tls_smtp
    config = tls_email(port, starttls=False, attempts=1)
    assert not mailer.send_mail(config, small_message(tmp_path, config))
    assert "Must issue a STARTTLS command first" in caplog.text
    assert inbox.messages == []


def test_system_trust_store_refuses_a_private_ca(
    tmp_path: Path, tls_smtp: tuple[Inbox, int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port, _ = tls_smtp
    config = tls_email(port)
    pauses: list[float] = []
    assert not mailer.send_mail(config, small_message(tmp_path, config), sleep=pauses.append)
    failures = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert len(failures) == 2
    assert all("certificate verify failed" in failure for failure in failures)
    assert pauses == [mailer.RETRY_FIRST]
    assert inbox.messages == []


def test_host_name_is_checked_even_with_a_trusted_ca(
    tmp_path: Path, tls_smtp: tuple[Inbox, int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port, ca_path = tls_smtp
    config = tls_email(port, host="127.0.0.1", attempts=1)  # the certificate names "localhost"
    assert not mailer.send_mail(config, small_message(tmp_path, config), ca_file=ca_path)
    assert "certificate verify failed: IP address mismatch" in caplog.text
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file or directory"), (b"not a certificate\n", "no certificate or crl found")],
    ids=["missing", "not-pem"],
)
def test_unusable_ca_file_is_a_clear_error(
    tmp_path: Path,
    tls_smtp: tuple[Inbox, int, Path],
    caplog: pytest.LogCaptureFixture,
    content: bytes | None,
    reason: str,
) -> None:
    inbox, port, _ = tls_smtp
    ca_file = tmp_path / "school-ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    config = tls_email(port)
    pauses: list[float] = []
    assert not mailer.send_mail(config, small_message(tmp_path, config), ca_file=ca_file, sleep=pauses.append)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"email.ca_file {ca_file}" in errors[0] and reason in errors[0]
    assert "failed (attempt" not in caplog.text  # no connection is tried
    assert pauses == []
    assert inbox.messages == []


def test_doctor_checks_the_mail_settings_without_sending(tmp_path: Path) -> None:
    """`smartsession doctor`'s email line: what would go wrong is said before a class ends."""
    ca_path, _ = make_private_ca(tmp_path)
    (tmp_path / "not-a-ca.pem").write_text("not a certificate\n")
    base = Config(base_dir=str(tmp_path))

    def check(**settings: Any) -> Check:
        email_settings = {
            "enabled": True,
            "host": "mail.school.example",
            "to": ("t@school.example",),
            **settings,
        }
        return check_email(msgspec.structs.replace(base, email=EmailConfig(**email_settings)))

    assert check_email(base) == Check("report email", OK, "off (email.enabled = false)")
    trusted = check(ca_file=ca_path.name)  # relative to the config file's folder
    assert trusted.status == OK and str(ca_path) in trusted.detail
    assert check().status == OK and "system's trust store" in check().detail
    assert check(starttls=False).status == WARN
    missing = check(ca_file="school-ca.pem")
    assert missing.status == FAIL and f"email.ca_file {tmp_path / 'school-ca.pem'}" in missing.detail
    assert check(ca_file="not-a-ca.pem").status == FAIL
    assert check(to=()).status == FAIL
    assert check(user="teacher").status == FAIL  # a login without a password file
    no_password = check(user="teacher", password_file="smtp.password")
    assert no_password.status == FAIL and "email.password_file" in no_password.detail


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
            run_agent(agent_config, machine(secret, "pc-05"), SimulatedSource("attentive", 2, 5.0), stop)
        )
        await asyncio.sleep(3.0)
        path = await hub.export_report()
        stop.set()
        await asyncio.wait_for(agent, 30)
    assert path.parent == tmp_path / "out"
    text = path.read_text(encoding="utf-8")
    assert "Barbara" in text and hub.session_id in text
