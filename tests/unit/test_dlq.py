from __future__ import annotations

import json

from hubsync.deadletters import dlq


def test_envelope_keeps_the_event_and_the_reason_and_tags_attributes() -> None:
    event = {"id": "7", "objectType": "partner_services", "properties": {"a": "1"}, "eventId": "e1"}
    failure = dlq.Failure(dlq.OBJECT_NOT_FOUND, "gone", 207, "OBJECT_NOT_FOUND")
    document = dlq.envelope(event, failure, now_ms=0, stage="updater", attempts=2, source_message_id="m1")
    message = dlq.dlq_message("m1", document)
    body = json.loads(message.body)
    assert body["event"] == event
    assert body["error"] == {
        "category": "OBJECT_NOT_FOUND",
        "status": 207,
        "message": "gone",
        "code": "OBJECT_NOT_FOUND",
    }
    assert body["recordId"] == "7" and body["attempts"] == 2 and body["sourceMessageId"] == "m1"
    assert message.attributes == {"category": "OBJECT_NOT_FOUND", "status": "207"}
    assert dlq.unwrap(message.body).event == event


def test_unwrap_reads_bare_redriven_messages_too() -> None:
    dead = dlq.unwrap('{"id": "1", "properties": {"a": "1"}}')
    assert dead.category == dlq.UNKNOWN and dead.event == {"id": "1", "properties": {"a": "1"}}
    assert dlq.unwrap("not json").event == "not json"
