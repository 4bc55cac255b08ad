"""The dead-letter envelope: every input that cannot be applied is kept with its reason.

Body (JSON)::

    {"event": <the event as queued, or the raw body when it was not JSON>,
     "error": {"category": "OBJECT_NOT_FOUND", "status": 207, "message": "...", "code": null},
     "attempts": 1, "sourceMessageId": "...", "firstSentAt": 1700000000000,
     "failedAt": "2026-11-28T12:00:00.000Z", "stage": "updater", "objectType": "...", "recordId": "..."}

The category and status are also message attributes, so an operator can filter without parsing.
Messages that SQS's own redrive moved here (after a crash) are raw events with no envelope:
``unwrap`` reads both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubsync.events import dumps
from hubsync.sqs import OutgoingMessage

ENVELOPE_VERSION = 1

# Categories: what went wrong, and so what an operator does about it (docs/runbook in a later issue).
INVALID_EVENT = "INVALID_EVENT"  # the event itself is malformed; fix the sender, then replay
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"  # no such record in HubSpot; create or fix the id, then replay
VALIDATION_ERROR = "VALIDATION_ERROR"  # HubSpot refused the values (unknown property, bad option, ...)
HUBSPOT_REJECTED = "HUBSPOT_REJECTED"  # any other permanent HubSpot answer (404 path, 409, 413, ...)
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # a transient fault lasted through every attempt
UNKNOWN = "UNKNOWN"  # SQS redrive moved it here without an envelope (the function crashed or timed out)

CATEGORIES = (INVALID_EVENT, OBJECT_NOT_FOUND, VALIDATION_ERROR, HUBSPOT_REJECTED, RETRIES_EXHAUSTED, UNKNOWN)


@dataclass(frozen=True)
class Failure:
    """Why an input could not be applied."""

    category: str
    message: str
    status: int | None = None
    code: str | None = None
    cause: str | None = None  # for RETRIES_EXHAUSTED: the transient fault's own category

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"category": self.category, "status": self.status, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.cause:
            error["cause"] = self.cause
        return error


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    event: Any,
    failure: Failure,
    *,
    now_ms: int,
    stage: str,
    attempts: int | None = None,
    source_message_id: str | None = None,
    first_sent_at: int | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event": event,
        "error": failure.as_dict(),
        "stage": stage,
        "failedAt": _iso(now_ms),
        "envelopeVersion": ENVELOPE_VERSION,
    }
    if attempts is not None:
        document["attempts"] = attempts
    if source_message_id:
        document["sourceMessageId"] = source_message_id
    if first_sent_at is not None:
        document["firstSentAt"] = first_sent_at
    if isinstance(event, dict):
        for src, dst in (("objectType", "objectType"), ("id", "recordId"), ("eventId", "eventId")):
            if isinstance(event.get(src), str | int) and not isinstance(event.get(src), bool):
                document[dst] = event[src]
    return document


def dlq_message(key: str, document: dict[str, Any]) -> OutgoingMessage:
    error = document["error"]
    attributes = {"category": str(error["category"])}
    if error.get("status") is not None:
        attributes["status"] = str(error["status"])
    # ASCII escapes: a rejected event may hold unpaired surrogates, which UTF-8 cannot carry.
    return OutgoingMessage(key=key, body=dumps(document, ascii_only=True), attributes=attributes)


@dataclass(frozen=True)
class DeadLetter:
    """A DLQ message read back: the original event (as queued) and why it failed."""

    event: Any
    error: dict[str, Any]
    document: dict[str, Any] | None

    @property
    def category(self) -> str:
        return str(self.error.get("category") or UNKNOWN)

    @property
    def failed_at_ms(self) -> int | None:
        text = (self.document or {}).get("failedAt")
        if not isinstance(text, str):
            return None
        try:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None


def unwrap(body: str) -> DeadLetter:
    """The event and error of a DLQ message, with or without hubsync's envelope."""
    try:
        document = json.loads(body)
    except ValueError:
        return DeadLetter(event=body, error={"category": UNKNOWN, "message": "not JSON"}, document=None)
    if isinstance(document, dict) and "event" in document and isinstance(document.get("error"), dict):
        return DeadLetter(event=document["event"], error=document["error"], document=document)
    return DeadLetter(
        event=document,
        error={"category": UNKNOWN, "status": None, "message": "moved here by SQS redrive, without a reason"},
        document=None,
    )
