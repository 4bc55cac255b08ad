"""Bringing failed messages back at the right time.

A message in ``batchItemFailures`` comes back only when its visibility timeout ends (1020 s in the
template). For a transient failure that is too long: its visibility is shortened to an exponential
schedule by receive count (30 s, 120 s, 480 s, 900 s by default). When HubSpot's daily limit is
reached, nothing will succeed for hours, and every receive brings a message closer to the DLQ, so
its events are re-queued as new messages (delayed 15 minutes) and the originals acknowledged: the
copy is sent before the original is let go, so nothing is lost (at worst an event is sent twice,
which the merge and the ordering state make harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from hubsync.sqs import OutgoingMessage, QueueSender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds


class Redeliverable(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def receive_count(self) -> int: ...

    @property
    def receipt_handle(self) -> str | None: ...


class Redelivery:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        base_seconds: int = 30,
        max_seconds: int = 900,
        requeue_delay_seconds: int = MAX_DELAY_SECONDS,
    ) -> None:
        self._sqs = sqs
        self.requeue_delay_seconds = requeue_delay_seconds
        self._queue_url = queue_url
        self._queue = QueueSender(sqs, queue_url)
        self._base = base_seconds
        self._max = max_seconds

    def delay_for(self, receive_count: int) -> int:
        return int(min(self._max, self._base * 4 ** max(0, receive_count - 1)))

    def retry_later(self, messages: Sequence[Redeliverable]) -> None:
        """Best effort: a failure here only means the message waits out its whole visibility timeout."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": self.delay_for(m.receive_count)}
            for i, m in enumerate(messages)
            if m.receipt_handle
        ]
        for start in range(0, len(entries), 10):
            try:
                answer = self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=entries[start : start + 10],  # type: ignore[arg-type]
                )
            except Exception as exc:  # best effort, see above
                logger.warning("could not shorten the retry wait of %d messages: %s", len(entries), type(exc).__name__)
                continue
            if answer.get("Failed"):
                logger.warning("could not shorten the retry wait of %d messages", len(answer["Failed"]))

    def requeue(self, messages: Sequence[Redeliverable], delay_seconds: int | None = None) -> set[str]:
        """Sends each message's body again as a new, delayed message; returns the ids that could not be.
        The bodies go as SQS delivered them: within its character set already, and checked again
        (characters, size) by the QueueSender like every message hubsync sends."""
        wanted = self.requeue_delay_seconds if delay_seconds is None else delay_seconds
        delay = str(min(MAX_DELAY_SECONDS, max(0, wanted)))
        outgoing = [OutgoingMessage(m.message_id, m.body, delay_seconds=int(delay)) for m in messages]
        return {failure.key for failure in self._queue.send(outgoing)}
