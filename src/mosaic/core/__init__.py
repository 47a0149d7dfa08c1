"""The platform kit: settings, database, ids, errors, pagination, logging, metrics, tracing."""
