"""Moving events from the DLQ back to the main queue, on demand.

A message leaves the DLQ only after its event was sent to the queue (delete after send). What the
filter does not match, and everything in a dry run, is made visible again when the run ends. Each
replay increments the event's ``replayCount``; past ``max_replays`` an event is left in the DLQ, so
nothing loops forever. No single message stops a run: one that cannot be read, matched or sent
(too large once counted, a call that raised) is counted (``refused`` or ``failed``), logged once
without its content, and left in the DLQ, and the run goes on.

With the webhook sources (``sources``), an UNMAPPED body is mapped again through its source's current
mapping, as the receiver would map it: its valid events go to the queue, its invalid ones to the DLQ as
INVALID_EVENT, and only then does the body leave the DLQ; a body that still cannot be mapped stays as it is.
A replayed event of a configured source is held to that source's allow-lists again (a rejected event is
not let through by a replay).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hubsync.config import DEFAULT_MAX_EVENTS_PER_REQUEST, DEFAULT_OBJECT_TYPE
from hubsync.deadletters import dlq
from hubsync.deadletters.dlq import DeadLetter, unwrap
from hubsync.events import dumps
from hubsync.exceptions import BadRequestError
from hubsync.intake.sources import Source
from hubsync.sqs import OutgoingMessage, QueueSender, receive, release

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

DEFAULT_MAX_REPLAYS = 5


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead letters to replay; every field left empty matches everything."""

    categories: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    object_types: frozenset[str] = frozenset()
    record_ids: frozenset[str] = frozenset()
    error_text: str | None = None  # a case-insensitive part of error.message
    since_ms: int | None = None  # failedAt, epoch ms
    until_ms: int | None = None

    def matches(self, dead: DeadLetter) -> bool:
        event = dead.event if isinstance(dead.event, dict) else {}
        checks = (
            not self.categories or dead.category in self.categories,
            not self.statuses or dead.error.get("status") in self.statuses,
            not self.object_types or event.get("objectType") in self.object_types,
            not self.record_ids or str(event.get("id")) in self.record_ids,
            not self.error_text or self.error_text.lower() in str(dead.error.get("message", "")).lower(),
        )
        return all(checks) and self._in_time(dead)

    def _in_time(self, dead: DeadLetter) -> bool:
        if self.since_ms is None and self.until_ms is None:
            return True
        failed_at = dead.failed_at_ms
        if failed_at is None:
            return False
        return (self.since_ms is None or failed_at >= self.since_ms) and (
            self.until_ms is None or failed_at <= self.until_ms
        )

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> ReplayFilter:
        """From the replayer Lambda's input: category(ies), status(es), objectType(s), recordId(s),
        errorText, since/until (ISO 8601 or epoch ms)."""

        def many(one: str, several: str) -> list[Any]:
            values = request.get(several) or ([request[one]] if request.get(one) is not None else [])
            return list(values) if isinstance(values, list) else [values]

        return cls(
            categories=frozenset(str(c) for c in many("category", "categories")),
            statuses=frozenset(int(s) for s in many("status", "statuses")),
            object_types=frozenset(str(t) for t in many("objectType", "objectTypes")),
            record_ids=frozenset(str(r) for r in many("recordId", "recordIds")),
            error_text=str(request["errorText"]) if request.get("errorText") else None,
            since_ms=_time_ms(request.get("since")),
            until_ms=_time_ms(request.get("until")),
        )


