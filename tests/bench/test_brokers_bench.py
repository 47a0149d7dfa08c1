"""The broker benchmark's report on fixed figures (measuring needs the brokers: `make bench`)."""

from __future__ import annotations

from bench.brokers import Result, markdown
from bench.options import RunOptions
from bench.stats import Measurement


def test_the_section_sets_each_backend_beside_its_raw_client() -> None:
    raw = Measurement(operations=1000, per_second=500.0, p50_ms=10.0, p95_ms=20.0, p99_ms=30.0)
    bus = Measurement(operations=800, per_second=400.0, p50_ms=12.5, p95_ms=25.0, p99_ms=40.0)
    results = [
        Result("RabbitMQ, raw aio-pika", raw),
        Result("RabbitMQ, `RabbitMQBus`", bus, baseline=raw),
        Result("SNS/SQS", None, note="not measured: moto_server did not start"),
    ]

    section = markdown(results, RunOptions(rounds=3, duration_seconds=5.0))

    assert section.startswith("## Event bus backends")
    assert "| RabbitMQ, raw aio-pika | 500 | 10.0 | 20.0 | baseline |" in section
    assert "| RabbitMQ, `RabbitMQBus` | 400 | 12.5 | 25.0 | 0.80x of raw |" in section
    assert "not measured: moto_server did not start" in section
    assert "medians of 3 round(s) of 5 s" in section
