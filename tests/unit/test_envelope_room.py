"""Every event the receiver accepts can be dead-lettered with its reason: the largest accepted event,
with the costliest characters, wrapped in the largest failure, still fits in one SQS message.

The limit is SQS's, restated here (1 MiB; body UTF-8 bytes plus attribute name, type and value bytes),
and the envelope is built as the updater builds it (hubsync.deadletters.dlq, with the updater's bookkeeping).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hubsync.deadletters import dlq
from hubsync.events import loads
from hubsync.intake.receiver import HttpRequest, Receiver
from hubsync.intake.signing.types import Verified
from hubsync.intake.sources import Source
from hubsync.sqs import OutgoingMessage, SendFailure

SQS_LIMIT = 1_048_576
NOW = 1_760_000_000_000
WORST = "\x01"  # six bytes once escaped, the costliest character in a JSON body


def sqs_size(message: OutgoingMessage) -> int:
    attributes = {name: value for name, value in message.attributes.items() if value}
    return len(message.body.encode("utf-8")) + sum(
        len(name.encode()) + len(b"String") + len(value.encode()) for name, value in attributes.items()
    )


class Capture:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, messages: list[OutgoingMessage]) -> list[SendFailure]:
        self.sent.extend(messages)
        return []


class AnyDelivery:
    def verify(self, request: Any) -> Verified:
        return Verified(scheme="test", delivery_id=WORST * 200)


def receive(raw: Any) -> tuple[int, Capture, Capture]:
    queue, dead = Capture(), Capture()
    receiver = Receiver(
        {"default": Source("default")},
        lambda source: AnyDelivery(),
        queue,  # type: ignore[arg-type]
        dead,  # type: ignore[arg-type]
        default_object_type="p" * 100,
        max_body_bytes=4 * SQS_LIMIT,
        clock_ms=lambda: NOW,
    )
    body = json.dumps(raw).encode()  # ASCII escapes: the request itself is no smaller than the message
    response = receiver.handle(HttpRequest("POST", "/webhooks", {"content-type": "application/json"}, body))
    return response.status, queue, dead


def largest_accepted(make: Any) -> tuple[OutgoingMessage, int]:
    """The largest event ``make(n)`` the receiver accepts, found by bisection, and its padding."""
    low, high = 0, SQS_LIMIT // 6
    while low < high:
        middle = (low + high + 1) // 2
        status, _, _ = receive(make(middle))
        low, high = (middle, high) if status == 202 else (low, middle - 1)
    status, queue, dead = receive(make(low))
    assert status == 202
    assert receive(make(low + 1))[0] == 413  # the boundary is the receiver's limit, not something else
    return (queue.sent or dead.sent)[0], low


def valid_event(padding: int) -> dict[str, Any]:
    return {
        "id": WORST * 512,
        "idProperty": WORST * 512,
        "eventId": "\ufffe" * 512,
        "occurredAt": NOW,
        "properties": {"p" * 100: WORST * padding, "q" * 100: "\ud83d\ude00" * 10},
    }


LARGEST_FAILURE = dlq.Failure(
    dlq.RETRIES_EXHAUSTED, WORST * 50_000, status=599, code="\uffff" * 5_000, cause="\ud800" * 5_000
)


def dead_letter(event: Any) -> OutgoingMessage:
    document = dlq.envelope(
        event,
        LARGEST_FAILURE,
        now_ms=NOW,
        stage="updater",
        attempts=10**9,
        source_message_id=str(uuid.uuid4()),
        first_sent_at=NOW,
    )
    return dlq.dlq_message(str(uuid.uuid4()), document)


def test_the_largest_accepted_event_fits_in_its_envelope_even_after_replays() -> None:
    queued, padding = largest_accepted(valid_event)
    assert padding > 100_000  # the event really is large: the reserve is not most of the message
    event = loads(queued.body)
    assert event["properties"]["p" * 100] == WORST * padding
    envelope = dead_letter(event)
    assert sqs_size(envelope) <= SQS_LIMIT
    # Replayed (replayCount added) and failing again: it is wrapped again from the event, and still fits.
    again = dead_letter({**loads(envelope.body)["event"], "replayCount": 10**9})
    assert sqs_size(again) <= SQS_LIMIT
    assert loads(again.body)["error"]["category"] == dlq.RETRIES_EXHAUSTED


def test_the_largest_rejected_event_fits_when_replayed_and_rejected_again() -> None:
    def invalid(padding: int) -> dict[str, Any]:
        return {"id": WORST * 512, "properties": {"bad name": WORST * padding}}

    quarantined, _ = largest_accepted(invalid)
    assert loads(quarantined.body)["error"]["category"] == dlq.INVALID_EVENT
    raw = loads(quarantined.body)["event"]
    assert sqs_size(dead_letter({**raw, "replayCount": 10**9})) <= SQS_LIMIT
