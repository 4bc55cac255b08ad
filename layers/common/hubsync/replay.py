"""Moving events from the DLQ back to the main queue, on demand.

A message leaves the DLQ only after its event was sent to the queue (delete after send). What the
filter does not match, and everything in a dry run, is made visible again when the run ends. Each
replay increments the event's ``replayCount``; past ``max_replays`` an event is left in the DLQ, so
nothing loops forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubsync.dlq import DeadLetter, unwrap
from hubsync.events import dumps
from hubsync.sqs import OutgoingMessage, QueueSender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

DEFAULT_MAX_REPLAYS = 5


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead letters to replay; empty means all."""

    categories: frozenset[str] = frozenset()

    def matches(self, dead: DeadLetter) -> bool:
        return not self.categories or dead.category in self.categories


@dataclass
class ReplayReport:
    dry_run: bool
    scanned: int = 0
    matched: int = 0
    moved: int = 0
    refused: int = 0  # past the replay limit, or not an event at all
    failed: int = 0  # send or delete failed; the message stays in the DLQ
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
    ) -> None:
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._queue = QueueSender(sqs, queue_url)
        self._max_replays = max_replays
        self._visibility = scan_visibility_seconds
        self._wait = wait_seconds

    def run(
        self,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        categories: Iterable[str] = (),
        keep_going: Callable[[], bool] = lambda: True,
    ) -> ReplayReport:
        report = ReplayReport(dry_run=dry_run)
        wanted = ReplayFilter(frozenset(categories))
        held: dict[str, str] = {}  # message id -> receipt handle, to release at the end
        empty_receives = 0
        try:
            while keep_going() and (limit is None or report.matched < limit) and empty_receives < 2:
                messages = self._receive()
                fresh = [m for m in messages if m["MessageId"] not in held]
                empty_receives = 0 if fresh else empty_receives + 1
                to_move: list[tuple[dict[str, Any], DeadLetter]] = []
                for message in fresh:
                    held[message["MessageId"]] = message["ReceiptHandle"]
                    report.scanned += 1
                    dead = unwrap(message["Body"])
                    if not wanted.matches(dead) or (limit is not None and report.matched >= limit):
                        continue
                    report.matched += 1
                    report.by_category[dead.category] = report.by_category.get(dead.category, 0) + 1
                    if not dry_run:
                        to_move.append((message, dead))
                for message_id in self._move(to_move, report):
                    held.pop(message_id)
        finally:
            self._release(held)
        return report

    def _receive(self) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=self._visibility,
            WaitTimeSeconds=self._wait,
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))  # type: ignore[arg-type]

    def _move(self, items: list[tuple[dict[str, Any], DeadLetter]], report: ReplayReport) -> list[str]:
        """Sends the events, deletes what was sent; returns the ids that left the DLQ."""
        outgoing: list[OutgoingMessage] = []
        handles: dict[str, str] = {}
        for message, dead in items:
            event = dead.event
            if not isinstance(event, dict):
                report.refused += 1
                continue
            count = event.get("replayCount", 0)
            count = count if isinstance(count, int) else 0
            if count >= self._max_replays:
                report.refused += 1
                continue
            body = dumps({**event, "replayCount": count + 1})
            outgoing.append(OutgoingMessage(key=message["MessageId"], body=body))
            handles[message["MessageId"]] = message["ReceiptHandle"]
        sent_failures = {f.key for f in self._queue.send(outgoing)}
        report.failed += len(sent_failures)
        sent = [key for key in handles if key not in sent_failures]
        deleted: list[str] = []
        for start in range(0, len(sent), 10):
            chunk = sent[start : start + 10]
            answer = self._sqs.delete_message_batch(
                QueueUrl=self._dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handles[key]} for i, key in enumerate(chunk)],
            )
            failed = {int(f["Id"]) for f in answer.get("Failed", [])}
            # A failed delete leaves a copy in the DLQ: a duplicate later, never a loss.
            report.failed += len(failed)
            deleted.extend(key for i, key in enumerate(chunk) if i not in failed)
        report.moved += len(deleted)
        return deleted

    def _release(self, held: dict[str, str]) -> None:
        handles = list(held.values())
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
                )
            except Exception:  # they become visible anyway when the scan's visibility timeout ends
                logger.warning("could not release %d DLQ messages; visible again in %ss", len(chunk), self._visibility)


def deadline_from(remaining_ms: Callable[[], int], reserve_ms: int = 15_000) -> Callable[[], bool]:
    """keep_going for a Lambda: stop while there is still time to release what is held."""
    return lambda: remaining_ms() > reserve_ms


def monotonic_deadline(seconds: float) -> Callable[[], bool]:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end
