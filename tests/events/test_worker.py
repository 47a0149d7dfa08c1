"""The consumer runtime over every bus: effects, idempotency, retries, dead letters, replays.

Each test runs on each backend (``BUS_BACKENDS``), so it only observes what every backend
shows: handler effects, the dead letters the worker keeps in PostgreSQL, and the worker's
outcome counter; a consumer is subscribed before anything is sent to it (a broker drops what
is routed to a queue that does not exist yet).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.database import DatabaseLocation, bind_tenant
from mosaic.core.settings import EventsSettings, Settings
from mosaic.events import dead_letters, record
from mosaic.events.bus import Bus, Envelope
from mosaic.events.consumer import Consumer
from mosaic.events.relay import Relay
from mosaic.events.replay import replay_since
from mosaic.models import EventDeadLetter
from tests.events.backends.conftest import BusHarness
from tests.events.conftest import (
    OtherThingHappened,
    Outcomes,
    Sessions,
    StartWorker,
    ThingHappened,
    apply_effect,
    consumer_name,
    effect_counts,
    effect_handler,
    emit,
    eventually,
    labels,
)

THINGS = frozenset({ThingHappened.type_name()})


def envelope(
    label: str, *, event_type: str = "ThingHappened", tenant: UUID | None = None
) -> Envelope:
    return Envelope(
        id=str(uuid4()),
        type=event_type,
        version=1,
        occurred_at=datetime.now(UTC),
        tenant_id=str(tenant or uuid4()),
        actor_id="test",
        resource_kind="thing",
        resource_id=str(uuid4()),
        correlation_id=None,
        traceparent=None,
        payload={"label": label},
        position=0,
    )


async def dead_letters_of(owner_sessions: Sessions, consumer: str) -> list[EventDeadLetter]:
    async with owner_sessions() as session:
        rows = await session.execute(
            select(EventDeadLetter).where(EventDeadLetter.consumer == consumer)
        )
        return list(rows.scalars())


async def subscribed(bus: Bus, consumer: str) -> str:
    """``consumer``'s queue exists (receiving THINGS), so what is sent to it stays there."""
    await bus.subscribe(consumer, THINGS)
    return consumer


