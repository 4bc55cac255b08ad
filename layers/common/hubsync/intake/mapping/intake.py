"""From a verified body to judged events: the one path the receiver, the replayer and ``preview`` share.

``read`` turns the body into raw events (hubsync's own shape, or the source's transform or preset applied
to the parsed body); ``judge`` validates and normalises each one and applies the source's allow-lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsync.events import Event, parse_body, parse_document, parse_event
from hubsync.exceptions import InvalidEventError
from hubsync.intake.mapping.allowlist import AllowList
from hubsync.intake.mapping.exceptions import MappingError
from hubsync.intake.mapping.presets import HUBSPOT_CRM, hubspot_crm, hubspot_crm_fingerprint, sha256_hex
from hubsync.intake.sources import BODY_SHA256, Source


@dataclass(frozen=True)
class Mapper:
    """How one source's bodies become raw events. Built once per container (``mapper_for``)."""

    source: Source
    evaluate: Callable[[Any], Any] | None = None  # None: the body is hubsync's own event shape

    @property
    def mapped(self) -> bool:
        return self.evaluate is not None

    def read(self, body: bytes) -> list[tuple[int, Any]]:
        """The raw events with their index (in the body, or in the transform's result: nulls are skipped but
        keep their place). BadRequestError: the receiver refuses the body (4xx); MappingError: it is UNMAPPED."""
        if self.evaluate is None:
            return list(enumerate(parse_body(body)))
        document = parse_document(body, exact_decimals=False)
        result = self.evaluate(document)
        if result is None:
            return []
        if isinstance(result, dict):
            return [(0, result)]
        if not isinstance(result, list):
            raise MappingError(
                f"the transform gave {_json_type(result)}: it must give an event object, an array of them, or null"
            )
        for item in result:
            if item is not None and not isinstance(item, dict):
                raise MappingError(
                    f"the transform gave an array holding {_json_type(item)}: every entry must be "
                    "an event object or null"
                )
        return [(index, item) for index, item in enumerate(result) if item is not None]

    def fingerprint(self, body: bytes) -> bytes:
        """What the delivery's hash (idempotencyKey body-sha256) is taken of; also what the ledger compares."""
        if self.source.preset == HUBSPOT_CRM:
            return hubspot_crm_fingerprint(body)
        return body

    def delivery_hash(self, body: bytes, fingerprint: bytes | None = None) -> str | None:
        """The delivery key of idempotencyKey body-sha256; ``fingerprint``: ``self.fingerprint(body)``, when the
        caller has it already (for the hubspot-crm preset it parses the body again)."""
        if self.source.idempotency_key != BODY_SHA256:
            return None
        return sha256_hex(self.fingerprint(body) if fingerprint is None else fingerprint)


def mapper_for(source: Source) -> Mapper:
    """The source's mapper; ConfigurationError (naming the source) when its transform is not valid."""
    if source.transform is not None:
        from hubsync.intake.mapping.transform import Transform  # jmespath: only for sources that need it

        return Mapper(source, Transform(source.name, source.transform).apply)
    if source.preset == HUBSPOT_CRM:
        options = dict(source.preset_options)
        return Mapper(source, lambda document: hubspot_crm(document, options))
    return Mapper(source)


def mappers_for(sources: Mapping[str, Source]) -> dict[str, Mapper]:
    return {name: mapper_for(source) for name, source in sources.items()}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


@dataclass
class Judged:
    """The events of one body: valid ones (index, event) and rejected ones (index, raw event, reason)."""

    valid: list[tuple[int, Event]] = field(default_factory=list)
    invalid: list[tuple[int, Any, str]] = field(default_factory=list)


def judge(
    source: Source,
    raw_events: list[tuple[int, Any]],
    *,
    default_object_type: str,
    now_ms: int,
    max_future_ms: int,
) -> Judged:
    """Each raw event validated and normalised (hubsync.events.parse_event), then held to the source's
    allow-lists: what the source may not write is rejected with the reason (INVALID_EVENT)."""
    object_type = source.object_type or default_object_type
    allowed = AllowList(source.allowed_object_types(default_object_type), source.properties)
    judged = Judged()
    for index, raw in raw_events:
        try:
            event = parse_event(raw, default_object_type=object_type, now_ms=now_ms, max_future_ms=max_future_ms)
            refused = allowed.violation(event)
            if refused is not None:
                raise InvalidEventError(refused)
        except InvalidEventError as exc:
            judged.invalid.append((index, raw, exc.message))
            continue
        judged.valid.append((index, event))
    return judged


def queued_body(event: Event, source: str, delivery_id: str | None) -> dict[str, Any]:
    """The event as the receiver queues it: ``Event.to_message()`` with its source and delivery."""
    body = event.to_message()
    body.pop("replayCount", None)  # hubsync's own bookkeeping: a sender cannot set it
    body["source"] = source
    if delivery_id:
        body["webhookId"] = delivery_id
    return body


def unmapped_rejection(reason: str) -> dict[str, Any]:
    """How the receiver's 202 lists a body it kept as UNMAPPED: the body as one rejected item."""
    return {"index": 0, "error": f"the body could not be mapped (kept as UNMAPPED): {reason}"}
