"""What a HubSpot batch answer means for each input: applied, failed for good, or worth retrying.

A 2xx settles an input only when it proves it (``hubsync.delivery.settlement``): results and failures are
mapped back by ``objectWriteTraceId``, ids and ``context.ids``, never by position (HubSpot does not
answer in input order), and whatever the answer does not account for is retried (``UNPROVEN``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hubsync.deadletters import dlq
from hubsync.delivery.hubspot import HubSpotAnswer
from hubsync.delivery.settlement import settle
from hubsync.types import BatchInput

# Transient causes, kept in the DLQ envelope's ``error.cause`` when retries run out.
RATE_LIMITED = "RATE_LIMITED"
DAILY_LIMIT = "DAILY_LIMIT"
SERVER_ERROR = "SERVER_ERROR"
LOCKED = "LOCKED"
AUTH = "AUTH"
BAD_RESPONSE = "BAD_RESPONSE"
INCOMPLETE = "INCOMPLETE"
UNPROVEN = "UNPROVEN"  # a 2xx that did not account for the input
REDIRECTED = "REDIRECTED"

# Transient answers that prove HubSpot wrote nothing (it refused the request before processing it). Any
# other retried answer leaves the outcome unknown: the request may still land (a timeout, a 502 from a
# proxy whose upstream went on, a 2xx that proves nothing), so its records stay "in doubt".
_NOTHING_WRITTEN = {RATE_LIMITED, DAILY_LIMIT, LOCKED, AUTH, REDIRECTED}

# 5xx that HubSpot documents as not transient (Cloudflare: 522 unreachable origin; 525/526 TLS).
_PERMANENT_5XX = {501, 505, 522, 525, 526}
_RETRYABLE_4XX = {408, 423, 425, 429, 477}
# 207 error categories that are the input's own fault; any other category is retried.
_PERMANENT_CATEGORIES = {"OBJECT_NOT_FOUND", "VALIDATION_ERROR", "INVALID_PARAMS", "CONFLICT"}
LOCKED_WAIT_SECONDS = 2.0

logger = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """Per-input verdicts keyed by ``objectWriteTraceId``."""

    applied: set[str] = field(default_factory=set)
    failed: dict[str, dlq.Failure] = field(default_factory=dict)
    retry: dict[str, dlq.Failure] = field(default_factory=dict)
    retry_after: float | None = None  # seconds HubSpot asked us to wait, when it said
    retry_now: bool = True  # False for the daily limit: nothing will succeed until it resets
    unmatched_errors: int = 0  # 207 errors that named no input we sent
    unproven: int = 0  # inputs a 2xx answer did not account for (retried)
    calls: int = 0  # HTTP calls made for these verdicts (0: not sent at all)
    # Inputs sent in a request whose outcome is unknown (it may still land, late): whatever their final
    # verdict, no other writer may touch their records until such a request can no longer land.
    in_doubt: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)  # every value older than what was already applied

    def absorb(self, other: BatchOutcome) -> None:
        """Adds another outcome's verdicts (for inputs this one has not settled)."""
        self.applied |= other.applied
        self.failed.update(other.failed)
        self.retry.update(other.retry)
        self.superseded |= other.superseded
        self.in_doubt |= other.in_doubt
        self.unmatched_errors += other.unmatched_errors
        self.unproven += other.unproven
        self.calls += other.calls
        self.retry_now = self.retry_now and other.retry_now
        if other.retry_after is not None:
            self.retry_after = max(self.retry_after or 0.0, other.retry_after)

    @property
    def whole_batch_rejected(self) -> bool:
        """Every input failed for good together (a 400 or 413): the batch may hold a few bad inputs."""
        return bool(self.failed) and not (self.applied or self.retry or self.superseded)


def _message(answer: HubSpotAnswer) -> str:
    if isinstance(answer.body, dict) and isinstance(answer.body.get("message"), str):
        return str(answer.body["message"])[:1000]
    if answer.transport_error:
        return answer.detail
    return f"HTTP {answer.status}: {answer.detail}"[:1000]


