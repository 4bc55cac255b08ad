"""A local SQS event source mapping: feeds the updater as Lambda's poller does.

Copied behaviours: a batch is handed over when it reaches BatchSize, ~6 MB, or when the batching
window has passed since the first message; ``ReportBatchItemFailures`` answers delete every message
not listed; a handler error, or an answer naming a message not in the batch, fails the whole batch.
Failed messages are not deleted: they come back after the visibility timeout, and SQS's redrive
policy moves them to the DLQ after maxReceiveCount receives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubsync_local.lambda_runtime import Handler, LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit


@dataclass(frozen=True)
class Flush:
    """One invocation of the updater."""

    messages: int
    failures: int
    whole_batch_failed: bool
    seconds: float


@dataclass
class PollerStats:
    flushes: list[Flush] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, flush: Flush) -> None:
        with self.lock:
            self.flushes.append(flush)


class SqsPoller:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        function_name: str,
        timeout_seconds: float,
        batch_size: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        enabled: Callable[[], bool] = lambda: True,
    ) -> None:
        self._sqs = sqs
        self._enabled = enabled  # the event source mapping's Enabled flag (hubsync pause/resume)
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self.handler = handler
        self._function_name = function_name
        self._timeout = timeout_seconds
        self.batch_size = batch_size
        self.window_seconds = window_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = PollerStats()
        self.busy = threading.Event()  # set while a batch is being gathered or processed
        self.paused_checks = 0  # how often the poller found its mapping disabled (tests wait on it)

    def start(self) -> None:
        self._stop.clear()  # a stopped poller can be started again
        self._thread = threading.Thread(target=self._run, name="local-sqs-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._enabled():
                    self.paused_checks += 1
                    self._stop.wait(0.2)  # paused: the queue keeps filling, nothing is delivered
                    continue
                self.poll_once()
            except Exception:  # the poller must outlive a bad batch, as Lambda's does
                logger.exception("local poller: batch failed")
                self._stop.wait(1)

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))  # type: ignore[arg-type]

    def gather(self) -> list[dict[str, Any]]:
        """Messages for one batch: until BatchSize, the payload limit, or the window closes."""
        batch: list[dict[str, Any]] = []
        size = 0
        first_at: float | None = None
        while not self._stop.is_set() and len(batch) < self.batch_size:
            if first_at is not None and self._clock() - first_at >= self.window_seconds:
                break
            messages = self._receive(wait_seconds=1)
            if messages and first_at is None:
                first_at = self._clock()
                self.busy.set()
            for message in messages:
                batch.append(message)
                size += len(message.get("Body", ""))
            if not messages and first_at is None:
                return []
            if size >= MAX_PAYLOAD_BYTES:
                break
        return batch

    def poll_once(self) -> Flush | None:
        batch = self.gather()
        if not batch:
            self.busy.clear()
            return None
        try:
            return self.invoke(batch)
        finally:
            self.busy.clear()

    def invoke(self, batch: list[dict[str, Any]]) -> Flush:
        started = self._clock()
        event = {"Records": [self._record(message) for message in batch]}
        ids = {message["MessageId"] for message in batch}
        failed: set[str]
        try:
            result = self.handler(event, LambdaContext(self._function_name, self._timeout))
            listed = {str(item.get("itemIdentifier") or "") for item in (result or {}).get("batchItemFailures", [])}
            failed = listed if listed <= ids else ids  # an unknown or empty identifier fails the whole batch
        except Exception:
            logger.exception("local poller: the updater raised; the whole batch will be retried")
            failed = ids
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        flush = Flush(len(batch), len(failed), failed == ids, self._clock() - started)
        self.stats.add(flush)
        return flush

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "dataType": value.get("DataType", "String"),
                "stringListValues": [],
                "binaryListValues": [],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": "us-east-1",
        }
