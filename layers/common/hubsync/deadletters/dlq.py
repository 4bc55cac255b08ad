"""The dead-letter envelope: every input that cannot be applied is kept with its reason.

Body (JSON)::

    {"event": <the event as queued, or the raw body when it was not JSON>,
     "error": {"category": "OBJECT_NOT_FOUND", "status": 207, "message": "...", "code": null},
     "attempts": 1, "sourceMessageId": "...", "firstSentAt": 1700000000000,
     "failedAt": "2026-11-28T12:00:00.000Z", "stage": "updater", "objectType": "...", "recordId": "..."}

The category and status are also message attributes, so an operator can filter without parsing.
Messages that SQS's own redrive moved here (after a crash) are raw events with no envelope:
``unwrap`` reads both.

Size: the envelope is written as SQS takes it (``dumps``: raw UTF-8, escapes only for what SQS
refuses), the error's texts are capped, and the receiver accepts an event only if its queued message
leaves ``ENVELOPE_RESERVE_BYTES`` free, so every event it accepts can be dead-lettered with its reason.
A message whose envelope would not fit anyway (one the receiver never sized: hand-sent, replayed from
elsewhere) goes to the DLQ as it came, its reason in message attributes (``tagged_message``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubsync.events import MAX_ID_LENGTH, dumps
from hubsync.sqs import OutgoingMessage, escape_refused

ENVELOPE_VERSION = 1

# The error's texts can come from HubSpot (any characters, any length): capped in characters. A character
# takes at most 6 bytes in the envelope (an escape such as ``\u0001``), so the error holds at most
# 6 * (MAX_ERROR_MESSAGE_CHARS + 2 * MAX_ERROR_FIELD_CHARS) bytes of text.
MAX_ERROR_MESSAGE_CHARS = 1000
MAX_ERROR_FIELD_CHARS = 100  # code, cause
# Room the receiver leaves in each queued message for the envelope that may one day wrap it: the error
# (at most ~8.4 KB, above), the bookkeeping (stage, failedAt, envelopeVersion, attempts, sourceMessageId,
# firstSentAt: under 300 bytes), the record's copies (objectType up to 100 ASCII characters, recordId and
# eventId up to MAX_ID_LENGTH characters, at most 6 bytes each: ~6.3 KB), the keys, and a replay's
# ``replayCount``. tests/unit/test_envelope_room.py builds the worst case and checks it fits.
ENVELOPE_RESERVE_BYTES = 16 * 1024
_MAX_REASON_CHARS = 256  # the reason as a message attribute, when the envelope does not fit

# Categories: what went wrong, and so what an operator does about it (docs/runbook in a later issue).
INVALID_EVENT = "INVALID_EVENT"  # the event itself is malformed; fix the sender, then replay
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"  # no such record in HubSpot; create or fix the id, then replay
VALIDATION_ERROR = "VALIDATION_ERROR"  # HubSpot refused the values (unknown property, bad option, ...)
HUBSPOT_REJECTED = "HUBSPOT_REJECTED"  # any other permanent HubSpot answer (404 path, 409, 413, ...)
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # a transient fault lasted through every attempt
UNKNOWN = "UNKNOWN"  # SQS redrive moved it here without an envelope (the function crashed or timed out)
# A signed body its source's transform could not map: ``event`` is the body's text, whole, with ``source``;
# fix the mapping, then replay (the replayer maps it again with the source's current transform).
UNMAPPED = "UNMAPPED"

CATEGORIES = (
    INVALID_EVENT,
    OBJECT_NOT_FOUND,
    VALIDATION_ERROR,
    HUBSPOT_REJECTED,
    RETRIES_EXHAUSTED,
    UNKNOWN,
    UNMAPPED,
)


@dataclass(frozen=True)
class Failure:
    """Why an input could not be applied."""

    category: str
    message: str
    status: int | None = None
    code: str | None = None
    cause: str | None = None  # for RETRIES_EXHAUSTED: the transient fault's own category

    def as_dict(self) -> dict[str, Any]:
        message = _capped(self.message, MAX_ERROR_MESSAGE_CHARS)
        error: dict[str, Any] = {"category": self.category, "status": self.status, "message": message}
        if self.code:
            error["code"] = _capped(self.code, MAX_ERROR_FIELD_CHARS)
        if self.cause:
            error["cause"] = _capped(self.cause, MAX_ERROR_FIELD_CHARS)
        return error


def _capped(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


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
            value = event.get(src)
            # Copies for filtering, of sane values only: a rejected event's 500 KB id is not doubled.
            if (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and len(value) <= MAX_ID_LENGTH
            ):
                document[dst] = value
    return document


def _attributes(error: Mapping[str, Any]) -> dict[str, str]:
    attributes = {"category": str(error["category"])}
    if error.get("status") is not None:
        attributes["status"] = str(error["status"])
    return attributes


def dlq_message(key: str, document: dict[str, Any]) -> OutgoingMessage:
    # ``dumps`` escapes what SQS refuses (unpaired surrogates in a rejected event, U+FFFE, ...) and
    # nothing else: non-ASCII text stays one to four bytes a character, not six.
    return OutgoingMessage(key=key, body=dumps(document), attributes=_attributes(document["error"]))


def _attribute_text(text: str, chars: int) -> str:
    """Text an attribute value can hold: capped, what SQS refuses written as ``\\uXXXX``."""
    return escape_refused(_capped(text, chars))


def tagged_message(key: str, body: str, document: dict[str, Any]) -> OutgoingMessage | None:
    """The message as it came (its body untouched, so it fits as it did), its reason in attributes:
    for a message whose envelope would be too large. ``unwrap`` reads the reason back. With all the
    reason's attributes if they fit, else with the category and status alone; None if not even then."""
    error = document["error"]
    least = {**_attributes(error), "envelope": "none"}
    full = {
        **least,
        "reason": _attribute_text(str(error.get("message") or ""), _MAX_REASON_CHARS),
        "stage": str(document.get("stage") or ""),
        "failedAt": str(document.get("failedAt") or ""),
    }
    for name in ("code", "cause"):
        if error.get(name):
            full[name] = _attribute_text(str(error[name]), MAX_ERROR_FIELD_CHARS)
    for attributes in (full, least):
        message = OutgoingMessage(key=key, body=body, attributes=attributes)
        if message.problem() is None:
            return message
    return None