def _code(answer: HubSpotAnswer) -> str | None:
    body = answer.body
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
            return str(errors[0]["code"])
        for key in ("subCategory", "category", "policyName"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


def _retry_after(answer: HubSpotAnswer) -> float | None:
    raw = answer.header("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date: rare here; the backoff applies instead


def _whole(inputs: Sequence[BatchInput], failure: dlq.Failure, retry: bool) -> BatchOutcome:
    outcome = BatchOutcome()
    target = outcome.retry if retry else outcome.failed
    for item in inputs:
        target[item["objectWriteTraceId"]] = failure
    return outcome


def _transient(answer: HubSpotAnswer) -> tuple[str, float | None, bool] | None:
    """(cause, wait, retry_now) for an answer worth retrying; None for a permanent one."""
    status = answer.status
    if status is None:
        return (answer.transport_error or SERVER_ERROR, None, True)
    if status == 429:
        policy = answer.body.get("policyName") if isinstance(answer.body, dict) else None
        if policy == "DAILY":
            return (DAILY_LIMIT, None, False)
        return (RATE_LIMITED, _retry_after(answer), True)
    if status == 423:
        return (LOCKED, max(LOCKED_WAIT_SECONDS, _retry_after(answer) or 0.0), True)
    if status in (401, 403):
        # Not the events' fault: keep them and retry until the token is fixed (alarmed on).
        return (AUTH, None, True)
    if 300 <= status < 400:
        # Redirects are not followed: HubSpot's API does not redirect, so HUBSPOT_BASE_URL is wrong.
        # Not the events' fault either: kept and retried until the configuration is fixed.
        return (REDIRECTED, None, True)
    if status in _RETRYABLE_4XX or (status >= 500 and status not in _PERMANENT_5XX):
        return (SERVER_ERROR, _retry_after(answer), True)
    return None


def interpret(answer: HubSpotAnswer, inputs: Sequence[BatchInput]) -> BatchOutcome:
    """The verdict for every input of one ``batch/update`` call."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return _interpret_success(answer, inputs)
    transient = _transient(answer)
    if transient is not None:
        cause, wait, now = transient
        failure = dlq.Failure(dlq.RETRIES_EXHAUSTED, _message(answer), status, _code(answer), cause)
        outcome = _whole(inputs, failure, retry=True)
        outcome.retry_after, outcome.retry_now = wait, now
        if cause not in _NOTHING_WRITTEN:
            outcome.in_doubt = set(outcome.retry)
        return outcome
    assert status is not None
    body = answer.body if isinstance(answer.body, dict) else {}
    category = dlq.VALIDATION_ERROR if body.get("category") == "VALIDATION_ERROR" else dlq.HUBSPOT_REJECTED
    if status == 404 and body.get("category") == "OBJECT_NOT_FOUND":
        category = dlq.OBJECT_NOT_FOUND
    return _whole(inputs, dlq.Failure(category, _message(answer), status, _code(answer)), retry=False)


def _is_batch_answer(body: Any) -> bool:
    """HubSpot's batch answers always carry ``status`` and a ``results`` array (both required by its
    OpenAPI schemas); a proxy's or another service's 2xx does not."""
    return isinstance(body, dict) and isinstance(body.get("results"), list) and "status" in body


def _interpret_success(answer: HubSpotAnswer, inputs: Sequence[BatchInput]) -> BatchOutcome:
    body = answer.body
    if answer.status not in (200, 207) or not _is_batch_answer(body):
        # Not HubSpot's batch answer: nothing is proven. HubSpot may still have applied it; an update is
        # idempotent, so sending it again is safe.
        logger.warning("a 2xx that is not a HubSpot batch answer", extra={"status": answer.status, **_shape(body)})
        failure = dlq.Failure(dlq.RETRIES_EXHAUSTED, _message(answer), answer.status, None, BAD_RESPONSE)
        outcome = _whole(inputs, failure, retry=True)
        outcome.in_doubt = set(outcome.retry)
        return outcome
    settlement = settle(body, inputs)
    outcome = BatchOutcome(unmatched_errors=settlement.unmatched_errors)
    for error, traces in settlement.errors:
        failure = _error_failure(error, answer.status)
        for trace in traces:
            (outcome.failed if failure.cause is None else outcome.retry)[trace] = failure
    if body.get("status") != "COMPLETE":
        # HubSpot's documented example answers CANCELED: nothing says the inputs were applied.
        message = f"batch status {body.get('status')!r}, not COMPLETE"
        incomplete = dlq.Failure(dlq.RETRIES_EXHAUSTED, message, answer.status, None, INCOMPLETE)
        for item in inputs:
            if item["objectWriteTraceId"] not in outcome.failed:
                outcome.retry.setdefault(item["objectWriteTraceId"], incomplete)
        outcome.in_doubt = set(outcome.retry)  # PENDING or PROCESSING may yet be applied
        return outcome
    outcome.applied = settlement.applied
    if settlement.unproven:
        outcome.unproven = len(settlement.unproven)
        logger.warning(
            "HubSpot's answer does not prove every input applied; those are retried",
            extra={"status": answer.status, **settlement.shape(body)},
        )
        failure = dlq.Failure(
            dlq.RETRIES_EXHAUSTED,
            f"HTTP {answer.status} did not account for this input (no result or error named it)",
            answer.status,
            None,
            UNPROVEN,
        )
        for item in inputs:  # in the order sent, so retries keep it
            if item["objectWriteTraceId"] in settlement.unproven:
                outcome.retry[item["objectWriteTraceId"]] = failure
    outcome.in_doubt = set(outcome.retry)  # unproven, or named by an error of a category we do not know
    return outcome


def _shape(body: Any) -> dict[str, Any]:
    """A body's shape for a log line, never its values (a proxy's page may hold anything)."""
    if isinstance(body, dict):
        return {"type": "object", "keys": sorted(str(key) for key in body)[:20]}
    return {"type": type(body).__name__}


def _error_failure(error: dict[str, Any], status: int | None) -> dlq.Failure:
    category = str(error.get("category") or "")
    message = str(error.get("message") or category or "error without a message")[:1000]
    details = error.get("errors")
    code = None
    if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("code"):
        code = str(details[0]["code"])
    if category in _PERMANENT_CATEGORIES:
        dlq_category = {"OBJECT_NOT_FOUND": dlq.OBJECT_NOT_FOUND, "VALIDATION_ERROR": dlq.VALIDATION_ERROR}.get(
            category, dlq.HUBSPOT_REJECTED
        )
        return dlq.Failure(dlq_category, message, status, code or category)
    return dlq.Failure(dlq.RETRIES_EXHAUSTED, message, status, code or category or None, category or SERVER_ERROR)
