"""Every consumer of domain events, by name: the one table that routes events to handlers,
and the worker's composition root (``mosaic serve`` and ``mosaic worker`` run it).

The name is durable (it keys the consumer's queue, its dead letters and its record of handled
events): renaming a consumer starts it afresh. Names are plain words, valid as queue names on
every bus. Handlers that need a resource (the blob store, the mailer) get the one the
settings configure, as the API process does.
"""

from __future__ import annotations

from mosaic.core.mail import create_mailer
from mosaic.core.settings import Settings
from mosaic.events.audit_trail import append_all_to_audit_log, append_to_audit_log
from mosaic.events.consumer import ALL_EVENT_TYPES, Consumer
from mosaic.media.consumers import make_thumbnails
from mosaic.media.storage import build_blob_store
from mosaic.notifications.consumer import NOTIFIED_EVENT_TYPES, send_notifications

CONSUMER_NAMES = ("audit", "thumbnails", "notifications")


def consumers(settings: Settings) -> dict[str, Consumer]:
    """The consumers of this installation, by name (:data:`CONSUMER_NAMES`)."""
    return {
        "audit": Consumer(
            event_types=frozenset({ALL_EVENT_TYPES}),
            handler=append_to_audit_log,
            batch_handler=append_all_to_audit_log,
        ),
        "thumbnails": Consumer(
            event_types=frozenset({"MediaUploaded"}),
            handler=make_thumbnails(build_blob_store(settings)),
        ),
        # One event per transaction: a mail sent cannot be rolled back with a failed batch.
        "notifications": Consumer(
            event_types=NOTIFIED_EVENT_TYPES,
            handler=send_notifications(create_mailer(settings)),
            batched=False,
        ),
    }
