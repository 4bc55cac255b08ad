"""Issue 10, cases 5 and 6, through moto's server with SQS's rules enforced (hubsync_local.moto_main):
characters SQS refuses, envelopes that outgrow SQS, and a replay run no single message can stop.

Sizes are checked here by SQS's documented rule (body UTF-8 bytes plus attribute name, type and value
bytes, at most 1 MiB), computed by the test itself.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from hubsync.config import Settings
from hubsync.deadletters import dlq
from hubsync.deadletters.replay import Replayer, ReplayFilter
from hubsync.factory import SourceVerifiers
from hubsync.intake.receiver import Receiver, request_from_api_gateway
from hubsync.intake.sources import parse_sources
from hubsync.secrets import SecretCache
from hubsync.sqs import QueueSender
from hubsync_local.gateway import to_http_api_event
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all
from support.updater import make_updater

SQS_LIMIT = 1_048_576
SECRET = "whsec_" + base64.b64encode(b"sqs-limits-test-secret-0").decode()
OBJECT = "partner_services"
T0 = 1_764_000_000_000


def sqs_size(message: dict[str, Any]) -> int:
    attributes = message.get("MessageAttributes") or {}
    return len(message["Body"].encode("utf-8")) + sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in attributes.items()
    )


def signed(body: bytes, msg_id: str = "msg_1") -> dict[str, Any]:
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": Webhook(SECRET).sign(msg_id, now, body.decode("utf-8")),
    }
    return to_http_api_event("POST", "/webhooks", "", headers, body, "POST /webhooks", {})


def receiver(sqs: Any, queues: Queues) -> Receiver:
    return Receiver(
        parse_sources(None),
        SourceVerifiers(Settings(webhook_secrets=SECRET), SecretCache()),
        QueueSender(sqs, queues.queue_url),
        QueueSender(sqs, queues.dlq_url),
        default_object_type=OBJECT,
    )


def test_values_sqs_refuses_are_queued_intact(sqs_client: Any, queues: Queues) -> None:
    """Case 5: U+FFFE / U+FFFF in a value and U+0001 in eventId were sent raw; SQS refused the entry and
    the delivery got 503 on every retry."""
    value = "a\ufffeb\uffffc\x01d"
    events = [{"id": "1001", "eventId": "evt\x01-1", "properties": {"property_string": value}}]
    body = json.dumps(events).encode()  # JSON escapes: the request is plain ASCII
    response = receiver(sqs_client, queues).handle(request_from_api_gateway(signed(body)))
    assert response.status == 202, response.body
    assert response.body == {"accepted": 1, "rejected": []}
    [queued] = receive_all(sqs_client, queues.queue_url)
    event = json.loads(queued["Body"])
    assert event["properties"] == {"property_string": value} and event["eventId"] == "evt\x01-1"
    assert "eventId" not in queued.get("MessageAttributes", {})  # informational; the body has it intact
    assert receive_all(sqs_client, queues.dlq_url) == []


def test_a_large_non_ascii_event_that_fails_reaches_the_dlq_with_its_reason(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    """Case 6: a 400 KB event of non-ASCII text made a 1.2 MB ASCII-escaped envelope SQS refused; the event
    rode every redelivery and landed in the DLQ bare, as UNKNOWN."""
    text = "é" * 200_000  # 400 KB in UTF-8
    raw = {"id": "999999", "properties": {"property_string": text}, "eventId": "big"}
    response = receiver(sqs_client, queues).handle(
        request_from_api_gateway(signed(json.dumps(raw, ensure_ascii=False).encode()))
    )
    assert response.status == 202, response.body
    records = [sqs_record(m["MessageId"], m["Body"], 1, T0) for m in receive_all(sqs_client, queues.queue_url)]
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(records, lambda: 100.0)
    assert report.failed_message_ids == [] and report.dead_lettered == {"OBJECT_NOT_FOUND": 1}
    [dead] = receive_all(sqs_client, queues.dlq_url)
    assert sqs_size(dead) < SQS_LIMIT
    letter = dlq.unwrap(dead["Body"], dead.get("MessageAttributes"))
    assert letter.category == "OBJECT_NOT_FOUND" and letter.document is not None
    assert letter.event["properties"] == {"property_string": text}


def test_a_foreign_message_too_large_to_wrap_goes_to_the_dlq_as_it_came_with_its_reason(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    """A message the receiver never sized (hand-sent, here just under 1 MiB) cannot be wrapped: it was
    left to SQS's redrive, calling HubSpot on every receive and landing as UNKNOWN."""
    event = {"id": "999999", "objectType": OBJECT, "properties": {"property_string": ""}, "occurredAt": T0}
    # 350 bytes to spare: too few for an envelope (error, bookkeeping: about 480 bytes), enough for the
    # reason as attributes (about 260).
    room = SQS_LIMIT - 350 - len(json.dumps(event, separators=(",", ":")).encode())
    event["properties"] = {"property_string": "ü" * (room // 2)}
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)  # as compact as hubsync writes it
    assert SQS_LIMIT - 351 <= len(body.encode()) <= SQS_LIMIT - 350
    sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody=body)  # SQS takes it as it is
    [message] = receive_all(sqs_client, queues.queue_url)
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        [sqs_record(message["MessageId"], message["Body"], 1, T0)], lambda: 100.0
    )
    assert report.failed_message_ids == [] and report.dead_lettered == {"OBJECT_NOT_FOUND": 1}
    assert len(hubspot_simulator.calls) == 1  # once, not once per redelivery
    [dead] = receive_all(sqs_client, queues.dlq_url, delete=False)
    assert dead["Body"] == body and sqs_size(dead) <= SQS_LIMIT
    letter = dlq.unwrap(dead["Body"], dead["MessageAttributes"])
    assert letter.category == "OBJECT_NOT_FOUND" and letter.error["status"] == 207
    assert "Check that ids are valid" in letter.error["message"]  # HubSpot's own words
    assert letter.event == event and letter.failed_at_ms is not None
    # The replayer reads it like any dead letter: filtered by its category, moved back as the event.
    replay = Replayer(sqs_client, queues.dlq_url, queues.queue_url, wait_seconds=0)
    moved = replay.run(where=ReplayFilter(categories=frozenset({"OBJECT_NOT_FOUND"})))
    assert (moved.matched, moved.moved) == (1, 1)
    [back] = receive_all(sqs_client, queues.queue_url)
    assert json.loads(back["Body"]) == {**event, "replayCount": 1}


