"""Bus backends, one module each; ``mosaic.events.bus_factory`` picks the configured one."""