async def test_a_write_reaches_the_consumer_in_a_transaction_bound_to_its_tenant(
    bus: Bus,
    location: DatabaseLocation,
    app_sessions: Sessions,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = consumer_name()
    tenant = uuid4()
    prefix = uuid4().hex[:8]
    relay = Relay(location.owner_url, bus)
    stop = asyncio.Event()
    consumers = {consumer: Consumer(THINGS, effect_handler(consumer))}
    async with start_worker(consumers):
        relaying = asyncio.create_task(relay.run(stop))
        # The write: the application role, its tenant bound, the event in its transaction.
        async with app_sessions() as session, session.begin():
            await bind_tenant(session, tenant)
            for label in labels(prefix, 3):
                await record(
                    session,
                    ThingHappened(tenant_id=tenant, resource_id=uuid4(), label=label),
                    actor_id="u",
                )

        async def applied() -> bool:
            # Only this test's labels: the relay also publishes what earlier tests left pending.
            counts = await effect_counts(owner_sessions, consumer)
            return sorted(label for label in counts if label.startswith(prefix)) == labels(
                prefix, 3
            )

        await eventually(applied)
        stop.set()
        await relaying

    async with owner_sessions() as session:
        bound = await session.scalars(
            text(
                "SELECT DISTINCT bound_tenant FROM test_event_effects "
                "WHERE consumer = :c AND label LIKE :p"
            ),
            {"c": consumer, "p": f"{prefix}-%"},
        )
        assert list(bound) == [str(tenant)]


async def test_a_duplicate_delivery_is_applied_once(
    bus: Bus,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = await subscribed(bus, consumer_name())
    once = envelope("twice")
    await bus.publish_to(consumer, [once, once])
    consumers = {consumer: Consumer(THINGS, effect_handler(consumer))}
    outcomes = Outcomes()
    async with start_worker(consumers, metrics=outcomes.metrics):

        async def both_settled() -> bool:
            return outcomes.count(consumer, "duplicate") == 1

        await eventually(both_settled)

    assert outcomes.count(consumer, "handled") == 1
    assert await effect_counts(owner_sessions, consumer) == {"twice": 1}


async def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered(
    bus: Bus,
    owner_sessions: Sessions,
    events_settings: EventsSettings,
    start_worker: StartWorker,
) -> None:
    consumer = consumer_name()
    attempts: list[float] = []

    async def failing(session: AsyncSession, _: Envelope) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("the search index is down")

    await bus.publish_to(await subscribed(bus, consumer), [envelope("doomed")])
    outcomes = Outcomes()
    async with start_worker({consumer: Consumer(THINGS, failing)}, metrics=outcomes.metrics):

        async def dead() -> bool:
            # Counted once the bus has taken it off the live queue too.
            return outcomes.count(consumer, "dead_lettered") == 1

        await eventually(dead)

    [letter] = await dead_letters_of(owner_sessions, consumer)
    assert letter.attempts == events_settings.max_attempts == len(attempts)
    assert "RuntimeError: the search index is down" in letter.reason
    assert letter.envelope is not None
    assert letter.envelope["payload"] == {"label": "doomed"}
    # Backoff: at least half the capped exponential delay between attempts (full jitter).
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= events_settings.base_backoff_seconds / 2 * 0.9
    assert outcomes.count(consumer, "retried") == events_settings.max_attempts - 1


async def test_a_transient_failure_is_retried_and_applied_once(
    bus: Bus,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = consumer_name()
    failures = [RuntimeError("flaky")]

    async def flaky(session: AsyncSession, delivered: Envelope) -> None:
        await apply_effect(session, delivered, consumer)
        if failures:
            raise failures.pop()  # rolls the effect back

    await bus.publish_to(await subscribed(bus, consumer), [envelope("flaky")])
    async with start_worker({consumer: Consumer(THINGS, flaky)}):

        async def applied() -> bool:
            return await effect_counts(owner_sessions, consumer) == {"flaky": 1}

        await eventually(applied)

    assert await dead_letters_of(owner_sessions, consumer) == []


async def test_unknown_types_and_malformed_bodies_are_dead_lettered_at_once_without_blocking(
    bus: Bus,
    bus_harness: BusHarness,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = await subscribed(bus, consumer_name())
    await bus.publish_to(
        consumer, [envelope("stranger", event_type=OtherThingHappened.type_name())]
    )
    await bus_harness.inject_raw(consumer, b'{"not": "an envelope"')
    await bus.publish_to(consumer, [envelope("after")])
    outcomes = Outcomes()
    async with start_worker(
        {consumer: Consumer(THINGS, effect_handler(consumer))}, metrics=outcomes.metrics
    ):

        async def settled() -> bool:
            return (
                outcomes.count(consumer, "dead_lettered") == 2
                and outcomes.count(consumer, "handled") == 1
            )

        await eventually(settled)

    # The stranger first, then the malformed body (a bus need not keep their order).
    letters = sorted(
        await dead_letters_of(owner_sessions, consumer), key=lambda row: row.event_type is None
    )
    assert [(row.attempts, row.event_type) for row in letters] == [
        (1, "OtherThingHappened"),
        (1, None),
    ]
    assert "unknown event type 'OtherThingHappened'" in letters[0].reason
    assert letters[1].reason.startswith("malformed message")
    assert letters[1].body == '{"not": "an envelope"'
    assert await effect_counts(owner_sessions, consumer) == {"after": 1}
    assert outcomes.count(consumer, "retried") == 0


async def test_a_replayed_dead_letter_is_handled_and_a_discarded_one_is_gone(
    bus: Bus,
    owner_sessions: Sessions,
    events_settings: EventsSettings,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = consumer_name()
    broken = {"yes": True}

    async def until_fixed(session: AsyncSession, delivered: Envelope) -> None:
        if broken["yes"]:
            raise RuntimeError("bug")
        await apply_effect(session, delivered, consumer)

    await bus.publish_to(
        await subscribed(bus, consumer), [envelope("replay-me"), envelope("discard-me")]
    )
    settings = events_settings.model_copy(update={"max_attempts": 1})
    consumers = {consumer: Consumer(THINGS, until_fixed)}
    async with start_worker(consumers, settings=settings):

        async def both_dead() -> bool:
            return len(await dead_letters_of(owner_sessions, consumer)) == 2

        await eventually(both_dead)
        broken["yes"] = False
        letters = {
            row.envelope["payload"]["label"]: row.id
            for row in await dead_letters_of(owner_sessions, consumer)
            if row.envelope
        }
        async with owner_sessions() as session, session.begin():
            await dead_letters.replay(session, bus, letters["replay-me"])
            await dead_letters.discard(session, letters["discard-me"])

        async def replayed() -> bool:
            return await effect_counts(owner_sessions, consumer) == {"replay-me": 1}

        await eventually(replayed)

    assert await dead_letters_of(owner_sessions, consumer) == []


async def test_replay_since_redelivers_kept_events_to_that_consumer_only(
    bus: Bus,
    location: DatabaseLocation,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    tenant = uuid4()
    prefix = uuid4().hex[:8]
    await emit(owner_sessions, tenant, [f"{prefix}-before"])
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    await emit(owner_sessions, tenant, [f"{prefix}-after-1", f"{prefix}-after-2"])
    await emit(owner_sessions, tenant, [f"{prefix}-other"], event=OtherThingHappened)
    relay = Relay(location.owner_url, bus)
    try:
        while await relay.publish_pending():
            pass
    finally:
        await relay.close()
    # A consumer that did not exist when these were published, and a bystander.
    late, bystander = consumer_name(), consumer_name()
    consumers = {
        late: Consumer(THINGS, effect_handler(late)),
        bystander: Consumer(THINGS, effect_handler(bystander)),
    }

    count = await replay_since(
        location.owner_url, bus, consumer_name=late, consumer=consumers[late], since=since
    )

    async with start_worker(consumers):

        async def replayed() -> bool:
            counts = await effect_counts(owner_sessions, late)
            return {label for label in counts if label.startswith(prefix)} == {
                f"{prefix}-after-1",
                f"{prefix}-after-2",
            }

        await eventually(replayed)

    assert count >= 2
    assert not any(
        label.startswith(prefix) for label in await effect_counts(owner_sessions, bystander)
    )


async def test_stopping_lets_the_handler_in_flight_finish(
    bus: Bus,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = consumer_name()
    started = asyncio.Event()

    async def slow(session: AsyncSession, delivered: Envelope) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await apply_effect(session, delivered, consumer)

    await bus.publish_to(await subscribed(bus, consumer), [envelope("slow")])
    outcomes = Outcomes()
    async with start_worker({consumer: Consumer(THINGS, slow)}, metrics=outcomes.metrics):
        await asyncio.wait_for(started.wait(), timeout=20)
    # start_worker's block has stopped the worker: the handler had finished and been acknowledged.

    assert await effect_counts(owner_sessions, consumer) == {"slow": 1}
    assert outcomes.count(consumer, "handled") == 1


# Batches: the worker hands deliveries the bus gave out together to one lane (prefetch 16 over
# 4 lanes: 4 a batch), which the worker itself decides whatever the bus; PostgreSQL only.
POSTGRES_ONLY = pytest.mark.parametrize("bus_harness", ["postgres"], indirect=True)


@POSTGRES_ONLY
async def test_deliveries_handed_out_together_share_a_transaction_each_bound_to_its_tenant(
    bus: Bus, start_worker: StartWorker
) -> None:
    consumer = await subscribed(bus, consumer_name())
    first, second = uuid4(), uuid4()
    sent = [
        envelope("a", tenant=first),
        envelope("b", tenant=second),
        replace(envelope("none"), tenant_id=None),
        envelope("c", tenant=first),
    ]
    await bus.publish_to(consumer, sent)
    seen: dict[str, tuple[int, str | None]] = {}

    async def observe(session: AsyncSession, delivered: Envelope) -> None:
        row = (
            await session.execute(
                text("SELECT txid_current(), current_setting('mosaic.tenant_id', true)")
            )
        ).one()
        seen[delivered.payload["label"]] = (int(row[0]), row[1] or None)

    await _handle_all(
        start_worker,
        consumer,
        Consumer(THINGS, observe),
        len(sent),
    )

    assert len({transaction for transaction, _ in seen.values()}) == 1
    assert {label: tenant for label, (_, tenant) in seen.items()} == {
        "a": str(first),
        "b": str(second),
        "none": None,
        "c": str(first),
    }


@POSTGRES_ONLY
async def test_a_consumer_that_is_not_batched_handles_each_event_in_its_own_transaction(
    bus: Bus, start_worker: StartWorker
) -> None:
    consumer = await subscribed(bus, consumer_name())
    sent = [envelope(label) for label in ("a", "b", "c", "d")]
    await bus.publish_to(consumer, sent)
    transactions: list[int] = []

    async def observe(session: AsyncSession, delivered: Envelope) -> None:
        transactions.append(int(await session.scalar(text("SELECT txid_current()")) or 0))

    await _handle_all(
        start_worker,
        consumer,
        Consumer(THINGS, observe, batched=False),
        len(sent),
    )

    assert len(set(transactions)) == len(sent)


@POSTGRES_ONLY
async def test_a_batch_handler_applies_each_tenants_new_events_in_one_call_and_one_transaction(
    bus: Bus, owner_sessions: Sessions, events_settings: EventsSettings, start_worker: StartWorker
) -> None:
    consumer = await subscribed(bus, consumer_name())
    first, second = uuid4(), uuid4()
    a, b, c = envelope("a", tenant=first), envelope("b", tenant=second), envelope("c", tenant=first)
    seen_before = envelope("seen before", tenant=first)
    no_tenant = replace(envelope("none"), tenant_id=None)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :id)"),
            {"consumer": consumer, "id": seen_before.id},
        )
    # ``a`` twice: a redelivery in the same batch.
    await bus.publish_to(consumer, [a, b, seen_before, a, no_tenant, c])
    calls: list[tuple[int, str | None, list[str]]] = []

    async def apply_all(session: AsyncSession, delivered: Sequence[Envelope]) -> None:
        row = (
            await session.execute(
                text("SELECT txid_current(), current_setting('mosaic.tenant_id', true)")
            )
        ).one()
        calls.append((int(row[0]), row[1] or None, [e.payload["label"] for e in delivered]))

    async def one_by_one(session: AsyncSession, delivered: Envelope) -> None:
        raise AssertionError("the batch handler applies a batch")

    outcomes = Outcomes()
    async with start_worker(
        {consumer: Consumer(THINGS, one_by_one, batch_handler=apply_all)},
        # One lane: it takes all six in one batch.
        settings=events_settings.model_copy(update={"concurrency": 1}),
        metrics=outcomes.metrics,
    ):

        async def settled() -> bool:
            return outcomes.count(consumer, "handled") + outcomes.count(consumer, "duplicate") == 6

        await eventually(settled)

    assert outcomes.count(consumer, "handled") == 4
    assert outcomes.count(consumer, "duplicate") == 2
    assert len({transaction for transaction, _, _ in calls}) == 1
    assert sorted((tenant, labels) for _, tenant, labels in calls if tenant) == sorted(
        [(str(first), ["a", "c"]), (str(second), ["b"])]
    )
    assert [labels for _, tenant, labels in calls if tenant is None] == [["none"]]


@POSTGRES_ONLY
async def test_a_failing_batch_handler_leaves_the_batch_to_the_handler_one_event_at_a_time(
    bus: Bus, owner_sessions: Sessions, effects: str, start_worker: StartWorker
) -> None:
    consumer = await subscribed(bus, consumer_name())
    tenant = uuid4()
    await bus.publish_to(
        consumer, [envelope(label, tenant=tenant) for label in ("a", "broken", "b")]
    )

    batches: list[int] = []

    async def apply_all(session: AsyncSession, delivered: Sequence[Envelope]) -> None:
        batches.append(len(delivered))
        for each in delivered:
            await apply_effect(session, each, consumer)
        await session.execute(text("SELECT 1 / 0"))  # after the effects: all rolled back

    failures = ["broken"]

    async def one_by_one(session: AsyncSession, delivered: Envelope) -> None:
        await apply_effect(session, delivered, consumer)
        if delivered.payload["label"] in failures:
            failures.clear()
            raise RuntimeError("broken once")

    outcomes = Outcomes()
    async with start_worker(
        {consumer: Consumer(THINGS, one_by_one, batch_handler=apply_all)},
        metrics=outcomes.metrics,
    ):

        async def applied() -> bool:
            return await effect_counts(owner_sessions, consumer) == {"a": 1, "broken": 1, "b": 1}

        await eventually(applied)

    assert batches == [3]
    assert outcomes.count(consumer, "retried") == 1
    assert outcomes.count(consumer, "handled") == 3


def test_only_a_batched_consumer_has_a_batch_handler() -> None:
    async def apply_all(session: AsyncSession, delivered: Sequence[Envelope]) -> None:
        return None

    with pytest.raises(ValueError, match="not batched"):
        Consumer(THINGS, effect_handler("x"), batched=False, batch_handler=apply_all)


async def _handle_all(
    start_worker: StartWorker,
    name: str,
    consumer: Consumer,
    count: int,
) -> None:
    """Run a worker with ``consumer`` until it has handled ``count`` events, then stop it."""
    outcomes = Outcomes()
    async with start_worker({name: consumer}, metrics=outcomes.metrics):

        async def handled() -> bool:
            return outcomes.count(name, "handled") == count

        await eventually(handled)


@POSTGRES_ONLY
async def test_a_handler_failing_in_a_batch_rolls_back_its_event_alone(
    bus: Bus,
    owner_sessions: Sessions,
    effects: str,
    start_worker: StartWorker,
) -> None:
    consumer = await subscribed(bus, consumer_name())
    await bus.publish_to(consumer, [envelope(label) for label in ("a", "broken", "b", "c")])
    failures = ["broken"]

    async def breaks_once(session: AsyncSession, delivered: Envelope) -> None:
        await apply_effect(session, delivered, consumer)
        if delivered.payload["label"] in failures:
            failures.clear()
            await session.execute(text("SELECT 1 / 0"))  # a database error, in the batch

    outcomes = Outcomes()
    async with start_worker({consumer: Consumer(THINGS, breaks_once)}, metrics=outcomes.metrics):

        async def applied() -> bool:
            return await effect_counts(owner_sessions, consumer) == {
                "a": 1,
                "broken": 1,
                "b": 1,
                "c": 1,
            }

        await eventually(applied)

    assert outcomes.count(consumer, "retried") == 1
    assert outcomes.count(consumer, "handled") == 4
    assert await dead_letters_of(owner_sessions, consumer) == []


@POSTGRES_ONLY
async def test_a_batch_that_cannot_commit_is_handled_again_one_event_per_transaction(
    bus: Bus,
    owner_sessions: Sessions,
    settings: Settings,
    effects: str,
    start_worker: StartWorker,
) -> None:
    async with owner_sessions() as session, session.begin():
        # Checked at commit, not in the handler's savepoint: the batch's commit fails.
        await session.execute(
            text(
                "CREATE TABLE IF NOT EXISTS test_deferred_labels"
                " (label text UNIQUE DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        await session.execute(
            text(f"GRANT INSERT ON test_deferred_labels TO {settings.database.app_role}")
        )
    consumer = await subscribed(bus, consumer_name())
    poison = f"poison-{uuid4().hex}"
    await bus.publish_to(consumer, [envelope(label) for label in ("a", poison, "b", "c")])

    async def fails_at_commit(session: AsyncSession, delivered: Envelope) -> None:
        await apply_effect(session, delivered, consumer)
        if delivered.payload["label"] == poison:
            twice = "INSERT INTO test_deferred_labels VALUES (:label), (:label)"
            await session.execute(text(twice), {"label": poison})

    outcomes = Outcomes()
    async with start_worker(
        {consumer: Consumer(THINGS, fails_at_commit)}, metrics=outcomes.metrics
    ):

        async def settled() -> bool:
            return outcomes.count(consumer, "dead_lettered") == 1

        await eventually(settled)

    assert await effect_counts(owner_sessions, consumer) == {"a": 1, "b": 1, "c": 1}
    assert outcomes.count(consumer, "handled") == 3
    [letter] = await dead_letters_of(owner_sessions, consumer)
    assert "UniqueViolation" in letter.reason
