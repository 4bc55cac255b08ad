"""Sending to SQS in batches, within SQS's own rules, retrying the entries SQS refused.

SQS's rules, as documented for SendMessage and SendMessageBatch, enforced here before anything is sent:

- A message body and every String attribute value may hold only #x9 | #xA | #xD | #x20-#xD7FF |
  #xE000-#xFFFD | #x10000-#x10FFFF (anything else: InvalidMessageContents). JSON bodies are made
  safe by ``sqs_json``: the characters SQS refuses become ``\\uXXXX`` escapes, so the document is
  intact when decoded.
- A message's size is its body's UTF-8 bytes plus, for each attribute, the bytes of its name, its
  data type and its value: at most the queue's MaximumMessageSize (``MAX_MESSAGE_BYTES``, which the
  template sets explicitly). A batch holds at most 10 entries and 1 MiB in all.

A message that breaks them is not sent (SQS would refuse it on every attempt, and a batch over the
limit would be refused whole): it comes back as a ``SendFailure`` at once. ``SendMessageBatch`` answers
HTTP 200 even when some entries failed: every answer's ``Failed`` list is checked, and entries that
failed on SQS's side are sent again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1024 * 1024  # SQS: the entries of one SendMessageBatch together
MAX_MESSAGE_BYTES = 1024 * 1024  # SQS's largest MaximumMessageSize; the template sets the queues to it
MAX_ATTRIBUTES = 10  # SQS: message attributes per message
_STRING = "String"  # every attribute hubsync sends is a String; its data type counts towards the size

# What SQS refuses, in the two forms that matter: any character outside its set (checked before
# sending), and the ones JSON leaves raw (ensure_ascii=False escapes control characters below U+0020
# already, so what remains are surrogates and the two non-characters U+FFFE and U+FFFF).
_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_REFUSED_IN_JSON = re.compile("[\ud800-\udfff\ufffe\uffff]")


def sqs_safe_json(text: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` with every character SQS refuses written as
    a ``\\uXXXX`` escape. Such characters only occur inside JSON strings, where the escape means the same
    character, so the text decodes to the same document. (Two adjacent surrogates, which a str can hold
    only if built so, are written as two escapes: a JSON decoder reads them as the pair they form.)"""
    if _REFUSED_IN_JSON.search(text) is None:  # the usual case: one scan, no copy
        return text
    return _REFUSED_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def refused_character(text: str) -> str | None:
    """The first character of ``text`` that SQS refuses in a body or a String attribute value, or None."""
    found = _REFUSED.search(text)
    return None if found is None else found.group()


def escape_refused(text: str) -> str:
    """Plain text (an attribute value) with every character SQS refuses written as ``\\uXXXX``: for
    informational text only, as a backslash already in it is not escaped."""
    if _REFUSED.search(text) is None:
        return text
    return _REFUSED.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8; a lone surrogate (which SQS refuses anyway) counts as the 3 bytes it
    would take, instead of raising."""
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send. ``key`` identifies it in the result (unique within one ``send`` call).
    Attributes with an empty value are not sent (SQS refuses empty String values)."""

    key: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0

    @property
    def sent_attributes(self) -> dict[str, str]:
        return {name: value for name, value in self.attributes.items() if value}

    @cached_property
    def size(self) -> int:
        """The bytes SQS counts: the body's UTF-8 bytes, and each attribute's name, type and value."""
        return utf8_length(self.body) + attributes_size(self.sent_attributes)

    def problem(self, max_bytes: int = MAX_MESSAGE_BYTES) -> SendFailure | None:
        """Why SQS would refuse this message, checked here by SQS's documented rules; None if it would not."""
        if not self.body:
            return SendFailure(self.key, "MissingParameter", "the message body is empty")
        if refused_character(self.body) is not None:
            return SendFailure(self.key, "InvalidMessageContents", "the body holds a character SQS refuses")
        attributes = self.sent_attributes
        if len(attributes) > MAX_ATTRIBUTES:
            return SendFailure(self.key, "InvalidParameterValue", f"more than {MAX_ATTRIBUTES} message attributes")
        for name, value in attributes.items():
            if refused_character(value) is not None:
                reason = f"attribute {name!r} holds a character SQS refuses"
                return SendFailure(self.key, "InvalidParameterValue", reason)
        if self.size > max_bytes:
            return SendFailure(self.key, "MessageTooLong", f"{self.size} bytes, more than {max_bytes}")
        return None


def attributes_size(attributes: Mapping[str, str]) -> int:
    return sum(utf8_length(name) + len(_STRING) + utf8_length(value) for name, value in attributes.items())


@dataclass(frozen=True)
class SendFailure:
    key: str
    code: str
    message: str


def fits_in_a_message(body: str, attributes: dict[str, str] | None = None, reserve: int = 0) -> bool:
    """Whether the message is within SQS's size limit with ``reserve`` bytes to spare."""
    return OutgoingMessage("size", body, attributes or {}).size + reserve <= MAX_MESSAGE_BYTES


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
        sendable: list[OutgoingMessage] = []
        for message in messages:
            problem = message.problem()
            if problem is None:
                sendable.append(message)
            else:  # SQS would refuse it every time (or refuse its whole batch): not sent at all
                failures.append(problem)
        for batch in _batches(sendable):
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
    entries = []
    for entry_id, message in pending.items():
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.body}
        if message.delay_seconds:
            entry["DelaySeconds"] = message.delay_seconds
        attributes = message.sent_attributes
        if attributes:
            entry["MessageAttributes"] = {
                name: {"DataType": _STRING, "StringValue": value} for name, value in attributes.items()
            }
        entries.append(entry)
    return entries


def release(client: SQSClient, queue_url: str, receipt_handles: Sequence[str], hidden_seconds: int) -> None:
    """Makes received messages visible again at once, ten a call. Best effort: a message it could not
    release becomes visible anyway when the ``hidden_seconds`` it was received with are over."""
    for start in range(0, len(receipt_handles), MAX_BATCH_ENTRIES):
        chunk = receipt_handles[start : start + MAX_BATCH_ENTRIES]
        try:
            client.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
            )
        except Exception:  # they become visible anyway when the visibility timeout they were received with ends
            logger.warning("could not release %d messages; visible again in %ss", len(chunk), hidden_seconds)


def receive(client: SQSClient, queue_url: str, hidden_seconds: int, wait_seconds: int) -> list[dict[str, Any]]:
    """Up to ten messages with all their attributes, hidden from other receivers for ``hidden_seconds``."""
    answer = client.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=MAX_BATCH_ENTRIES,
        VisibilityTimeout=hidden_seconds,
        WaitTimeSeconds=wait_seconds,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    return list(answer.get("Messages", []))  # type: ignore[arg-type]
