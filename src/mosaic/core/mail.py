"""Outgoing mail: a small port (``Mailer``), a development adapter that writes files, SMTP.

``FolderMailer`` writes each message as an ``.eml`` file (RFC 5322, openable in any mail
client) into a folder; ``SmtpMailer`` hands it to an SMTP server (STARTTLS, TLS from the start,
or plain for a local relay). ``create_mailer`` picks one from ``MOSAIC_MAIL_BACKEND``.
Messages may carry secrets (a password-reset link), so nothing here logs a message's content
or recipient, and the SMTP password never leaves its ``SecretStr`` but to log in.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from uuid import uuid4

import aiosmtplib
import structlog
from pydantic import SecretStr

from mosaic.core.settings import MailBackend, Settings, SmtpSecurity

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MailMessage:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Delivers messages; an implementation decides how (a folder, SMTP, ...)."""

    async def send(self, message: MailMessage) -> None: ...


class MailDeliveryFailed(Exception):
    """The mail server refused the message or could not be reached (retry later)."""


async def send_after_commit(mailer: Mailer, message: MailMessage, *, about: str) -> None:
    """Send a request's mail as a background task, once its transaction has committed.

    The answer has already gone out, so a failure is logged (``mail_failed``, with ``about``:
    what the mail was for, never its content or recipient) rather than raised.
    """
    try:
        await mailer.send(message)
    except Exception:
        logger.exception("mail_failed", about=about)


def render(message: MailMessage, *, sender: str) -> EmailMessage:
    """The RFC 5322 message, with its date and a fresh Message-ID."""
    rendered = EmailMessage()
    rendered["From"] = sender
    rendered["To"] = message.to
    rendered["Subject"] = message.subject
    rendered["Date"] = format_datetime(datetime.now(UTC))
    rendered["Message-ID"] = make_msgid(domain="mosaic.local")
    rendered.set_content(message.body)
    return rendered


@dataclass(frozen=True)
class FolderMailer:
    """Writes every message as an ``.eml`` file into ``directory`` (for development)."""

    directory: Path
    sender: str = "Mosaic <no-reply@localhost>"

    async def send(self, message: MailMessage) -> None:
        """Write the message as ``<UTC time>-<random>.eml``."""
        await asyncio.to_thread(self._write, render(message, sender=self.sender))

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid4().hex[:8]}.eml"
        path = self.directory / name
        # Written under a temporary name and renamed, so a reader never sees half a message;
        # 0600 because a message may hold a secret link.
        partial = path.with_suffix(".part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
        partial.replace(path)


@dataclass(frozen=True)
class SmtpMailer:
    """Sends each message over its own SMTP connection (aiosmtplib).

    A connection per message keeps the mailer stateless: notifications are few, and a
    server that drops idle connections cannot leave a broken one behind.
    """

    host: str
    port: int = 587
    sender: str = "Mosaic <no-reply@localhost>"
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout_seconds: float = 30.0
    # None: the system's trusted CAs. Tests pass a context trusting their own certificate.
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)

    async def send(self, message: MailMessage) -> None:
        """Deliver one message; raises :class:`MailDeliveryFailed` when it was not accepted."""
        try:
            await aiosmtplib.send(
                render(message, sender=self.sender),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                use_tls=self.security is SmtpSecurity.SSL,
                start_tls=self.security is SmtpSecurity.STARTTLS,
                tls_context=self.tls_context,
                timeout=self.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The server's reply code and text only: never the recipient or the credentials.
            raise MailDeliveryFailed(
                f"SMTP delivery via {self.host}:{self.port} failed: {_reason(exc)}"
            ) from None


def create_mailer(settings: Settings) -> Mailer:
    """The mailer ``MOSAIC_MAIL_BACKEND`` names: a folder (default) or SMTP."""
    mail = settings.mail
    if mail.mail_backend is MailBackend.SMTP:
        assert mail.smtp_host is not None  # the settings refuse smtp without a host
        return SmtpMailer(
            host=mail.smtp_host,
            port=mail.smtp_port,
            sender=mail.mail_from,
            security=mail.smtp_security,
            username=mail.smtp_username,
            password=mail.smtp_password,
            timeout_seconds=mail.smtp_timeout_seconds,
        )
    return FolderMailer(settings.mail_dir, sender=mail.mail_from)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return type(exc).__name__
