"""The receiver: route, verify, validate, enqueue once, answer, all within about a second.

Nothing is queued for a request that is refused (4xx). In an accepted request, valid events go to
the queue and each invalid event goes to the DLQ (``INVALID_EVENT``) and is listed under
``rejected``. A source with a mapping (hubsync.intake.mapping) turns its sender's body into the events first; a
body its mapping cannot map is kept whole in the DLQ (``UNMAPPED``) and listed as rejected. When SQS or
the idempotency table cannot be used the answer is 503, so the sender delivers again. Every error answer
is JSON with a stable ``error`` code and a message a person can act on; never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsync import provenance
from hubsync.deadletters import dlq
from hubsync.events import Event, dumps, loads
from hubsync.exceptions import (
    BadRequestError,
    ConfigurationError,
    QueueUnavailableError,
    SignatureError,
)
from hubsync.intake.mapping import Judged, MappingError, judge, mappers_for, queued_body, unmapped_rejection
from hubsync.intake.receipts import (
    DeliveryInProgressError,
    DeliveryKeyReusedError,
    LedgerUnavailableError,
    NoLedger,
)
from hubsync.intake.signing import SignedRequest, Verifier
from hubsync.intake.sources import BODY_SHA256, DEFAULT_SOURCE, Source
from hubsync.sqs import MAX_MESSAGE_BYTES, OutgoingMessage, QueueSender, fits_in_a_message, refused_character

logger = logging.getLogger(__name__)

_ROUTE = re.compile(r"^/webhooks(?:/(?P<source>[^/]+))?/?$")
_JSON_TYPE = re.compile(r"^\s*(application/(?:[\w.+-]+\+)?json|text/json)\s*(;.*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str = ""  # as the sender called it (HubSpot's signatures cover it)
    # The source API Gateway routed to (its {source} path parameter, "" for POST /webhooks); None when the
    # request did not come through a route, and the path says it.
    routed_source: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    def to_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": self.headers, "body": dumps(self.body)}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        status, {"error": code, "message": message}, {"content-type": "application/json", **(headers or {})}
    )


def request_from_api_gateway(event: Mapping[str, Any]) -> HttpRequest:
    """An HTTP API (payload format 2.0) event as an HttpRequest. Base64 bodies are decoded first."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = b"\x00invalid-base64"  # cannot verify: the signature check refuses it
    else:
        body = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
    path = str(event.get("rawPath") or http.get("path") or "")
    host = headers.get("host") or str(context.get("domainName") or "")
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    query = str(event.get("rawQueryString") or "")
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    # Routed by the API's own match, not by rawPath: behind a custom domain, rawPath starts with the API
    # mapping's key (/hooks/webhooks/erp), which a path pattern would not know.
    routed: str | None = None
    if event.get("routeKey"):
        parameters = event.get("pathParameters") or {}
        routed = str(parameters.get("source") or "")
    return HttpRequest(
        method=str(http.get("method") or "POST"), path=path, headers=headers, body=body, url=url, routed_source=routed
    )


