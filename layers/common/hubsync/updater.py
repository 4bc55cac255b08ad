"""The updater: one SQS batch in, the fewest HubSpot calls out, every input accounted for.

Each message is one event. Events are merged per record, cut into requests of at most 100 inputs,
and sent. Every message ends in exactly one place: applied (deleted by SQS), the DLQ with its reason
(then deleted), or ``batchItemFailures`` (SQS delivers it again). A message whose DLQ write fails is
reported as failed, so it is never deleted unaccounted for.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubsync import dlq
from hubsync.batching import BatchRequest, MergedInput, merge, plan_requests
from hubsync.events import Event, loads, parse_event
from hubsync.exceptions import InvalidEventError
from hubsync.hubspot import HubSpotClient
from hubsync.outcomes import DAILY_LIMIT, BatchOutcome, interpret
from hubsync.retry import RetryPolicy
from hubsync.sqs import OutgoingMessage, QueueSender, fits_in_a_message
from hubsync.types import SqsRecord

logger = logging.getLogger(__name__)

DEADLINE = "DEADLINE"


@dataclass(frozen=True)
class QueuedMessage:
    """The parts of an SQS record the updater uses."""

    message_id: str
    body: str
    receive_count: int = 1
    sent_at: int | None = None

    @classmethod
    def from_record(cls, record: SqsRecord) -> QueuedMessage:
        attributes = record.get("attributes") or {}
        count = str(attributes.get("ApproximateReceiveCount", ""))
        sent = str(attributes.get("SentTimestamp", ""))
        return cls(
            message_id=record["messageId"],
            body=record.get("body", ""),
            receive_count=int(count) if count.isdigit() else 1,
            sent_at=int(sent) if sent.isdigit() else None,
        )


@dataclass
class UpdateReport:
    """What one batch did; the handler turns ``failed_message_ids`` into ``batchItemFailures``."""

    messages: int = 0
    events_merged: int = 0  # events folded into another event's input
    inputs: int = 0
    calls: int = 0
    applied_events: int = 0
    retried_later: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    failed_message_ids: list[str] = field(default_factory=list)
    daily_limit_hit: bool = False


@dataclass
class _Pending:
    message: QueuedMessage
    document: dict[str, Any]


class Updater:
    """Applies SQS batches of events to HubSpot; see the module docstring for the guarantees."""

    def __init__(
        self,
        hubspot: HubSpotClient,
        dead_letters: QueueSender,
        *,
        default_object_type: str,
        max_receive_count: int,
        policy: RetryPolicy | None = None,
        call_seconds: float = 25.0,
        reserve_seconds: float = 5.0,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._hubspot = hubspot
        self._dlq = dead_letters
        self._default_object_type = default_object_type
        self._max_receive_count = max_receive_count
        self._policy = policy or RetryPolicy()
        self._call_seconds = call_seconds
        self._reserve_seconds = reserve_seconds
        self._clock_ms = clock_ms
        self._sleep = sleep

    def process(self, messages: Sequence[QueuedMessage], remaining_seconds: Callable[[], float]) -> UpdateReport:
        report = UpdateReport(messages=len(messages))
        dead: list[_Pending] = []
        raw_by_message: dict[str, Any] = {}
        contributions: list[tuple[Event, QueuedMessage]] = []
        now = self._clock_ms()
        for message in messages:
            try:
                raw = loads(message.body)
            except (ValueError, RecursionError):
                dead.append(self._dead(message, message.body, dlq.Failure(dlq.INVALID_EVENT, "body is not JSON")))
                continue
            try:
                event = parse_event(raw, default_object_type=self._default_object_type, now_ms=now)
            except InvalidEventError as exc:
                dead.append(self._dead(message, raw, dlq.Failure(dlq.INVALID_EVENT, exc.message)))
                continue
            raw_by_message[message.message_id] = raw
            contributions.append((event, message))
        merged = merge(contributions)
        report.events_merged = len(contributions) - len(merged)
        report.inputs = len(merged)
        daily_limit = False
        for request in plan_requests(merged):
            if daily_limit:
                outcome = self._not_sent(request, DAILY_LIMIT, "HubSpot's daily limit was reached earlier")
            else:
                outcome = self._deliver(request, remaining_seconds, report)
                daily_limit = not outcome.retry_now
            self._settle(request, outcome, raw_by_message, dead, report)
        report.daily_limit_hit = daily_limit
        self._write_dead_letters(dead, report)
        return report

    def _deliver(
        self, request: BatchRequest[QueuedMessage], remaining_seconds: Callable[[], float], report: UpdateReport
    ) -> BatchOutcome:
        pending: dict[str, MergedInput[QueuedMessage]] = dict(request.inputs)
        final = BatchOutcome()
        attempt = 0
        while pending:
            if remaining_seconds() < self._call_seconds + self._reserve_seconds:
                # No time for a whole call: leave these to SQS rather than be cut off mid-call.
                rest = BatchRequest(request.object_type, pending)
                final.retry.update(self._not_sent(rest, DEADLINE, "not enough time left in the invocation").retry)
                break
            attempt += 1
            payload = [item.as_input(trace) for trace, item in pending.items()]
            answer = self._hubspot.batch_update(request.object_type, payload)
            report.calls += 1
            outcome = interpret(answer, payload)
            if outcome.unmatched_errors:
                logger.warning("HubSpot reported %d errors naming no input we sent", outcome.unmatched_errors)
            final.applied |= outcome.applied
            final.failed.update(outcome.failed)
            if not outcome.retry:
                break
            delay = self._policy.delay(attempt, outcome.retry_after)
            budget = remaining_seconds() - self._reserve_seconds
            if not outcome.retry_now or not self._policy.can_retry(attempt, delay, budget, self._call_seconds):
                final.retry.update(outcome.retry)
                final.retry_now = outcome.retry_now
                break
            logger.info(
                "retrying %d inputs after HTTP %s in %.2fs (attempt %d)",
                len(outcome.retry),
                answer.status,
                delay,
                attempt,
            )
            self._sleep(delay)
            pending = {trace: pending[trace] for trace in outcome.retry}
        return final

    @staticmethod
    def _not_sent(request: BatchRequest[QueuedMessage], cause: str, message: str) -> BatchOutcome:
        failure = dlq.Failure(dlq.RETRIES_EXHAUSTED, message, None, None, cause)
        outcome = BatchOutcome(retry=dict.fromkeys(request.inputs, failure))
        outcome.retry_now = cause != DAILY_LIMIT
        return outcome

    def _settle(
        self,
        request: BatchRequest[QueuedMessage],
        outcome: BatchOutcome,
        raw_by_message: dict[str, Any],
        dead: list[_Pending],
        report: UpdateReport,
    ) -> None:
        for trace, merged in request.inputs.items():
            for _event, message in merged.sources:
                raw = raw_by_message[message.message_id]
                if trace in outcome.applied:
                    report.applied_events += 1
                elif trace in outcome.failed:
                    dead.append(self._dead(message, raw, outcome.failed[trace]))
                elif trace in outcome.retry and message.receive_count < self._max_receive_count:
                    report.retried_later += 1
                    report.failed_message_ids.append(message.message_id)
                else:
                    # The last attempt: keep the event with its reason rather than let SQS move it bare.
                    failure = outcome.retry.get(trace) or dlq.Failure(dlq.RETRIES_EXHAUSTED, "no verdict for input")
                    dead.append(self._dead(message, raw, failure))

    def _dead(self, message: QueuedMessage, event: Any, failure: dlq.Failure) -> _Pending:
        document = dlq.envelope(
            event,
            failure,
            now_ms=self._clock_ms(),
            stage="updater",
            attempts=message.receive_count,
            source_message_id=message.message_id,
            first_sent_at=message.sent_at,
        )
        return _Pending(message, document)

    def _write_dead_letters(self, dead: list[_Pending], report: UpdateReport) -> None:
        sendable: list[tuple[OutgoingMessage, str]] = []
        for item in dead:
            out = dlq.dlq_message(item.message.message_id, item.document)
            if not fits_in_a_message(out.body, out.attributes):
                # Too big to wrap: leave it to SQS's redrive, which moves the message itself to the DLQ.
                logger.error("DLQ envelope too large for message %s; left to SQS redrive", item.message.message_id)
                report.failed_message_ids.append(item.message.message_id)
                continue
            sendable.append((out, item.document["error"]["category"]))
        failed = {failure.key for failure in self._dlq.send([out for out, _ in sendable])}
        for out, category in sendable:
            if out.key in failed:
                report.failed_message_ids.append(out.key)
            else:
                report.dead_lettered[category] += 1
        if failed:
            logger.error("%d DLQ writes failed; those messages stay on the queue", len(failed))
