"""The SQS messages the updater is handed: a read-only view of one record, and the event its body carries
(also inside a DLQ envelope moved back by SQS's own redrive)."""

from __future__ import annotations

import json
from typing import Any

from hubsync.deadletters import dlq
from hubsync.events import loads
from hubsync.types import SqsRecord


class QueuedMessage:
    """A read-only view of one SQS record, for the messages that need more than their body (those that
    fail): the updater reads the bodies of a batch straight from the records."""

    __slots__ = ("_record",)

    def __init__(self, record: SqsRecord) -> None:
        self._record = record

    @classmethod
    def from_record(cls, record: SqsRecord) -> QueuedMessage:
        return cls(record)

    @property
    def message_id(self) -> str:
        return self._record["messageId"]

    @property
    def body(self) -> str:
        return self._record.get("body", "")

    @property
    def receive_count(self) -> int:
        count = (self._record.get("attributes") or {}).get("ApproximateReceiveCount", "")
        return int(count) if type(count) is str and count.isdigit() else 1

    @property
    def sent_at(self) -> int | None:
        sent = (self._record.get("attributes") or {}).get("SentTimestamp", "")
        return int(sent) if type(sent) is str and sent.isdigit() else None

    @property
    def receipt_handle(self) -> str | None:
        return self._record.get("receiptHandle")

    def __repr__(self) -> str:
        return f"QueuedMessage({self.message_id!r}, receive_count={self.receive_count})"


def event_of(body: str) -> Any:
    """The event a message carries, for its DLQ envelope (read again: only failures need it). Strictly
    if it can be; else as the fast path read it (duplicate keys: the last wins); else the text."""
    for read in (loads, json.loads):
        try:
            return unwrapped(read(body))
        except (ValueError, RecursionError):
            continue
    return body


def unmapped_envelope(raw: Any) -> bool:
    error = raw.get("error") if isinstance(raw, dict) and "envelopeVersion" in raw else None
    return isinstance(error, dict) and error.get("category") == dlq.UNMAPPED and isinstance(raw.get("event"), str)


def unwrapped(raw: Any) -> Any:
    """A DLQ envelope moved back by SQS's own redrive (StartMessageMoveTask) carries the event inside."""
    if isinstance(raw, dict) and "envelopeVersion" in raw and "event" in raw and isinstance(raw.get("error"), dict):
        event = raw["event"]
        if isinstance(event, dict):
            count = event.get("replayCount", 0)
            return {**event, "replayCount": (count if isinstance(count, int) else 0) + 1}
        return event
    return raw
