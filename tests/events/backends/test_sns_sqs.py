"""SNS/SQS beyond the contract: the subscription's filter policy, redrive to the DLQ."""

from __future__ import annotations

import json

from mosaic.events.backends.sns_sqs import SnsSqsBus
from tests.events.backends.conftest import SnsSqsHarness
from tests.events.backends.contract import consuming, envelope, nothing_for, subscribed, take


async def subscription_attributes(harness: SnsSqsHarness, consumer: str) -> dict[str, str]:
    async with harness.session.client("sns", endpoint_url=harness.endpoint_url) as sns:
        topic = next(
            t["TopicArn"]
            for t in (await sns.list_topics())["Topics"]
            if t["TopicArn"].endswith(f":{harness.prefix}events")
        )
        subscriptions = (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
        [arn] = [
            s["SubscriptionArn"]
            for s in subscriptions
            if s["Endpoint"].endswith(f":{harness.prefix}{consumer}")
        ]
        return dict((await sns.get_subscription_attributes(SubscriptionArn=arn))["Attributes"])


async def test_queues_subscribe_raw_with_a_filter_policy_on_type(
    sns_sqs_harness: SnsSqsHarness,
) -> None:
    bus = sns_sqs_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(sns_sqs_harness, bus, ["StoryUpdated", "StoryCreated"])

        attributes = await subscription_attributes(sns_sqs_harness, consumer)
        assert json.loads(attributes["FilterPolicy"]) == {"type": ["StoryCreated", "StoryUpdated"]}
        assert attributes["RawMessageDelivery"] == "true"
    finally:
        await bus.close()


async def test_subscribing_again_replaces_the_filter(sns_sqs_harness: SnsSqsHarness) -> None:
    bus = sns_sqs_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(sns_sqs_harness, bus, ["StoryCreated"])
        await bus.subscribe(consumer, ["MediaUploaded"])
        media = envelope("MediaUploaded")

        await bus.publish([envelope("StoryCreated"), media])

        assert [d.envelope for d in await take(bus, consumer, 1)] == [media]
        await nothing_for(bus, consumer, 2.0)
    finally:
        await bus.close()


async def test_messages_carry_type_and_tenant_as_attributes(
    sns_sqs_harness: SnsSqsHarness,
) -> None:
    bus = sns_sqs_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(sns_sqs_harness, bus, ["StoryCreated"])
        sent = envelope()
        await bus.publish([sent])
        async with sns_sqs_harness.session.client(
            "sqs", endpoint_url=sns_sqs_harness.endpoint_url
        ) as sqs:
            response = await sqs.receive_message(
                QueueUrl=await bus.queue_url(consumer),
                MessageAttributeNames=["All"],
                WaitTimeSeconds=5,
            )
        [message] = response["Messages"]
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes == {"type": "StoryCreated", "tenant_id": sent.tenant_id}
    finally:
        await bus.close()


async def test_sqs_redrives_to_the_dlq_after_max_receive_count(
    sns_sqs_harness: SnsSqsHarness,
) -> None:
    bus: SnsSqsBus = sns_sqs_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(sns_sqs_harness, bus, ["StoryCreated"])
        sent = envelope()
        await bus.publish([sent])

        attempts = []
        async with consuming(bus, consumer) as stream:
            async for delivery in stream:
                attempts.append(delivery.attempt)
                # A worker that keeps failing: back at once, never dead-lettered by hand.
                await bus.retry(delivery, delay_seconds=0, reason="still failing")
                if len(attempts) == sns_sqs_harness.max_receive_count:
                    break

        assert attempts == [1, 2, 3]
        await nothing_for(bus, consumer, 2.0)
        assert await sns_sqs_harness.dead_letters(consumer) == [sent.to_json()]
    finally:
        await bus.close()
