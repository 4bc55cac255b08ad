"""Change events: parsing, validation and normalisation to what HubSpot accepts (strings only).

An event as sent by the external system::

    {"id": "512", "properties": {"property_number": 17, "property_checkbox": false},
     "idProperty": "my_unique_property_name", "objectType": "partner_services",
     "occurredAt": "2019-10-30T03:30:17.883Z", "eventId": "evt-1"}

Normalising is idempotent: a queued (already normalised) event parses to itself, so the updater
and the replayer use the same parser as the receiver.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from hubsync.exceptions import BadRequestError, InvalidEventError
from hubsync.sqs import sqs_safe_json

# HubSpot internal property names: letters, digits, underscores; no spaces or dots.
_PROPERTY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
# Object types: names ("partner_services", "contacts", "p_custom") or ids ("2-123456").
_OBJECT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_ID_LENGTH = 512
MAX_PROPERTIES = 1000
# Before this, an epoch value is almost surely seconds sent as milliseconds (year 2001 in ms).
_MIN_EPOCH_MS = 978_307_200_000
# Events from the future would win last-write-wins against every later real change: by default an event may
# be ahead of our clock by no more than a signature's timestamp may (the sender's clock is off by that much).
DEFAULT_MAX_FUTURE_MS = 300 * 1000
_MAX_EXPONENT = 400


class QueuedEvent(msgspec.Struct, rename="camel", gc=False):
    """What the updater reads of a queued event: the record, its HubSpot-ready string properties, the
    event time and the receipt time (epoch ms).

    A msgspec Struct so that the updater decodes the receiver's messages straight into it in C
    (``queued_event``): the fields in camelCase are the queued message's keys, and the keys it does not
    need are skipped unread. Mutable, but treat it as read-only. ``gc=False``: it holds only strings,
    numbers and a dict of strings, so it is in no reference cycle, and tens of thousands per batch stay
    out of the cycle collector's way."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    properties: Annotated[dict[str, str], msgspec.Meta(min_length=1)]
    object_type: str
    occurred_at: int
    id_property: str | None = None
    received_at: int | None = None

    @property
    def record_key(self) -> tuple[str, str, str]:
        """What identifies the record: events with the same key are merged."""
        return (self.object_type, self.id_property or "", self.id)


class Event(QueuedEvent, gc=False):
    """One normalised change event, as the receiver queues it: a QueuedEvent with the sender's event id
    and the bookkeeping hubsync itself adds (kept through re-parsing, so normalising is idempotent)."""

    event_id: str | None = None
    webhook_id: str | None = None
    source: str | None = None
    replay_count: int | None = None

    def to_message(self) -> dict[str, Any]:
        """The event as queued (the SQS message body)."""
        message: dict[str, Any] = {
            "id": self.id,
            "objectType": self.object_type,
            "properties": self.properties,
            "occurredAt": self.occurred_at,
        }
        if self.id_property:
            message["idProperty"] = self.id_property
        if self.event_id:
            message["eventId"] = self.event_id
        if self.received_at is not None:
            message["receivedAt"] = self.received_at
        for key, value in (("webhookId", self.webhook_id), ("source", self.source), ("replayCount", self.replay_count)):
            if value is not None:
                message[key] = value
        return message


