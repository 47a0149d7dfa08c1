"""The stories benchmark's pure parts: the closed-loop load and the report section."""

from __future__ import annotations

import asyncio

from bench.stats import Measurement
from bench.stories import NAME, StoryFigures, closed_loop, markdown


async def test_the_closed_loop_counts_calls_and_failures() -> None:
    calls: list[int] = []

    async def operation(client: int) -> None:
        calls.append(client)
        await asyncio.sleep(0.01)
        if client == 0 and len(calls) % 2 == 0:
            raise RuntimeError("an error answer")

    measured = await closed_loop(operation, clients=3, seconds=0.2)

    assert set(calls) == {0, 1, 2}
    assert measured.operations + measured.errors == len(calls)
    assert measured.errors > 0
    assert 10 <= measured.p50_ms <= measured.p95_ms <= measured.p99_ms
    assert measured.per_second > 0


def test_the_report_section_has_a_row_per_path() -> None:
    def figures(rate: float) -> Measurement:
        return Measurement(operations=100, per_second=rate, p50_ms=2.0, p95_ms=5.0, p99_ms=9.0)

    section = markdown(
        StoryFigures(
            list_api=figures(200),
            list_raw=figures(2000),
            create_api=figures(100),
            create_raw=figures(500),
            clients=50,
            seconds=10,
            rounds=3,
        )
    )

    assert NAME == "stories"
    assert section.startswith("## Stories")
    assert "| list a page of 20 (`GET /stories?legacy_id=`), API | 200 | 2.0 ms | 5.0 ms | 0 |" in (
        section
    )
    assert "the raw list is 10.0 times the API's rate" in section
    assert section.count("\n| ") == 6  # header, rule, four rows