def _time_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass
class ReplayReport:
    dry_run: bool
    scanned: int = 0
    matched: int = 0
    moved: int = 0
    refused: int = 0  # past the replay limit, not an event at all, or too large to send once counted
    failed: int = 0  # could not be read, encoded, sent or deleted; the message stays in the DLQ
    by_category: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Replayer:
    """Scans the DLQ once and moves what matches. ``sqs`` is a boto3 SQS client."""

    def __init__(
        self,
        sqs: SQSClient,
        dlq_url: str,
        queue_url: str,
        *,
        max_replays: int = DEFAULT_MAX_REPLAYS,
        scan_visibility_seconds: int = 300,
        wait_seconds: int = 1,
        sources: Mapping[str, Source] | None = None,
        default_object_type: str = DEFAULT_OBJECT_TYPE,
        max_events: int = DEFAULT_MAX_EVENTS_PER_REQUEST,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._queue = QueueSender(sqs, queue_url)
        self._dead_letters = QueueSender(sqs, dlq_url)
        self._sources = dict(sources or {})
        # Compiled once, as the receiver does: a bad expression is a ConfigurationError before anything moves.
        self._mappers = _mappers(self._sources)
        self._default_object_type = default_object_type
        self._max_events = max_events
        self._clock_ms = clock_ms
        self._max_replays = max_replays
        self._visibility = scan_visibility_seconds
        self._wait = wait_seconds

    def run(
        self,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        categories: Iterable[str] = (),
        where: ReplayFilter | None = None,
        rate: float | None = None,
        keep_going: Callable[[], bool] = lambda: True,
        on_match: Callable[[dict[str, Any], DeadLetter], None] | None = None,
        on_progress: Callable[[ReplayReport], None] | None = None,
    ) -> ReplayReport:
        """One pass over the DLQ. ``rate`` caps moves per second (HubSpot's limit is shared);
        ``keep_going`` returning False stops at the next safe point (Ctrl-C, a Lambda's deadline)."""
        report = ReplayReport(dry_run=dry_run)
        wanted = where or ReplayFilter(categories=frozenset(categories))
        held: dict[str, str] = {}  # message id -> receipt handle, to release at the end
        empty_receives = 0
        try:
            while keep_going() and (limit is None or report.matched < limit) and empty_receives < 2:
                fresh = [m for m in self._receive() if m["MessageId"] not in held]
                empty_receives = 0 if fresh else empty_receives + 1
                to_move: list[tuple[dict[str, Any], DeadLetter]] = []
                for message in fresh:
                    held[message["MessageId"]] = message["ReceiptHandle"]
                    report.scanned += 1
                    try:
                        dead = _read(message)
                        if not wanted.matches(dead) or (limit is not None and report.matched >= limit):
                            continue
                    except Exception as exc:  # a forged envelope (an unhashable status, ...): this one only
                        _log_once(message, "could not be read", exc)
                        report.failed += 1
                        continue
                    report.matched += 1
                    report.by_category[dead.category] = report.by_category.get(dead.category, 0) + 1
                    if on_match:
                        on_match(message, dead)
                    if not dry_run:
                        to_move.append((message, dead))
                started = time.monotonic()
                for message_id in self._move(to_move, report):
                    held.pop(message_id)
                if rate and to_move:
                    time.sleep(max(0.0, len(to_move) / rate - (time.monotonic() - started)))
                if on_progress:
                    on_progress(report)
        finally:
            self._release(held)
        return report

    def inspect(self, limit: int | None = None) -> list[tuple[dict[str, Any], DeadLetter]]:
        """Every DLQ message (up to ``limit``), read and then made visible again: nothing moves."""
        seen: list[tuple[dict[str, Any], DeadLetter]] = []
        held: dict[str, str] = {}
        empty_receives = 0
        try:
            while (limit is None or len(seen) < limit) and empty_receives < 2:
                fresh = [m for m in self._receive() if m["MessageId"] not in held]
                empty_receives = 0 if fresh else empty_receives + 1
                for message in fresh:
                    held[message["MessageId"]] = message["ReceiptHandle"]
                    seen.append((message, _read(message)))
        finally:
            self._release(held)
        return seen[:limit] if limit is not None else seen

    def _receive(self) -> list[dict[str, Any]]:
        return receive(self._sqs, self._dlq_url, self._visibility, self._wait)

    def at_cap(self) -> int:
        """How many DLQ messages are at or past ``max_replays`` (read, then made visible again)."""
        return sum(1 for _, dead in self.inspect() if self._replays(dead) >= self._max_replays)

    def needs_own_moves(self) -> int:
        """How many DLQ messages SQS's own redrive would move wrongly: at or past ``max_replays`` (it does not
        count), or UNMAPPED (a body, not an event: only this replayer maps it again)."""
        return sum(
            1 for _, dead in self.inspect() if self._replays(dead) >= self._max_replays or dead.category == dlq.UNMAPPED
        )

    @staticmethod
    def _replays(dead: DeadLetter) -> int:
        count = dead.event.get("replayCount", 0) if isinstance(dead.event, dict) else 0
        return count if isinstance(count, int) and not isinstance(count, bool) else 0

    def _move(self, items: list[tuple[dict[str, Any], DeadLetter]], report: ReplayReport) -> list[str]:
        """Sends the events, deletes what was sent; returns the ids that left the DLQ."""
        outgoing: list[OutgoingMessage] = []
        handles: dict[str, str] = {}
        for message, dead in items:
            event = dead.event
            if dead.category == dlq.UNMAPPED and isinstance(event, str):
                if self._remap(message, dead, report):
                    handles[message["MessageId"]] = message["ReceiptHandle"]
                continue
            if not isinstance(event, dict) or self._replays(dead) >= self._max_replays:
                report.refused += 1
                continue
            refusal = self._not_allowed(dead, event)
            if refusal is not None:
                logger.warning("DLQ message %s not replayed: %s", message["MessageId"], refusal)
                report.refused += 1
                continue
            try:
                out = OutgoingMessage(
                    key=message["MessageId"], body=dumps({**event, "replayCount": self._replays(dead) + 1})
                )
                problem = out.problem()
            except Exception as exc:  # too deep to encode, ...: this one stays, the others go on
                _log_once(message, "could not be encoded", exc)
                report.failed += 1
                continue
            if problem is not None:  # too large once counted: it can never be sent as it is
                logger.warning(
                    "DLQ message %s not replayed: %s (%s)", message["MessageId"], problem.code, problem.message
                )
                report.refused += 1
                continue
            outgoing.append(out)
            handles[message["MessageId"]] = message["ReceiptHandle"]
        sent_failures = {f.key for f in self._queue.send(outgoing)}
        report.failed += len(sent_failures)
        sent = [key for key in handles if key not in sent_failures]
        deleted: list[str] = []
        for start in range(0, len(sent), 10):
            chunk = sent[start : start + 10]
            try:
                answer = self._sqs.delete_message_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": handles[key]} for i, key in enumerate(chunk)],
                )
            except Exception as exc:  # sent but not deleted: duplicates later, never a loss
                logger.warning("could not delete %d replayed DLQ messages: %s", len(chunk), type(exc).__name__)
                report.failed += len(chunk)
                continue
            failed = {int(f["Id"]) for f in answer.get("Failed", [])}
            # A failed delete leaves a copy in the DLQ: a duplicate later, never a loss.
            report.failed += len(failed)
            deleted.extend(key for i, key in enumerate(chunk) if i not in failed)
        report.moved += len(deleted)
        return deleted

    def _source_of(self, document: Mapping[str, Any] | None, event: Any) -> Source | None:
        name = (document or {}).get("source")
        if not isinstance(name, str) and isinstance(event, dict):
            name = event.get("source")
        return self._sources.get(name) if isinstance(name, str) else None

    def _not_allowed(self, dead: DeadLetter, event: dict[str, Any]) -> str | None:
        """Why the event's source may not write it (its allow-lists), or None. The rest of the event is judged
        by the updater, as every replayed event is; events of no configured source by the updater alone."""
        from hubsync.intake.mapping import AllowList

        source = self._source_of(dead.document, event)
        if source is None:
            return None
        allowed = AllowList(source.allowed_object_types(self._default_object_type), source.properties)
        properties = event.get("properties")
        names = list(properties) if isinstance(properties, dict) else []
        return allowed.refusal(event.get("objectType") or source.object_type or self._default_object_type, names)

    def _remap(self, message: dict[str, Any], dead: DeadLetter, report: ReplayReport) -> bool:
        """Maps an UNMAPPED body again and queues what it gives; True once every message was sent (the body
        may then leave the DLQ). Sent events of a body that then stays come again at its next replay:
        duplicates, never a loss."""
        from hubsync.intake.mapping import MappingError, judge, queued_body

        message_id = message["MessageId"]
        source = self._source_of(dead.document, None)
        mapper = self._mappers.get(source.name) if source is not None else None
        if source is None or mapper is None or not mapper.mapped:
            logger.warning("UNMAPPED DLQ message %s not replayed: its source has no mapping here", message_id)
            report.refused += 1
            return False
        try:
            raw_events = mapper.read(str(dead.event).encode("utf-8"))
        except (MappingError, BadRequestError) as exc:
            logger.warning("UNMAPPED DLQ message %s still cannot be mapped (%s); left", message_id, type(exc).__name__)
            report.refused += 1
            return False
        if len(raw_events) > self._max_events:
            logger.warning("UNMAPPED DLQ message %s maps to more than %d events; left", message_id, self._max_events)
            report.refused += 1
            return False
        now = self._clock_ms()
        judged = judge(
            source,
            raw_events,
            default_object_type=self._default_object_type,
            now_ms=now,
            max_future_ms=source.tolerance_seconds * 1000,
        )
        delivery = (dead.document or {}).get("webhookId")
        delivery_id = delivery if isinstance(delivery, str) and delivery else None
        events = [
            OutgoingMessage(
                key=f"{message_id}:{index}",
                body=dumps({**queued_body(event, source.name, delivery_id), "replayCount": 1}),
            )
            for index, event in judged.valid
        ]
        invalid = []
        for index, raw, reason in judged.invalid:
            document = dlq.envelope(raw, dlq.Failure(dlq.INVALID_EVENT, reason), now_ms=now, stage="replayer")
            document.update(source=source.name, webhookId=delivery_id or "")
            invalid.append(dlq.dlq_message(f"{message_id}:{index}", document))
        try:
            failed = bool(self._queue.send(events)) or bool(self._dead_letters.send(invalid))
        except Exception as exc:  # a send that raised: the body stays, the run goes on
            _log_once(message, "could not be sent", exc)
            failed = True
        if failed:
            report.failed += 1
        return not failed

    def _release(self, held: dict[str, str]) -> None:
        release(self._sqs, self._dlq_url, list(held.values()), self._visibility)


def _mappers(sources: Mapping[str, Source]) -> dict[str, Any]:
    if not sources:
        return {}
    from hubsync.intake.mapping import mappers_for

    return mappers_for(sources)


def _read(message: dict[str, Any]) -> DeadLetter:
    return unwrap(message["Body"], message.get("MessageAttributes"))


def _log_once(message: dict[str, Any], what: str, exc: BaseException) -> None:
    """The message's id and the error's type: never its content (events can hold personal data)."""
    logger.warning("DLQ message %s %s (%s); left in the DLQ", message.get("MessageId"), what, type(exc).__name__)


def deadline_from(remaining_ms: Callable[[], int], reserve_ms: int = 15_000) -> Callable[[], bool]:
    """keep_going for a Lambda: stop while there is still time to release what is held."""
    return lambda: remaining_ms() > reserve_ms


def monotonic_deadline(seconds: float) -> Callable[[], bool]:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end
