"""HubSpot wire shapes: the Answer the server writes, error bodies, timestamps and correlation ids."""

from __future__ import annotations

import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]

# Reason phrases http.HTTPStatus lacks; HubSpot and its CDN (Cloudflare) answer with these codes.
_REASONS = {
    423: "Locked",
    477: "Migration In Progress",
    520: "Unknown Error",
    521: "Web Server Is Down",
    522: "Connection Timed Out",
    523: "Origin Is Unreachable",
    524: "A Timeout Occurred",
    525: "SSL Handshake Failed",
    526: "Invalid SSL Certificate",
}

# Error categories HubSpot puts on the answers the fault injector imitates.
_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    414: "URI_TOO_LONG",
    423: "LOCKED",
    477: "MIGRATION_IN_PROGRESS",
}

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@dataclass
class Answer:
    """One HTTP answer: status, JSON body (None: empty), extra headers; `reset` drops the connection instead.
    `raw` (with its `content_type`) is sent instead of a JSON body: a proxy's page."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    raw: bytes | None = None
    content_type: str = "application/json;charset=utf-8"

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


class Refusal(Exception):
    """Raised inside request handling to answer at once (a 4xx with a HubSpot body)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class CorrelationIds:
    """UUIDs from a seedable generator, so runs with the same seed produce the same bodies."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            bits = self._rng.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))


def reason_phrase(status: int) -> str:
    if status in _REASONS:
        return _REASONS[status]
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def category_for(status: int) -> str:
    if status in _CATEGORIES:
        return _CATEGORIES[status]
    return "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"


def iso_ms(epoch_ms: int) -> str:
    """HubSpot's timestamp format: ISO 8601, UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def error_body(
    category: str,
    message: str,
    correlation_id: str,
    *,
    context: dict[str, list[str]] | None = None,
    errors: list[JsonObject] | None = None,
) -> JsonObject:
    """An `Error` body as HubSpot sends it (`status` first, optional parts only when present)."""
    body: JsonObject = {"status": "error", "message": message, "correlationId": correlation_id}
    if context is not None:
        body["context"] = context
    body["category"] = category
    if errors is not None:
        body["errors"] = errors
    return body


def error_answer(status: int, message: str, correlation_id: str, **extra: Any) -> Answer:
    return Answer(status, error_body(category_for(status), message, correlation_id, **extra))


def rate_limit_body(policy: str, correlation_id: str) -> JsonObject:
    """The 429 body from HUBSPOT.md: no `category`, an `errorType` and a `policyName` instead."""
    limit = "daily" if policy == "DAILY" else policy.lower()
    return {
        "status": "error",
        "message": f"You have reached your {limit} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "policyName": policy,
        "groupName": "api-calls",
    }