class Receiver:
    """Handles one webhook delivery. ``verifier(source)`` is called per request so rotated secrets apply."""

    def __init__(
        self,
        sources: Mapping[str, Source],
        verifier: Callable[[Source], Verifier],
        queue: QueueSender,
        dead_letters: QueueSender,
        *,
        default_object_type: str,
        ledger: Any = None,
        max_body_bytes: int = 1024 * 1024,
        max_events: int = 500,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        future_tolerance_seconds: int | None = None,
    ) -> None:
        self._sources = sources
        # Compiled once per container; a bad expression raises ConfigurationError here (the handler: 503).
        self._mappers = mappers_for(sources)
        # None: each source's signature tolerance bounds how far ahead its events' occurredAt may be.
        self._future_tolerance_seconds = future_tolerance_seconds
        self._verifier = verifier
        self._queue = queue
        self._dlq = dead_letters
        self._default_object_type = default_object_type
        self._ledger = ledger or NoLedger()
        self._max_body_bytes = max_body_bytes
        self._max_events = max_events
        self._clock_ms = clock_ms

    def handle(self, request: HttpRequest, context: Any = None) -> HttpResponse:
        if request.method.upper() != "POST":
            return error(405, "method_not_allowed", "send webhooks with POST", {"allow": "POST"})
        if request.routed_source is not None:
            name = request.routed_source or DEFAULT_SOURCE
        else:
            route = _ROUTE.match(request.path)
            name = (route.group("source") or DEFAULT_SOURCE) if route else ""
        source = self._sources.get(name)
        if source is None:
            return error(404, "unknown_source", "no webhook source is configured at this path")
        if len(request.body) > self._max_body_bytes:
            return error(413, "body_too_large", f"the body is larger than {self._max_body_bytes} bytes")
        try:
            verified = self._verifier(source).verify(
                SignedRequest(request.method.upper(), request.url, request.headers, request.body)
            )
        except SignatureError as exc:
            logger.warning("signature refused", extra={"source": source.name, "reason": exc.message})
            return error(401, "invalid_signature", exc.message)
        except ConfigurationError as exc:
            logger.error("cannot verify signatures", extra={"source": source.name, "reason": exc.message})
            return error(503, "not_ready", "the receiver cannot verify signatures right now; retry later")
        if not _JSON_TYPE.match(request.headers.get("content-type", "")):
            return error(415, "unsupported_media_type", "send the body as application/json")
        mapper = self._mappers[source.name]
        unmapped: str | None = None
        try:
            raw_events = mapper.read(request.body)
        except BadRequestError as exc:
            return error(exc.status, exc.code, exc.message)
        except MappingError as exc:
            # Signed, so the sender meant it: kept whole (UNMAPPED) for a replay once the mapping is fixed.
            logger.warning("body not mapped", extra={"source": source.name, "kind": exc.details.get("kind", "shape")})
            unmapped, raw_events = exc.message, []
        if len(raw_events) > self._max_events:
            return error(413, "too_many_events", f"send at most {self._max_events} events a request")
        # What the ledger compares a repeat with (and body-sha256 hashes): for the hubspot-crm preset, the body
        # without attemptNumber. Made once: for that preset it parses the body again.
        identity = mapper.fingerprint(request.body)
        delivery_id = self._delivery_key(source, verified.delivery_id, request, identity)
        return self._accept_once(source, raw_events, unmapped, delivery_id, request.body, identity, context)

    def _delivery_key(self, source: Source, scheme_id: str | None, request: HttpRequest, identity: bytes) -> str | None:
        setting = source.idempotency_key
        if setting == "none":
            return None
        if setting == "delivery-id":
            value: Any = scheme_id
        elif setting == BODY_SHA256:
            value = self._mappers[source.name].delivery_hash(request.body, identity)
        elif setting.startswith("header:"):
            value = request.headers.get(setting.split(":", 1)[1])
        else:
            document = loads(request.body)
            value = document.get(setting.split(":", 1)[1]) if isinstance(document, dict) else None
        if value is None or isinstance(value, dict | list) or str(value) == "":
            return None
        return str(value)

    def _accept_once(
        self,
        source: Source,
        raw_events: list[tuple[int, Any]],
        unmapped: str | None,
        delivery_id: str | None,
        body: bytes,
        identity: bytes,
        context: Any,
    ) -> HttpResponse:
        label = delivery_id or ""

        def accept() -> dict[str, Any]:
            return self._accept(source, raw_events, unmapped, body, label)

        try:
            if delivery_id is None:
                answer = accept()
            else:
                answer = self._ledger.run_once(f"{source.name}:{delivery_id}", identity, accept, context)
        except BadRequestError as exc:
            return error(exc.status, exc.code, exc.message)
        except QueueUnavailableError:
            return error(503, "queue_unavailable", "the events could not be queued; deliver them again")
        except DeliveryInProgressError as exc:
            return error(409, "delivery_in_progress", exc.message + "; retry shortly", {"retry-after": "1"})
        except DeliveryKeyReusedError as exc:
            return error(422, "delivery_id_reused", exc.message)
        except LedgerUnavailableError as exc:
            logger.error("idempotency table unavailable", extra={"reason": exc.message})
            return error(503, "not_ready", "the receiver cannot record deliveries right now; retry later")
        return HttpResponse(202, answer)

    def _accept(
        self, source: Source, raw_events: list[tuple[int, Any]], unmapped: str | None, body: bytes, delivery_id: str
    ) -> dict[str, Any]:
        """Queues the valid events and quarantines the invalid ones; raises QueueUnavailableError."""
        now = self._clock_ms()
        future = self._future_tolerance_seconds
        max_future_ms = (source.tolerance_seconds if future is None else future) * 1000
        judged = judge(
            source, raw_events, default_object_type=self._default_object_type, now_ms=now, max_future_ms=max_future_ms
        )
        valid = [self._message(index, event, source.name, delivery_id) for index, event in judged.valid]
        invalid = self._quarantined(source, judged, now, delivery_id)
        rejected = [{"index": index, "error": reason} for index, _, reason in judged.invalid]
        if unmapped is not None:
            invalid.append(self._unmapped(source, body, unmapped, now, delivery_id))
            rejected.append(unmapped_rejection(unmapped))
        # Checked before anything is sent: a refused request queues nothing. Each message keeps room for
        # the envelope that may wrap it (a queued event that fails, a rejected one replayed and rejected
        # again), so whatever is accepted can reach the DLQ with its reason.
        if any(
            not fits_in_a_message(m.body, m.attributes, reserve=dlq.ENVELOPE_RESERVE_BYTES) for m in valid + invalid
        ):
            limit = MAX_MESSAGE_BYTES - dlq.ENVELOPE_RESERVE_BYTES
            raise BadRequestError("event_too_large", f"an event is larger than the queue takes ({limit} bytes)", 413)
        if self._queue.send(valid) or self._dlq.send(invalid):
            logger.error("SQS did not take every message", extra={"source": source.name, "delivery": delivery_id})
            raise QueueUnavailableError("the events could not be queued")
        logger.info(
            "accepted",
            extra={"source": source.name, "delivery": delivery_id, "accepted": len(valid), "rejected": len(rejected)},
        )
        return {"accepted": len(valid), "rejected": rejected}

    @staticmethod
    def _quarantined(source: Source, judged: Judged, now: int, delivery_id: str) -> list[OutgoingMessage]:
        messages = []
        for index, raw, reason in judged.invalid:
            document = dlq.envelope(raw, dlq.Failure(dlq.INVALID_EVENT, reason), now_ms=now, stage="receiver")
            document.update(source=source.name, webhookId=delivery_id)
            messages.append(dlq.dlq_message(str(index), document))
        return messages

    @staticmethod
    def _unmapped(source: Source, body: bytes, reason: str, now: int, delivery_id: str) -> OutgoingMessage:
        # The body's text, whole (the mapping read it as UTF-8): what a replay maps again.
        document = dlq.envelope(body.decode("utf-8"), dlq.Failure(dlq.UNMAPPED, reason), now_ms=now, stage="receiver")
        document.update(source=source.name, webhookId=delivery_id)
        return dlq.dlq_message("unmapped", document)

    @staticmethod
    def _message(index: int, event: Event, source: str, delivery_id: str) -> OutgoingMessage:
        body = queued_body(event, source, delivery_id)
        attributes = {"objectType": event.object_type, provenance.ATTRIBUTE: provenance.RECEIVER}
        if event.event_id and refused_character(event.event_id) is None:
            # Informational only (the body has the id intact): left out rather than refused by SQS.
            attributes["eventId"] = event.event_id
        return OutgoingMessage(key=str(index), body=dumps(body), attributes=attributes)