@dataclass(frozen=True)
class DeadLetter:
    """A DLQ message read back: the original event (as queued) and why it failed."""

    event: Any
    error: dict[str, Any]
    document: dict[str, Any] | None
    failed_at: str | None = None  # of a tagged message (its envelope is in attributes)

    @property
    def category(self) -> str:
        return str(self.error.get("category") or UNKNOWN)

    @property
    def failed_at_ms(self) -> int | None:
        text = (self.document or {}).get("failedAt", self.failed_at)
        if not isinstance(text, str):
            return None
        try:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None


_NOT_JSON = object()


def unwrap(body: str, attributes: Mapping[str, Any] | None = None) -> DeadLetter:
    """The event and error of a DLQ message, with or without hubsync's envelope. ``attributes``: the
    message's MessageAttributes as ReceiveMessage answers them (a tagged message's reason is there)."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        document = _NOT_JSON
    if isinstance(document, dict) and "event" in document and isinstance(document.get("error"), dict):
        return DeadLetter(event=document["event"], error=document["error"], document=document)
    tags = _strings(attributes)
    event = body if document is _NOT_JSON else document
    if tags.get("envelope") == "none" and tags.get("category"):
        error: dict[str, Any] = {"category": tags["category"], "status": _int(tags.get("status"))}
        error["message"] = tags.get("reason", "")
        error.update({name: tags[name] for name in ("code", "cause") if tags.get(name)})
        return DeadLetter(event=event, error=error, document=None, failed_at=tags.get("failedAt") or None)
    if document is _NOT_JSON:
        return DeadLetter(event=body, error={"category": UNKNOWN, "message": "not JSON"}, document=None)
    return DeadLetter(
        event=document,
        error={"category": UNKNOWN, "status": None, "message": "moved here by SQS redrive, without a reason"},
        document=None,
    )


def _strings(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, attribute in (attributes or {}).items():
        value = attribute.get("StringValue") if isinstance(attribute, Mapping) else None
        if isinstance(value, str):
            values[name] = value
    return values


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