def envelope_body(record: str, value_json: str) -> str:
    """A DLQ envelope written by hand, its one property value given as JSON text (escapes and all)."""
    event = f'{{"id":"{record}","objectType":"{OBJECT}","properties":{{"property_string":{value_json}}}}}'
    return (
        f'{{"event":{event},"error":{{"category":"VALIDATION_ERROR","status":400,"message":"no"}},"envelopeVersion":1}}'
    )


@pytest.mark.parametrize("lone", ["\\ud800", "\\udfff"])
def test_a_lone_surrogate_in_one_dead_letter_does_not_stop_a_replay_run(
    sqs_client: Any, queues: Queues, lone: str
) -> None:
    """Case 5: a lone surrogate in one DLQ envelope crashed the whole replay run (UnicodeEncodeError)."""
    bodies = [envelope_body("1", '"fine"'), envelope_body("2", f'"x{lone}y"'), envelope_body("3", '"also fine"')]
    for body in bodies:
        sqs_client.send_message(QueueUrl=queues.dlq_url, MessageBody=body)  # plain ASCII: SQS takes it
    report = Replayer(sqs_client, queues.dlq_url, queues.queue_url, wait_seconds=0).run()
    assert (report.scanned, report.matched, report.failed) == (3, 3, 0)
    assert report.moved == 3  # the odd one too: escaped, so it arrives intact
    moved = {json.loads(m["Body"])["id"]: json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)}
    assert moved["2"]["properties"]["property_string"] == json.loads(f'"x{lone}y"')
    assert receive_all(sqs_client, queues.dlq_url) == []


def test_a_dead_letter_that_cannot_be_replayed_is_counted_and_left_and_the_run_goes_on(
    sqs_client: Any, queues: Queues
) -> None:
    fine = envelope_body("1", '"fine"')
    # Fits in the DLQ, but not once replayed: 1e15 is 4 bytes here and 18 (1000000000000000.0) when the
    # event is written again, so the replay's body would be about 4 MB.
    count = (SQS_LIMIT - len(envelope_body("2", "[]").encode())) // len("1e15,")
    too_big = envelope_body("2", "[" + ",".join(["1e15"] * count) + "]")
    assert len(too_big.encode()) <= SQS_LIMIT
    forged = fine.replace('"status":400', '"status":[400]')  # an unhashable status, under a status filter
    for body in (fine, too_big, forged):
        sqs_client.send_message(QueueUrl=queues.dlq_url, MessageBody=body)
    where = ReplayFilter(statuses=frozenset({400}))
    report = Replayer(sqs_client, queues.dlq_url, queues.queue_url, wait_seconds=0, max_replays=5).run(where=where)
    assert report.scanned == 3 and report.moved == 1
    assert report.failed == 1  # the forged one could not be matched
    assert report.refused == 1  # the one too large to send
    left = receive_all(sqs_client, queues.dlq_url)
    assert len(left) == 2 and all(m["Body"] != fine for m in left)
