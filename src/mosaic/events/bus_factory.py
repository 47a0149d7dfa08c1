"""Builds the configured bus (``MOSAIC_EVENTS_BUS``): the one place that names the backends."""

from __future__ import annotations

import importlib

from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import ConfigurationError, EventBusKind, Settings
from mosaic.events.bus import Bus

# Module and class of each backend, imported only when chosen: a broker's client library is
# then needed only where that broker is used.
BACKENDS: dict[EventBusKind, tuple[str, str]] = {
    EventBusKind.POSTGRES: ("mosaic.events.backends.postgres", "PostgresBus"),
    EventBusKind.RABBITMQ: ("mosaic.events.backends.rabbitmq", "RabbitMQBus"),
    EventBusKind.SNS_SQS: ("mosaic.events.backends.sns_sqs", "SnsSqsBus"),
}


def create_bus(settings: Settings, database: DatabaseLocation) -> Bus:
    """The bus ``settings.events.bus`` names, not yet started."""
    kind = EventBusKind(settings.events.bus)
    module_name, class_name = BACKENDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"MOSAIC_EVENTS_BUS={kind.value}: this installation has no {kind.value} backend "
            f"({exc.name} cannot be imported)"
        ) from exc
    backend = getattr(module, class_name)
    bus: Bus = backend.from_settings(settings, database)
    return bus
