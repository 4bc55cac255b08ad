"""Queuing archived dead letters again: the archive's counterpart of hubsync.deadletters.replay.

The rules are the DLQ replay's: the event (never the envelope, never the message attributes) goes to the
event queue with ``replayCount`` + 1, and an event replayed ``max_replays`` times already stays where it is.
An object is deleted from the archive only after SQS took its event (delete after send), so a second run
does not queue it again; a failed send leaves the object, a failed delete leaves it too (a duplicate later,
which the updater's ordering makes harmless, never a loss).

One more rule, because archived events can be months old: an event that occurred longer ago than the record
state keeps applied times (``stale_after_seconds``, the record state TTL) is left in the archive unless
``allow_stale``. For such an event the updater may no longer know that a newer value was applied since, and
would overwrite it. Younger events are safe: any newer write to their record happened after them, so within
the TTL, and its times are still stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hubsync.deadletters.archive.exceptions import NotAnArchiveObjectError
from hubsync.deadletters.archive.reader import ArchivedLetter, ArchiveReader
from hubsync.deadletters.archive.types import KEY_PREFIX
from hubsync.deadletters.replay import DEFAULT_MAX_REPLAYS, ReplayFilter, ReplayReport
from hubsync.events import dumps
from hubsync.sqs import OutgoingMessage, QueueSender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 30 * 86_400  # hubsync.delivery.recordstate.DEFAULT_TTL_SECONDS (a test keeps them equal)


@dataclass
class ArchiveReplayReport(ReplayReport):
    stale: int = 0  # occurred before the record state's memory: left in the archive (allow_stale moves them)
    unreadable: int = 0  # objects that are not archived DLQ messages: left in the bucket


def replay_body(event: Any, max_replays: int) -> str | None:
    """The event as queued again (replayCount + 1), or None when it must not be replayed."""
    if not isinstance(event, dict):
        return None
    count = event.get("replayCount", 0)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 0
    if count >= max_replays:
        return None
    return dumps({**event, "replayCount": count + 1})


def occurred_at_ms(event: Any) -> int | None:
    """The event's occurredAt as epoch ms (queued events carry epoch ms; ISO 8601 is read too)."""
    value = event.get("occurredAt") if isinstance(event, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    return None


class ArchiveReplayer:
    """Moves archived events back to the event queue. ``s3``: a boto3 S3 client (list, get, delete)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        sqs: SQSClient,
        queue_url: str,
        *,
        max_replays: int = DEFAULT_MAX_REPLAYS,
        stale_after_seconds: float = STALE_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._reader = ArchiveReader(s3, bucket)
        self._queue = QueueSender(sqs, queue_url)
        self._max_replays = max_replays
        self._stale_ms = int(stale_after_seconds * 1000)
        self._clock = clock

    def run(
        self,
        *,
        prefix: str = KEY_PREFIX,
        where: ReplayFilter | None = None,
        dry_run: bool = False,
        limit: int | None = None,
        allow_stale: bool = False,
        keep_going: Callable[[], bool] = lambda: True,
        on_match: Callable[[ArchivedLetter], None] | None = None,
    ) -> ArchiveReplayReport:
        """One pass over the objects under ``prefix``, ten at a time (one SendMessageBatch each)."""
        report = ArchiveReplayReport(dry_run=dry_run)
        wanted = where or ReplayFilter()
        batch: list[tuple[ArchivedLetter, str]] = []
        for key in self._reader.keys(prefix):
            if not keep_going() or (limit is not None and report.matched >= limit):
                break
            letter = self._read(key, report)
            if letter is None or not wanted.matches(letter.dead):
                continue
            report.matched += 1
            report.by_category[letter.dead.category] = report.by_category.get(letter.dead.category, 0) + 1
            if on_match:
                on_match(letter)
            body = self._body(letter, report, allow_stale)
            if body is None or dry_run:
                continue
            batch.append((letter, body))
            if len(batch) == 10:
                self._move(batch, report)
                batch = []
        if batch:
            self._move(batch, report)
        return report

    # -- policy
    def _read(self, key: str, report: ArchiveReplayReport) -> ArchivedLetter | None:
        report.scanned += 1
        try:
            return self._reader.read(key)
        except NotAnArchiveObjectError as exc:
            logger.warning("%s; left in the bucket", exc.message)
            report.unreadable += 1
            return None

    def _body(self, letter: ArchivedLetter, report: ArchiveReplayReport, allow_stale: bool) -> str | None:
        body = replay_body(letter.dead.event, self._max_replays)
        if body is None:
            report.refused += 1
            return None
        occurred = occurred_at_ms(letter.dead.event)
        now_ms = int(self._clock() * 1000)
        # Unknown time counts as stale: the updater could not be trusted to order it.
        if not allow_stale and (occurred is None or now_ms - occurred > self._stale_ms):
            report.stale += 1
            return None
        return body

    # -- I/O
    def _move(self, batch: list[tuple[ArchivedLetter, str]], report: ArchiveReplayReport) -> None:
        outgoing = [OutgoingMessage(key=letter.key, body=body) for letter, body in batch]
        not_sent = {failure.key for failure in self._queue.send(outgoing)}
        report.failed += len(not_sent)
        for letter, _ in batch:
            if letter.key in not_sent:
                continue
            try:
                self._s3.delete_object(Bucket=self._bucket, Key=letter.key)
            except Exception as exc:  # queued and still archived: a later run would queue it again
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                logger.warning("queued %s but could not delete it from the archive: %s", letter.key, code)
                report.failed += 1
                continue
            report.moved += 1
