"""Mailers for tests of mail that must leave only after its transaction committed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.mail import MailDeliveryFailed, MailMessage

_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")


class CommitCheckingMailer:
    """Records, for each mail, whether the row its link's token names was already committed
    when it was sent (looked up from another connection, which sees only committed rows)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        row_of: Callable[[str], Select[Any]],
    ) -> None:
        self.sessions = sessions
        self.row_of = row_of
        self.committed_when_sent: list[bool] = []

    async def send(self, message: MailMessage) -> None:
        token = _TOKEN.search(message.body)
        assert token is not None, message.body
        async with self.sessions() as session:
            found = await session.scalar(self.row_of(token.group(1)))
        self.committed_when_sent.append(found is not None)


class BrokenMailer:
    """A mail server that is down."""

    async def send(self, message: MailMessage) -> None:
        raise MailDeliveryFailed("the mail server is down")
