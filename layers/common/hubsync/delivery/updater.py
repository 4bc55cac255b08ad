"""The updater: one SQS batch in, the fewest HubSpot calls out, every input accounted for.

Each message is one event. Events are merged per record, cut into requests of at most 100 inputs,
and the requests are sent several at a time within HubSpot's rate limit. With the record state
store, each record is leased while it is written and values older than what was already applied
are dropped, so the final state is last-write-wins per property even across batches and instances.

Every message ends in exactly one place: applied or superseded (acknowledged), the DLQ with its
reason (then acknowledged), re-queued (daily limit), or ``batchItemFailures`` (SQS delivers it again,
sooner than the visibility timeout when redelivery is configured). A message whose DLQ write or
re-queue fails is reported as failed, so it is never acknowledged unaccounted for.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hubsync import provenance
from hubsync.deadletters import dlq
from hubsync.delivery.batching import BatchRequest, MergedInput, merge, plan_requests
from hubsync.delivery.dead_letters import DeadLetter, dead_letter, write_dead_letters
from hubsync.delivery.messages import QueuedMessage, event_of, unmapped_envelope, unwrapped
from hubsync.delivery.outcomes import DAILY_LIMIT, BatchOutcome
from hubsync.delivery.redelivery import Redelivery
from hubsync.delivery.report import RequestTimes, UpdateReport
from hubsync.delivery.sender import Delivery, not_sent
from hubsync.events import DEFAULT_MAX_FUTURE_MS, QueuedEvent, loads, parse_event, queued_event
from hubsync.exceptions import InvalidEventError
from hubsync.sqs import QueueSender
from hubsync.types import BatchInput, SqsRecord

if TYPE_CHECKING:
    from hubsync.delivery.schema.checks import SchemaChecks
    from hubsync.delivery.schema.settings import ObjectSettings

logger = logging.getLogger(__name__)

LEASED = "LEASED"
STATE_UNAVAILABLE = "STATE_UNAVAILABLE"
LEASE_LOST = "LEASE_LOST"
# How long a record stays leased after a request to it had an unknown outcome (a timeout, a 5xx, a 2xx that
# proved nothing): longer than HubSpot could still be processing a request its client gave up waiting for.
IN_DOUBT_HOLD_SECONDS = 60.0


def record_key(item: MergedInput[Any]) -> str:
    return f"{item.object_type}#{item.id_property or ''}#{item.id}"


class Updater:
    """Applies SQS batches of events to HubSpot; see the module docstring for the guarantees.

    ``state`` is a hubsync.delivery.recordstate.RecordStateStore (or None: order holds within a batch only).
    """

    def __init__(
        self,
        delivery: Delivery,
        dead_letters: QueueSender,
        *,
        default_object_type: str,
        max_receive_count: int,
        state: Any = None,
        redelivery: Redelivery | None = None,
        max_in_flight: int = 4,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        request_times: RequestTimes | None = None,
        in_doubt_hold_seconds: float = IN_DOUBT_HOLD_SECONDS,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
        schema: SchemaChecks | None = None,
        object_settings: ObjectSettings | None = None,
    ) -> None:
        self.delivery = delivery
        self._schema = schema
        self._object_settings = object_settings
        self._dlq = dead_letters
        self._default_object_type = default_object_type
        self._max_receive_count = max_receive_count
        self._state = state
        self._redelivery = redelivery
        self._max_in_flight = max(1, max_in_flight)
        self._clock_ms = clock_ms
        self._lock = threading.Lock()  # the request threads add to one report
        self._pool: ThreadPoolExecutor | None = None
        self._request_times = request_times or RequestTimes()
        self._in_doubt_hold_seconds = in_doubt_hold_seconds
        self._max_future_ms = max_future_ms

    def process(self, records: Sequence[SqsRecord], remaining_seconds: Callable[[], float]) -> UpdateReport:
        """Applies one batch of SQS records (as Lambda hands them over) and says what became of each."""
        with _cycle_collector_paused():
            return self._process(records, remaining_seconds)

    def _process(self, records: Sequence[SqsRecord], remaining_seconds: Callable[[], float]) -> UpdateReport:
        report = UpdateReport(messages=len(records))
        dead: list[DeadLetter] = []
        events, sources = self._read_all(records, dead)
        reads_before = self.delivery.stats.property_reads
        merged = merge(zip(events, sources, strict=True))
        if self._schema is not None:
            merged = self._check_values(self._schema, merged, events, sources, dead, remaining_seconds, report)
        requests = plan_requests(merged)
        report.events_merged = len(events) - len(merged)
        report.inputs = len(merged)
        report.requests = len(requests)
        before = self.delivery.stats.copy()
        outcomes = self._run_all(requests, remaining_seconds, report)
        report.add_calls(before, self.delivery.stats)
        report.property_reads = self.delivery.stats.property_reads - reads_before
        later: list[QueuedMessage] = []
        requeue: list[QueuedMessage] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            report.daily_limit_hit |= not outcome.retry_now
            self._settle(request, outcome, dead, later, requeue, report)
        self._requeue(requeue, report)
        if later and self._redelivery is not None:
            self._redelivery.retry_later(later)
        write_dead_letters(self._dlq, dead, report)
        return report

    def _read_all(
        self, records: Sequence[SqsRecord], dead: list[DeadLetter]
    ) -> tuple[list[QueuedEvent], list[SqsRecord]]:
        """Each readable record's event, and the record (in step); unreadable ones go to ``dead``."""
        events: list[QueuedEvent] = []
        sources: list[SqsRecord] = []
        now = self._clock_ms()
        for record in records:
            # The receiver's own messages (hubsync.provenance) take the fast path (decoded in C, not validated
            # again); anything else (a replayed event, an envelope moved back by SQS, a message sent by hand)
            # is judged as the receiver judges an event.
            # (the mark's test, inline: it runs once per message of every batch)
            marks = record.get("messageAttributes")
            mark = marks.get(provenance.ATTRIBUTE) if marks else None
            fast = mark is not None and mark.get("stringValue") == provenance.RECEIVER
            event = queued_event(record.get("body", "")) if fast else None
            if event is None:
                event = self._read_strictly(QueuedMessage.from_record(record), now, dead)
                if event is None:
                    continue
            events.append(event)
            sources.append(record)
        return events, sources

    def _check_values(
        self,
        schema: SchemaChecks,
        merged: list[MergedInput[SqsRecord]],
        events: list[QueuedEvent],
        sources: list[SqsRecord],
        dead: list[DeadLetter],
        remaining_seconds: Callable[[], float],
        report: UpdateReport,
    ) -> list[MergedInput[SqsRecord]]:
        """The merged inputs HubSpot's property definitions allow, their values converted. Checked once per
        record (a value is converted the same whichever event brought it); an input with a refused value
        is taken apart: each of its events is checked alone, the refused ones go to ``dead`` with every
        reason (costing no HubSpot call), and the rest are merged again without them. (A value replaced in
        the batch by a newer one for the same property is never sent, so it is not checked either.)"""
        from hubsync.delivery.schema.checks import definitions_fetcher, failure_message  # only when checks are on

        fetch = definitions_fetcher(lambda path: self.delivery.get(path, remaining_seconds))
        checked = schema.check(merged, fetch)
        report.values_converted = checked.converted_values
        report.definitions_unavailable = checked.unavailable
        if not checked.refused:
            return merged
        event_by_source = {id(source): event for event, source in zip(events, sources, strict=True)}
        kept = [item for index, item in enumerate(merged) if index not in checked.refused]
        again: list[tuple[QueuedEvent, SqsRecord]] = []
        refused: Counter[str] = Counter()
        for index in checked.refused:
            contributions = [(event_by_source[id(source)], source) for source in merged[index].sources]
            alone = schema.check([event for event, _ in contributions], fetch)
            report.values_converted += alone.converted_values
            refused += alone.refused_by_code()
            for position, (event, source) in enumerate(contributions):
                problems = alone.refused.get(position)
                if problems is None:
                    again.append((event, source))
                    continue
                message = QueuedMessage.from_record(source)
                failure = dlq.Failure(dlq.VALIDATION_ERROR, failure_message(problems), None, problems[0].code)
                dead.append(self._dead(message, event_of(message.body), failure))
        report.refused_before_sending = refused
        return kept + merge(again)

    def _read_strictly(self, message: QueuedMessage, now: int, dead: list[DeadLetter]) -> QueuedEvent | None:
        """The message's event, judged as the receiver judges one; an invalid one is quarantined (None)."""
        try:
            document = loads(message.body)
        except (ValueError, RecursionError):
            dead.append(self._dead(message, message.body, dlq.Failure(dlq.INVALID_EVENT, "body is not JSON")))
            return None
        if unmapped_envelope(document):
            # A body its mapping could not map, moved back by SQS's own redrive: only the replayer (which maps
            # it again) can make events of it. Back to the DLQ as it was, its source and reason kept.
            dead.append(DeadLetter(message, document))
            return None
        raw = unwrapped(document)
        try:
            return parse_event(
                raw, default_object_type=self._default_object_type, now_ms=now, max_future_ms=self._max_future_ms
            )
        except InvalidEventError as exc:
            dead.append(self._dead(message, raw, dlq.Failure(dlq.INVALID_EVENT, exc.message)))
            return None

    def _run_all(
        self, requests: list[BatchRequest[SqsRecord]], remaining_seconds: Callable[[], float], report: UpdateReport
    ) -> list[BatchOutcome]:
        if len(requests) <= 1 or self._max_in_flight == 1:
            return [self._run(request, remaining_seconds, report) for request in requests]
        outcomes: list[BatchOutcome] = []
        # While HubSpot answers within a few milliseconds, requests go one after another: threads would
        # only pass the interpreter lock back and forth. As soon as requests take longer (HubSpot's usual
        # latency, a limiter wait, a retry), the rest of the batch is sent several at a time.
        while len(outcomes) < len(requests) and not self._request_times.overlap_pays:
            outcomes.append(self._timed_run(requests[len(outcomes)], remaining_seconds, report))
        rest = requests[len(outcomes) :]
        if rest:
            # Requests touch different records: they may be in flight together (the limiter paces them).
            if self._pool is None:
                # Kept for the container's life: its threads are started once, not for every batch.
                self._pool = ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="hubspot")
            futures = [self._pool.submit(self._timed_run, request, remaining_seconds, report) for request in rest]
            wait(futures)  # one wake-up when all are done, not one per request
            outcomes.extend(future.result() for future in futures)
        return outcomes

    def _timed_run(
        self, request: BatchRequest[SqsRecord], remaining_seconds: Callable[[], float], report: UpdateReport
    ) -> BatchOutcome:
        started = time.perf_counter()
        outcome = self._run(request, remaining_seconds, report)
        if outcome.calls:  # one not sent at all (no time left, the daily limit) says nothing of HubSpot
            self._request_times.add(time.perf_counter() - started)
        return outcome

    def _run(
        self, request: BatchRequest[SqsRecord], remaining_seconds: Callable[[], float], report: UpdateReport
    ) -> BatchOutcome:
        settings = self._object_settings
        upsert = settings is not None and settings.upserts(request.object_type, request.id_property)
        if self._state is None:
            payload = {trace: item.as_input(trace) for trace, item in request.inputs.items()}
            return self.delivery.send(request.object_type, payload, remaining_seconds, upsert=upsert)
        return self._run_in_order(request, remaining_seconds, report, upsert)

    def _run_in_order(
        self,
        request: BatchRequest[SqsRecord],
        remaining_seconds: Callable[[], float],
        report: UpdateReport,
        upsert: bool = False,
    ) -> BatchOutcome:
        from hubsync.delivery.recordstate import LeaseLostError, RecordStateUnavailableError, superseded

        keys = {trace: record_key(item) for trace, item in request.inputs.items()}
        try:
            # The lease lasts as long as this invocation could still write: no one else writes these records meanwhile.
            leased = self._state.acquire(list(keys.values()), lease_until=time.time() + remaining_seconds())
            stored = self._state.read([key for key in keys.values() if key in leased])
        except RecordStateUnavailableError as exc:
            logger.error("record state unavailable: %s", exc.message)
            return not_sent(request.inputs, STATE_UNAVAILABLE, "the record state table is unavailable")
        outcome = BatchOutcome()
        deferred = [trace for trace, key in keys.items() if key not in leased]
        if deferred:
            outcome.absorb(not_sent(deferred, LEASED, "another updater instance is writing this record"))
        payload: dict[str, BatchInput] = {}
        for trace, item in request.inputs.items():
            if trace in deferred:
                continue
            old = superseded(item.property_times, stored.get(keys[trace], {}))
            with self._lock:
                report.superseded_values += len(old)
            properties = {name: value for name, value in item.properties.items() if name not in old}
            if not properties:
                outcome.superseded.add(trace)
                continue
            payload[trace] = item.as_input(trace, properties)
        sent = (
            self.delivery.send(request.object_type, payload, remaining_seconds, upsert=upsert)
            if payload
            else BatchOutcome()
        )
        outcome.absorb(sent)
        applied = {
            keys[trace]: {name: request.inputs[trace].property_times[name] for name in payload[trace]["properties"]}
            for trace in sent.applied
        }
        # A request whose outcome is unknown may still land, late: its records stay leased a while longer,
        # so that no other writer moves in before this one's retry sends the newest value again.
        held = [keys[trace] for trace in sent.in_doubt]
        try:
            self._state.commit(
                applied,
                release=[keys[trace] for trace in keys if trace not in deferred],
                hold=held,
                hold_until=time.time() + self._in_doubt_hold_seconds if held else None,
            )
        except LeaseLostError as exc:
            # Another run took these records meanwhile and may write an older value over the one just applied:
            # the events are not acknowledged, so their retry sends it again (harmless if it is still there).
            logger.error("a record lease expired before its times were stored: %s", exc.message)
            lost = set(exc.keys)
            self._unsettle(outcome, [t for t in sent.applied if keys[t] in lost], LEASE_LOST, exc.message)
        except RecordStateUnavailableError as exc:
            # HubSpot has the values but the times were not stored: acknowledged, an older event arriving later
            # would win. Not acknowledged, they are sent again (harmless) and stored then; the leases are left
            # as they are (held until they expire), so no other writer moves in before the retry.
            logger.error("could not store applied times; the events will be sent again: %s", exc.message)
            self._unsettle(outcome, list(sent.applied), STATE_UNAVAILABLE, "applied, but its time could not be stored")
        return outcome

    @staticmethod
    def _unsettle(outcome: BatchOutcome, traces: list[str], cause: str, message: str) -> None:
        """Applied inputs whose applied time was not stored: retried, not acknowledged."""
        failure = dlq.Failure(dlq.RETRIES_EXHAUSTED, message[:1000], None, None, cause)
        for trace in traces:
            outcome.applied.discard(trace)
            outcome.retry[trace] = failure

    def _settle(
        self,
        request: BatchRequest[SqsRecord],
        outcome: BatchOutcome,
        dead: list[DeadLetter],
        later: list[QueuedMessage],
        requeue: list[QueuedMessage],
        report: UpdateReport,
    ) -> None:
        oldest: int | None = None  # the earliest receipt among the applied events
        for trace, merged in request.inputs.items():
            sources = merged.sources
            if trace in outcome.applied:
                report.applied_events += len(sources)
                received = merged.oldest_received_at
                if received is not None and (oldest is None or received < oldest):
                    oldest = received
                continue
            if trace in outcome.superseded:
                report.superseded_events += len(sources)
                continue
            failure = outcome.retry.get(trace)
            if failure is not None and failure.cause == LEASED:
                report.deferred_records += 1
            for message in map(QueuedMessage.from_record, sources):
                if trace in outcome.failed:
                    dead.append(self._dead(message, event_of(message.body), outcome.failed[trace]))
                elif failure is not None and self._requeues(failure, message):
                    requeue.append(message)
                elif failure is not None and message.receive_count < self._max_receive_count:
                    report.retried_later += 1
                    report.failed_message_ids.append(message.message_id)
                    later.append(message)
                else:
                    # The last attempt: keep the event with its reason rather than let SQS move it bare.
                    last = failure or dlq.Failure(dlq.RETRIES_EXHAUSTED, "no verdict for input")
                    dead.append(self._dead(message, event_of(message.body), last))
        if oldest is not None:
            report.max_lag_ms = max(self._clock_ms() - oldest, report.max_lag_ms or 0)

    def _requeues(self, failure: dlq.Failure, message: QueuedMessage) -> bool:
        """Nobody's fault and nothing wrong with the event (the daily limit; a record another instance
        held through every receive): it waits as a new message rather than spend receives or land in the DLQ."""
        if self._redelivery is None:
            return False
        last = message.receive_count >= self._max_receive_count
        return failure.cause == DAILY_LIMIT or (failure.cause == LEASED and last)

    def _requeue(self, messages: list[QueuedMessage], report: UpdateReport) -> None:
        if not messages:
            return
        assert self._redelivery is not None
        failed = self._redelivery.requeue(messages)
        report.requeued += len(messages) - len(failed)
        report.failed_message_ids.extend(sorted(failed))

    def _dead(self, message: QueuedMessage, event: Any, failure: dlq.Failure) -> DeadLetter:
        return dead_letter(message, event, failure, now_ms=self._clock_ms())


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """A batch builds tens of thousands of small objects that live until it is settled, none of them in
    a cycle: reference counting frees them all when the batch is done, and the cycle collector, run
    every few thousand allocations meanwhile, would only scan them again and again (about a sixth of
    the updater's CPU, bench/overhead.py). Paused for one batch, and only if it was on; whatever
    cyclic garbage the batch leaves (exceptions' tracebacks) is collected after it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
