"""The end-of-session email: the summary in the body, the HTML report attached.

`start_session_mail` runs in its own (non-daemon) thread, so `Hub.stop` never waits for it:
it writes the HTML report to the reports folder first, then sends it with `send_mail`,
retrying a failing server a bounded number of times. Failures are logged, never raised.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from smartsession.config import Config, EmailConfig
from smartsession.errors import HubError

log = logging.getLogger(__name__)

#: Pause before the second attempt (seconds); doubled for each further one, at most `RETRY_MAX`.
RETRY_FIRST = 5.0
RETRY_MAX = 60.0


def build_message(email: EmailConfig, subject: str, body: str, attachment: Path) -> EmailMessage:
    """The message: ``body`` as text, ``attachment`` as an HTML file."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = email.sender or (email.user or "smartsession@localhost")
    message["To"] = ", ".join(email.to)
    message.set_content(body)
    message.add_attachment(attachment.read_bytes(), maintype="text", subtype="html", filename=attachment.name)
    return message


def starttls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The TLS context that checks the mail server: against ``ca_file``, else the system's CAs.

    Raises `HubError` naming ``email.ca_file`` when that file is missing or not PEM.
    """
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # ssl.SSLError included: not a PEM certificate
        raise HubError(f"cannot use email.ca_file {ca_file}: {exc}") from exc


def send_mail(
    email: EmailConfig,
    message: EmailMessage,
    *,
    password: str = "",
    ca_file: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Send ``message`` through the configured server, up to ``email.attempts`` times; True if sent.

    With STARTTLS the server's certificate and host name are verified against ``ca_file``
    (``email.ca_file`` resolved), or the system's trust store when it is None.
    """
    context = None
    if email.starttls:
        try:
            context = starttls_context(ca_file)
        except HubError as exc:
            log.error("mail not sent: %s", exc)
            return False
    delay = RETRY_FIRST
    for attempt in range(1, email.attempts + 1):
        try:
            with smtplib.SMTP(email.host, email.port, timeout=email.timeout) as smtp:
                if context is not None:
                    smtp.starttls(context=context)
                if email.user:
                    smtp.login(email.user, password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            more = attempt < email.attempts
            log.warning(
                "mail to %s via %s:%d failed (attempt %d of %d)%s: %r",
                ", ".join(email.to),
                email.host,
                email.port,
                attempt,
                email.attempts,
                f"; retrying in {delay:.0f} s" if more else "; giving up",
                str(exc),  # the server's words, quoted
            )
            if more:
                sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            continue
        log.info("session report mailed to %s", ", ".join(email.to))
        return True
    return False


def read_password(config: Config) -> str:
    """The SMTP password from ``email.password_file`` ("" when none is configured)."""
    if not config.email.password_file:
        return ""
    return config.path(config.email.password_file).read_text(encoding="utf-8").strip()


def mail_session_report(config: Config, session_id: str) -> Path | None:
    """Write the session's HTML report to the reports folder, then mail it; returns the report path.

    Never raises: problems are logged (the report stays on disk even when mail fails).
    """
    from smartsession.report.export import export_report, summary_text

    try:
        path, report = export_report(
            config.database_path,
            session_id,
            "html",
            folder=config.report_folder,
            roster=config.roster.students,
            late_after_minutes=config.report.late_after_minutes,
            settings=config.class_settings,
            label_mode=config.tui.label_mode,
        )
    except Exception:
        log.exception("could not write the report of session %s", session_id)
        return None
    log.info("session report written to %s", path)
    email = config.email
    if not (email.enabled and email.host and email.to):
        return path
    try:
        message = build_message(
            email,
            f"SmartSession report: {report.class_id}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(report.started_at))}",
            summary_text(report),
            path,
        )
        ca_file = config.path(email.ca_file) if email.ca_file else None
        send_mail(email, message, password=read_password(config), ca_file=ca_file)
    except Exception:
        log.exception("could not mail the report %s", path)
    return path


def start_session_mail(config: Config, session_id: str) -> threading.Thread:
    """Run `mail_session_report` in a new thread and return it (join it to wait)."""
    thread = threading.Thread(
        target=mail_session_report, args=(config, session_id), name="smartsession-mailer", daemon=False
    )
    thread.start()
    return thread
