"""The sample events in events/ stay valid inputs for the functions (sam local/remote invoke -e)."""

from __future__ import annotations

import json
from pathlib import Path

from hubsync.delivery.messages import QueuedMessage
from hubsync.events import loads, parse_body, parse_event
from hubsync.intake.receiver import request_from_api_gateway

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = 1_800_000_000_000


def test_webhook_body_events_are_all_valid() -> None:
    raw_events = parse_body((EVENTS / "webhook-body.json").read_bytes())
    parsed = [parse_event(raw, default_object_type="partner_services", now_ms=NOW) for raw in raw_events]
    assert len(parsed) >= 2 and all(e.properties for e in parsed)


def test_webhook_api_event_carries_a_standard_webhooks_delivery() -> None:
    request = request_from_api_gateway(json.loads((EVENTS / "webhook.json").read_text()))
    assert request.method == "POST" and request.path == "/webhooks"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(request.headers)
    assert parse_body(request.body)


def test_sqs_batch_records_are_queued_events() -> None:
    records = json.loads((EVENTS / "sqs-batch.json").read_text())["Records"]
    messages = [QueuedMessage.from_record(record) for record in records]
    assert [m.receive_count for m in messages][-1] == 5
    for message in messages:
        event = parse_event(loads(message.body), default_object_type="partner_services", now_ms=NOW)
        assert all(isinstance(v, str) for v in event.properties.values())


def test_replay_input_names_known_filters() -> None:
    replay = json.loads((EVENTS / "replay.json").read_text())
    assert set(replay) <= {"dryRun", "limit", "category", "categories"}


def test_a_queued_message_reads_its_attributes_from_the_record_only_when_asked() -> None:
    record = json.loads((EVENTS / "sqs-batch.json").read_text())["Records"][-1]
    message = QueuedMessage.from_record(record)
    assert (message.message_id, message.body) == (record["messageId"], record["body"])
    assert (message.receive_count, message.receipt_handle) == (5, record["receiptHandle"])
    assert message.sent_at == int(record["attributes"]["SentTimestamp"])
    bare = QueuedMessage.from_record({"messageId": "m", "body": "{}", "attributes": {"ApproximateReceiveCount": "x"}})
    assert (bare.receive_count, bare.sent_at, bare.receipt_handle) == (1, None, None)
