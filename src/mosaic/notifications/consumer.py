"""The notifications consumer: which events mail someone, and through which mailer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.mail import Mailer
from mosaic.events.bus import Envelope
from mosaic.events.consumer import Handler
from mosaic.notifications.handlers import NOTIFIED_EVENT_TYPES, notify

__all__ = ["NOTIFIED_EVENT_TYPES", "send_notifications"]


def send_notifications(mailer: Mailer) -> Handler:
    """The handler mailing whoever each notified event concerns, through ``mailer``."""

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        await notify(session, envelope, mailer)

    return handle
