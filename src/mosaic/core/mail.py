"""Outgoing mail: a small port (``Mailer``) and a development adapter that writes files.

``FolderMailer`` writes each message as an ``.eml`` file (RFC 5322, openable in any mail
client) into a folder; SMTP delivery arrives with the notifications module. Messages may carry
secrets (a password-reset link), so nothing here logs a message's content or recipient.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from uuid import uuid4


@dataclass(frozen=True)
class MailMessage:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Delivers messages; an implementation decides how (a folder, SMTP, ...)."""

    async def send(self, message: MailMessage) -> None: ...


@dataclass(frozen=True)
class FolderMailer:
    """Writes every message as an ``.eml`` file into ``directory`` (for development)."""

    directory: Path
    sender: str = "Mosaic <no-reply@localhost>"

    async def send(self, message: MailMessage) -> None:
        """Write the message as ``<UTC time>-<random>.eml``."""
        await asyncio.to_thread(self._write, self._render(message))

    def _render(self, message: MailMessage) -> EmailMessage:
        rendered = EmailMessage()
        rendered["From"] = self.sender
        rendered["To"] = message.to
        rendered["Subject"] = message.subject
        rendered["Date"] = format_datetime(datetime.now(UTC))
        rendered["Message-ID"] = make_msgid(domain="mosaic.local")
        rendered.set_content(message.body)
        return rendered

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
