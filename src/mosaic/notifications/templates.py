"""The notification mails, as small plain-text functions.

Each says only what its recipient may already see in Mosaic: names as shown to members, a
legacy's name, a story's title. Never an email address of someone else, a token, or a note
written for moderators.
"""

from __future__ import annotations

import re

from mosaic.core.mail import MailMessage
from mosaic.models import FlagReason

_SIGNATURE = "\n-- \nMosaic. You receive this because of your role in this community.\n"
_WHITESPACE = re.compile(r"\s+")
_REASONS = {
    FlagReason.SPAM: "spam",
    FlagReason.ABUSE: "abusive content",
    FlagReason.PRIVACY: "a privacy concern",
    FlagReason.INACCURATE: "inaccurate content",
    FlagReason.OTHER: "another reason",
}


def member_requested(*, to: str, owner: str, requester: str, legacy: str) -> MailMessage:
    return MailMessage(
        to=to,
        subject=f"{_line(requester)} asks to join {_line(legacy)}",
        body=(
            f"Hello {_line(owner)},\n\n"
            f"{_line(requester)} asked to join the legacy \u201c{_line(legacy)}\u201d.\n"
            "As one of its owners you can approve or decline the request on the legacy's "
            "members page.\n" + _SIGNATURE
        ),
    )


def member_joined(*, to: str, member: str, legacy: str) -> MailMessage:
    return MailMessage(
        to=to,
        subject=f"Welcome to {_line(legacy)}",
        body=(
            f"Hello {_line(member)},\n\n"
            f"You are now a member of the legacy \u201c{_line(legacy)}\u201d. You can read its "
            "stories and, depending on your role, add your own memories.\n" + _SIGNATURE
        ),
    )


def story_flagged(
    *, to: str, moderator: str, story: str, legacy: str, reason: FlagReason
) -> MailMessage:
    return MailMessage(
        to=to,
        subject=f"A story in {_line(legacy)} was flagged for review",
        body=(
            f"Hello {_line(moderator)},\n\n"
            f"The story \u201c{_line(story)}\u201d in the legacy \u201c{_line(legacy)}\u201d "
            f"was flagged for {_REASONS[reason]}.\n"
            "Please review it in the moderation queue: keep it as it is, or hide it.\n" + _SIGNATURE
        ),
    )


def _line(text: str) -> str:
    """One line, whatever a user typed: a name can never add a header or forge a paragraph."""
    return _WHITESPACE.sub(" ", text).strip()[:200]
