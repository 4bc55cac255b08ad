"""Retry timing and daily-limit re-queueing against moto's SQS, driven through the updater."""

from __future__ import annotations

import json
import random
from typing import Any

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.redelivery import Redelivery
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all

OBJECT = "partner_services"


def received(sqs: Any, queues: Queues, body: str) -> list[dict[str, Any]]:
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody=body)
    messages = sqs.receive_message(QueueUrl=queues.queue_url, AttributeNames=["All"], MaxNumberOfMessages=10)
    return [
        sqs_record(m["MessageId"], m["Body"], int(m["Attributes"]["ApproximateReceiveCount"]), None, m["ReceiptHandle"])
        for m in messages["Messages"]
    ]


def make(sim: HubSpotSimulator, sqs: Any, queues: Queues, base_seconds: int) -> Updater:
    delivery = Delivery(
        HubSpotClient(sim.url, "sim-token", timeout_seconds=5),
        None,
        RetryPolicy(max_attempts=2, rng=random.Random(1)),
        call_seconds=6,
        reserve_seconds=1,
        sleep=lambda _: None,
    )
    return Updater(
        delivery,
        QueueSender(sqs, queues.dlq_url),
        default_object_type=OBJECT,
        max_receive_count=5,
        redelivery=Redelivery(sqs, queues.queue_url, base_seconds=base_seconds),
    )


BODY = json.dumps(
    {"id": "1001", "objectType": OBJECT, "properties": {"property_string": "x"}, "occurredAt": 1_764_000_000_000}
)


def test_a_transient_failure_comes_back_after_the_short_schedule_not_the_visibility_timeout(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    hubspot_simulator.faults.script(503, 503)
    messages = received(sqs_client, queues, BODY)  # the queue's visibility timeout is 30 s
    report = make(hubspot_simulator, sqs_client, queues, base_seconds=0).process(messages, lambda: 100.0)
    assert report.failed_message_ids == [messages[0]["messageId"]]
    # Visible again at once (schedule base 0 s), instead of after 30 s.
    [again] = receive_all(sqs_client, queues.queue_url)
    assert again["MessageId"] == messages[0]["messageId"]


def test_the_schedule_grows_by_receive_count_and_is_capped() -> None:
    redelivery = Redelivery(None, "q", base_seconds=30)  # type: ignore[arg-type]
    assert [redelivery.delay_for(n) for n in range(1, 6)] == [30, 120, 480, 900, 900]


def test_the_daily_limit_requeues_events_as_new_delayed_messages(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    hubspot_simulator.faults.script("daily")
    messages = received(sqs_client, queues, BODY)
    report = make(hubspot_simulator, sqs_client, queues, base_seconds=30).process(messages, lambda: 100.0)
    # The original is acknowledged (not failed): its copy waits on the queue, with no receive spent.
    assert (report.requeued, report.failed_message_ids, report.daily_limit_hit) == (1, [], True)
    attributes = sqs_client.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert receive_all(sqs_client, queues.dlq_url) == []
