"""The receiver: verify, validate, enqueue, answer, all within about a second.

Nothing is queued for a request that is refused (401, 4xx). In an accepted request, valid events go
to the queue and each invalid event goes to the DLQ (``INVALID_EVENT``) and is listed under
``rejected``. When SQS cannot take them the answer is 503, so the sender delivers again.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubsync import dlq
from hubsync.events import Event, dumps, parse_body, parse_event
from hubsync.exceptions import BadRequestError, ConfigurationError, InvalidEventError, SignatureError
from hubsync.sqs import OutgoingMessage, QueueSender, fits_in_a_message

logger = logging.getLogger(__name__)


class Verifier(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> str: ...


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    def to_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": self.headers, "body": dumps(self.body)}


def error(status: int, code: str, message: str) -> HttpResponse:
    return HttpResponse(status, {"error": code, "message": message})


def request_from_api_gateway(event: Mapping[str, Any]) -> HttpRequest:
    """An HTTP API (payload format 2.0) event as an HttpRequest. Base64 bodies are decoded first."""
    http = (event.get("requestContext") or {}).get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = b"\x00invalid-base64"  # cannot verify: the signature check refuses it
    else:
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    return HttpRequest(
        method=str(http.get("method") or "POST"), path=str(event.get("rawPath") or ""), headers=headers, body=body
    )


class Receiver:
    """Handles one webhook delivery. ``verifier`` is called per request so rotated secrets apply."""

    def __init__(
        self,
        verifier: Callable[[], Verifier],
        queue: QueueSender,
        dead_letters: QueueSender,
        *,
        default_object_type: str,
        max_body_bytes: int = 1024 * 1024,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._verifier = verifier
        self._queue = queue
        self._dlq = dead_letters
        self._default_object_type = default_object_type
        self._max_body_bytes = max_body_bytes
        self._clock_ms = clock_ms

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method.upper() != "POST":
            return error(405, "method_not_allowed", "send webhooks with POST")
        if len(request.body) > self._max_body_bytes:
            return error(413, "body_too_large", f"the body is larger than {self._max_body_bytes} bytes")
        try:
            webhook_id = self._verifier().verify(request.headers, request.body)
        except SignatureError as exc:
            logger.warning("signature refused: %s", exc.message)
            return error(401, "invalid_signature", exc.message)
        except ConfigurationError as exc:
            logger.error("cannot verify signatures: %s", exc.message)
            return error(503, "not_ready", "the receiver cannot verify signatures right now; retry later")
        try:
            raw_events = parse_body(request.body)
        except BadRequestError as exc:
            return error(exc.status, exc.code, exc.message)
        return self._accept(raw_events, webhook_id)

    def _accept(self, raw_events: list[Any], webhook_id: str) -> HttpResponse:
        now = self._clock_ms()
        valid: list[OutgoingMessage] = []
        invalid: list[OutgoingMessage] = []
        rejected: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_events):
            try:
                event = parse_event(raw, default_object_type=self._default_object_type, now_ms=now)
            except InvalidEventError as exc:
                rejected.append({"index": index, "error": exc.message})
                failure = dlq.Failure(dlq.INVALID_EVENT, exc.message)
                document = dlq.envelope(raw, failure, now_ms=now, stage="receiver")
                document["webhookId"] = webhook_id
                invalid.append(dlq.dlq_message(str(index), document))
                continue
            valid.append(self._message(index, event, webhook_id))
        if any(not fits_in_a_message(m.body, m.attributes) for m in valid + invalid):
            return error(413, "event_too_large", "an event is larger than a queue message (1 MiB) can hold")
        if self._queue.send(valid) or self._dlq.send(invalid):
            logger.error("SQS did not take every message of webhook %s", webhook_id)
            return error(503, "queue_unavailable", "the events could not be queued; deliver them again")
        logger.info("accepted %d events, rejected %d", len(valid), len(rejected), extra={"webhook_id": webhook_id})
        return HttpResponse(202, {"accepted": len(valid), "rejected": rejected})

    @staticmethod
    def _message(index: int, event: Event, webhook_id: str) -> OutgoingMessage:
        body = event.to_message()
        body.pop("replayCount", None)  # hubsync's own bookkeeping: a sender cannot set it
        body["webhookId"] = webhook_id
        attributes = {"objectType": event.object_type}
        if event.event_id:
            attributes["eventId"] = event.event_id
        return OutgoingMessage(key=str(index), body=dumps(body), attributes=attributes)