def normalise_value(value: Any, name: str) -> str:
    """A JSON value as HubSpot wants it: a string. Nested objects are refused."""
    if value is None:
        return ""  # HubSpot clears a property given ""
    if isinstance(value, str):
        return _text(value, f"property {name!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _plain_decimal(value, name)
    if isinstance(value, list):
        return ";".join(_list_item(item, name) for item in value)
    raise InvalidEventError(f"property {name!r}: nested objects are not allowed (got {type(value).__name__})")


def _text(value: str, what: str) -> str:
    """The string, unless it holds an unpaired surrogate (valid in JSON escapes, not encodable as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEventError(f"{what} holds an unpaired UTF-16 surrogate") from None
    return value


def _list_item(item: Any, name: str) -> str:
    if item is None or isinstance(item, dict | list):
        raise InvalidEventError(f"property {name!r}: list items must be strings, numbers or booleans")
    return normalise_value(item, name)


def _plain_decimal(value: float | Decimal, name: str) -> str:
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise InvalidEventError(f"property {name!r}: {value} is not a finite number")
    if abs(number.adjusted()) > _MAX_EXPONENT:
        # 1e999999999 would expand to a gigabyte of digits in plain decimal form.
        raise InvalidEventError(f"property {name!r}: the number's exponent is beyond ±{_MAX_EXPONENT}")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_occurred_at(value: Any, now_ms: int, max_future_ms: int = DEFAULT_MAX_FUTURE_MS) -> int:
    """ISO 8601 (UTC when no offset is given) or epoch milliseconds, as epoch milliseconds."""
    if isinstance(value, bool):
        raise InvalidEventError("occurredAt must be an ISO 8601 string or epoch milliseconds")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidEventError(f"occurredAt {value[:64]!r} is not ISO 8601 or epoch milliseconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
    else:
        raise InvalidEventError("occurredAt must be an ISO 8601 string or epoch milliseconds")
    if ms < _MIN_EPOCH_MS:
        raise InvalidEventError(f"occurredAt {value!r} is before 2001: send epoch milliseconds, not seconds")
    if ms > now_ms + max_future_ms:
        raise InvalidEventError(f"occurredAt {value!r} is more than {max_future_ms // 1000} s in the future")
    return ms


def _identifier(value: Any, field_name: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{field_name} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEventError(f"{field_name} is longer than {MAX_ID_LENGTH} characters")
    return _text(value, field_name)


def _properties(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise InvalidEventError("properties must be a non-empty object")
    if len(value) > MAX_PROPERTIES:
        raise InvalidEventError(f"properties has more than {MAX_PROPERTIES} entries")
    result: dict[str, str] = {}
    for name, raw in value.items():
        if not _PROPERTY_NAME.match(name):
            raise InvalidEventError(f"property name {name[:100]!r} is not a HubSpot internal name")
        result[name] = normalise_value(raw, name)
    return result


_QUEUED = msgspec.json.Decoder(QueuedEvent)


def queued_event(body: str | bytes) -> QueuedEvent | None:
    """The event of a message the receiver queued, read in C without validating it again; None when
    the body is not exactly such a message (then ``parse_event`` judges it). The receiver validated and
    normalised it, and only hubsync's own functions may send to the queue (IAM), so the updater skips
    the per-value work on its hot path; the types (strings only, integer times, a delivery time the
    receiver stamps) are still checked, by the decoder."""
    try:
        event = _QUEUED.decode(body)
    except msgspec.MsgspecError:  # not JSON, or not the receiver's shape
        return None
    if event.received_at is None:
        return None
    if not event.id_property:
        event.id_property = None
    return event


def parse_event(
    raw: Any, *, default_object_type: str, now_ms: int, max_future_ms: int = DEFAULT_MAX_FUTURE_MS
) -> Event:
    """A valid, normalised Event from one raw event, or InvalidEventError saying what is wrong."""
    if not isinstance(raw, dict):
        raise InvalidEventError("an event must be a JSON object")
    record_id = _identifier(raw.get("id"), "id", required=True)
    assert record_id is not None
    properties = _properties(raw.get("properties"))
    id_property = _identifier(raw.get("idProperty"), "idProperty", required=False)
    if id_property == "hs_object_id":
        # HubSpot refuses idProperty=hs_object_id; the id already is the record id.
        id_property = None
    object_type = raw.get("objectType") or default_object_type
    if not isinstance(object_type, str) or not _OBJECT_TYPE.match(object_type):
        raise InvalidEventError("objectType must be an object type name or id such as 'partner_services'")
    occurred = raw.get("occurredAt")
    occurred_at = now_ms if occurred is None else parse_occurred_at(occurred, now_ms, max_future_ms)
    received = raw.get("receivedAt")
    received_at = received if isinstance(received, int) and not isinstance(received, bool) else now_ms
    event_id = _identifier(raw.get("eventId"), "eventId", required=False)
    webhook_id, source, replay_count = raw.get("webhookId"), raw.get("source"), raw.get("replayCount")
    return Event(
        id=record_id,
        properties=properties,
        object_type=object_type,
        occurred_at=occurred_at,
        id_property=id_property,
        event_id=event_id,
        received_at=received_at,
        webhook_id=webhook_id if type(webhook_id) is str else None,
        source=source if type(source) is str else None,
        replay_count=replay_count if type(replay_count) is int else None,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        # Parsers disagree on which duplicate wins: an ambiguous body is refused, not guessed at.
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {duplicate[:100]!r}")
    return document


def _float(text: str) -> float | Decimal:
    """A JSON fraction as a float, unless the float would not be the number (1e999 is no infinity, 1e-999 no
    zero): then the exact Decimal, which validation judges as it judges any (its exponent)."""
    value = float(text)
    if math.isinf(value) or (value == 0 and Decimal(text) != 0):
        return Decimal(text)
    return value


def loads(text: str | bytes, *, exact_decimals: bool = True) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate keys; decimals kept exactly as written, or (``exact_decimals``
    False, for JMESPath, whose functions and comparisons know only int and float) as floats where a float
    holds the number."""
    return json.loads(
        text,
        parse_float=Decimal if exact_decimals else _float,
        parse_constant=_reject_constant,
        object_pairs_hook=_unique_keys,
    )


def parse_document(body: bytes, *, exact_decimals: bool = True, empty_message: str = "the body is empty") -> Any:
    """A webhook body as strict JSON (``loads``), or BadRequestError saying why it is not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("invalid_encoding", "the body is not valid UTF-8") from None
    if not text.strip():
        raise BadRequestError("empty_body", empty_message)
    try:
        return loads(text, exact_decimals=exact_decimals)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("invalid_json", f"the body is not valid JSON: {str(exc)[:200]}") from None


def parse_body(body: bytes) -> list[Any]:
    """The raw events of a webhook body: one event, a JSON array of events, or {"events": [...]}."""
    document = parse_document(
        body, empty_message="the body is empty; send one event, an array of events or {events: [...]}"
    )
    if isinstance(document, list):
        events = document
    elif isinstance(document, dict) and "events" in document:
        events = document["events"]
        if not isinstance(events, list):
            raise BadRequestError("invalid_shape", "'events' must be an array of events")
    elif isinstance(document, dict):
        events = [document]
    else:
        raise BadRequestError("invalid_shape", "send one event object, an array of events or {events: [...]}")
    if not events:
        raise BadRequestError("no_events", "the body holds no events")
    return events


def dumps(document: Any) -> str:
    """Compact JSON for queue messages, as SQS accepts it: raw UTF-8 for every character SQS takes,
    ``\\uXXXX`` escapes for the ones it refuses (hubsync.sqs.sqs_safe_json). Decimals (from loads) are
    written as plain numbers."""
    return sqs_safe_json(json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if abs(value.adjusted()) > _MAX_EXPONENT:
            return str(value)  # kept exactly (in a quarantined event), without expanding its digits
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
