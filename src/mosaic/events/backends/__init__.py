"""Bus backends: implementations of :class:`mosaic.events.bus.Bus` (see docs/event-backends.md)."""
