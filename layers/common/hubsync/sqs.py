"""Sending to SQS in batches: at most 10 entries and 1 MiB a call, retrying the entries SQS refused.

``SendMessageBatch`` answers HTTP 200 even when some entries failed: every answer's ``Failed`` list
is checked, and entries that failed on SQS's side are sent again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1024 * 1024  # SQS: 1 MiB for one message and for a whole batch
# Headroom for attribute names/values and JSON escaping that SQS counts but we do not model exactly.
_ENTRY_OVERHEAD_BYTES = 1024


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send. ``key`` identifies it in the result (unique within one ``send`` call)."""

    key: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0

    @property
    def size(self) -> int:
        attributes = sum(len(k) + len(v) for k, v in self.attributes.items())
        return len(self.body.encode("utf-8")) + attributes + _ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True)
class SendFailure:
    key: str
    code: str
    message: str


def fits_in_a_message(body: str, attributes: dict[str, str] | None = None) -> bool:
    return OutgoingMessage("size", body, attributes or {}).size <= MAX_BATCH_BYTES


def _batches(messages: Sequence[OutgoingMessage]) -> Iterator[list[OutgoingMessage]]:
    batch: list[OutgoingMessage] = []
    size = 0
    for message in messages:
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + message.size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += message.size
    if batch:
        yield batch


class QueueSender:
    """Sends messages to one queue; returns what could not be sent rather than raising for it."""

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        attempts: int = 3,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendFailure]:
        failures: list[SendFailure] = []
        for batch in _batches(messages):
            failures.extend(self._send_batch(batch))
        return failures

    def _send_batch(self, batch: list[OutgoingMessage]) -> list[SendFailure]:
        pending = {str(i): m for i, m in enumerate(batch)}
        final: list[SendFailure] = []  # refused for the message itself (SenderFault): retrying cannot help
        last: dict[str, SendFailure] = {}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2**attempt)
            try:
                answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=_entries(pending))
            except Exception as exc:  # network or service error: the whole call may be retried
                last = {k: SendFailure(m.key, type(exc).__name__, str(exc)[:300]) for k, m in pending.items()}
                continue
            last = {}
            for failed in answer.get("Failed", []):
                message = pending[failed["Id"]]
                failure = SendFailure(message.key, failed.get("Code", ""), failed.get("Message", ""))
                if failed.get("SenderFault", False):
                    final.append(failure)
                else:
                    last[failed["Id"]] = failure
            if not last:
                break
            pending = {k: pending[k] for k in last}
        return final + list(last.values())


def _entries(pending: dict[str, OutgoingMessage]) -> Any:
    return [
        {
            "Id": entry_id,
            "MessageBody": message.body,
            **({"DelaySeconds": message.delay_seconds} if message.delay_seconds else {}),
            **(
                {
                    "MessageAttributes": {
                        name: {"DataType": "String", "StringValue": value}
                        for name, value in message.attributes.items()
                        if value
                    }
                }
                if message.attributes
                else {}
            ),
        }
        for entry_id, message in pending.items()
    ]
