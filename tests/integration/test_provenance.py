"""A replay never turns a refused event into an applied one (issue 10, case 2).

Only messages the receiver queued itself take the updater's fast path; a replayed dead letter, however
exactly it has the receiver's shape, is judged as the receiver judges an event, time bounds included.
Through moto's SQS (the receiver, the replayer) and the simulator (HubSpot).
"""

from __future__ import annotations

import json
import time
from typing import Any

from hubsync import provenance
from hubsync.deadletters import dlq
from hubsync.deadletters.replay import Replayer
from hubsync.events import dumps
from hubsync.intake.receiver import HttpRequest, Receiver
from hubsync.intake.signing import build_verifier
from hubsync.intake.sources import Source
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all
from support.updater import OBJECT, make_updater, plenty_of_time

YEAR_MS = 365 * 86_400_000


def as_lambda_records(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages received from SQS as the event source mapping hands them to the updater."""
    return [
        sqs_record(
            m["MessageId"],
            m["Body"],
            attributes={name: value["StringValue"] for name, value in (m.get("MessageAttributes") or {}).items()},
        )
        for m in messages
    ]


def receiver(sqs: Any, queues: Queues, **kwargs: Any) -> Receiver:
    source = Source("default", scheme="none")
    return Receiver(
        {"default": source},
        lambda s: build_verifier("none", []),
        QueueSender(sqs, queues.queue_url),
        QueueSender(sqs, queues.dlq_url),
        default_object_type=OBJECT,
        **kwargs,
    )


def post(service: Receiver, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events).encode()
    return service.handle(HttpRequest("POST", "/webhooks", {"content-type": "application/json"}, body))


def test_a_refused_future_event_replayed_is_refused_again_not_applied(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    now = int(time.time() * 1000)
    # Exactly what the receiver queues (epoch-ms times, string values, objectType, receivedAt), years ahead.
    future = {
        "id": "1001",
        "objectType": OBJECT,
        "properties": {"property_string": "from the future"},
        "occurredAt": now + 3 * YEAR_MS,
        "receivedAt": now,
        "source": "default",
    }
    answer = post(receiver(sqs_client, queues), [future])
    assert answer.status == 202 and answer.body["accepted"] == 0 and len(answer.body["rejected"]) == 1
    assert receive_all(sqs_client, queues.queue_url) == []
    report = Replayer(sqs_client, queues.dlq_url, queues.queue_url, wait_seconds=0).run(categories=[dlq.INVALID_EVENT])
    assert report.moved == 1
    replayed = receive_all(sqs_client, queues.queue_url)
    assert provenance.ATTRIBUTE not in (replayed[0].get("MessageAttributes") or {})
    hubspot_simulator.reset_calls()
    result = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        as_lambda_records(replayed), plenty_of_time
    )
    assert (result.applied_events, result.calls, dict(result.dead_lettered)) == (0, 0, {dlq.INVALID_EVENT: 1})
    assert hubspot_simulator.record(OBJECT, "1001")["properties"]["property_string"] != "from the future"  # type: ignore[index]
    (again,) = [dlq.unwrap(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert again.category == dlq.INVALID_EVENT and "future" in again.error["message"]


def test_the_receivers_own_messages_carry_the_mark_and_take_the_fast_path(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    now = int(time.time() * 1000)
    answer = post(receiver(sqs_client, queues), [{"id": "1002", "properties": {"property_string": "ok"}}])
    assert answer.status == 202 and answer.body["accepted"] == 1
    queued = receive_all(sqs_client, queues.queue_url)
    assert queued[0]["MessageAttributes"][provenance.ATTRIBUTE]["StringValue"] == provenance.RECEIVER
    result = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        as_lambda_records(queued), plenty_of_time
    )
    assert result.applied_events == 1
    assert json.loads(queued[0]["Body"])["receivedAt"] >= now


def test_a_hand_sent_message_of_the_receivers_shape_is_validated(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    now = int(time.time() * 1000)
    # Every type as the fast path expects it (it would decode this), but a year ahead: not the receiver's.
    body = dumps(
        {
            "id": "1003",
            "objectType": OBJECT,
            "properties": {"property_string": "by hand"},
            "occurredAt": now + YEAR_MS,
            "receivedAt": now,
        }
    )
    sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody=body)
    result = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        as_lambda_records(receive_all(sqs_client, queues.queue_url)), plenty_of_time
    )
    assert dict(result.dead_lettered) == {dlq.INVALID_EVENT: 1} and result.calls == 0


def test_the_future_bound_is_the_signature_tolerance_unless_configured(sqs_client: Any, queues: Queues) -> None:
    ahead = int(time.time() * 1000) + 10 * 60 * 1000  # ten minutes ahead: a fast clock, not a real change
    event = {"id": "1004", "properties": {"property_string": "x"}, "occurredAt": ahead}
    refused = post(receiver(sqs_client, queues), [event])
    assert refused.body["accepted"] == 0 and "in the future" in refused.body["rejected"][0]["error"]
    accepted = post(receiver(sqs_client, queues, future_tolerance_seconds=3600), [event])
    assert accepted.body["accepted"] == 1
