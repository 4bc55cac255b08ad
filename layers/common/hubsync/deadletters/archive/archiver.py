"""Copying dead letters close to expiry from the DLQ to S3, before SQS would delete them.

SQS deletes a message ``retention`` after it was first queued; a redriven message keeps that first enqueue
time in the DLQ, which is its ``SentTimestamp``. A message is due once ``SentTimestamp`` is older than
``archive_after_seconds``. Each due message is written to S3 (one object, see ``types.ArchivedMessage``) and
deleted from the DLQ only after S3 answered the put: a failed put, or an answer that does not confirm the
write, leaves the message in the DLQ. Messages not yet due, and those whose put failed, are made visible
again when the run ends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hubsync import config as _config
from hubsync.deadletters.archive.types import ARCHIVE_VERSION, KEY_PREFIX, ArchivedMessage
from hubsync.sqs import receive, release

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

DEFAULT_ARCHIVE_AFTER_SECONDS = _config.DEFAULT_ARCHIVE_AFTER_SECONDS
CONTENT_TYPE = "application/json"


def archive_key(message_id: str, sent_ms: int, prefix: str = KEY_PREFIX) -> str:
    """dead-letters/YYYY/MM/DD/<message id>.json, by the day SQS first queued the message (UTC)."""
    day = datetime.fromtimestamp(sent_ms / 1000, UTC).strftime("%Y/%m/%d")
    return f"{prefix}{day}/{message_id}.json"


def archived_message(message: dict[str, Any], sent_ms: int, now_ms: int) -> ArchivedMessage:
    """What is stored for one received DLQ message (binary attribute values base64-encoded)."""
    message_attributes: dict[str, dict[str, Any]] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        kept = {k: v for k, v in value.items() if k in ("DataType", "StringValue")}
        if "BinaryValue" in value:
            kept["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        message_attributes[name] = kept
    return {
        "version": ARCHIVE_VERSION,
        "messageId": message["MessageId"],
        "sentTimestamp": sent_ms,
        "archivedAt": now_ms,
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": message_attributes,
        "body": message["Body"],
    }


@dataclass
class ArchiveReport:
    scanned: int = 0
    archived: int = 0  # written to S3 and deleted from the DLQ
    not_due: int = 0  # younger than archive_after_seconds: left in the DLQ
    failed: int = 0  # put refused or unconfirmed, or the delete failed: the message stays in the DLQ
    interrupted: bool = False  # stopped by keep_going before the DLQ was scanned to its end

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Archiver:
    """One pass over the DLQ. ``s3`` is a boto3 S3 client (``put_object`` only), ``sqs`` a boto3 SQS client;
    ``clock`` gives the time in seconds (tests and operators pass ``archive_after_seconds=0`` rather than a
    fake clock: SQS sets SentTimestamp itself)."""

    def __init__(
        self,
        sqs: SQSClient,
        s3: Any,
        dlq_url: str,
        bucket: str,
        *,
        archive_after_seconds: float = DEFAULT_ARCHIVE_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
        scan_visibility_seconds: int = 300,
        wait_seconds: int = 1,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self._sqs = sqs
        self._s3 = s3
        self._dlq_url = dlq_url
        self._bucket = bucket
        self._after_ms = int(archive_after_seconds * 1000)
        self._clock = clock
        self._visibility = scan_visibility_seconds
        self._wait = wait_seconds
        self._prefix = key_prefix

    def run(self, keep_going: Callable[[], bool] = lambda: True) -> ArchiveReport:
        """Archives every due message; ``keep_going`` returning False stops at the next batch."""
        report = ArchiveReport()
        held: dict[str, str] = {}  # message id -> receipt handle, made visible again at the end
        empty_receives = 0
        try:
            while empty_receives < 2:
                if not keep_going():
                    report.interrupted = True
                    break
                fresh = [m for m in self._receive() if m["MessageId"] not in held]
                empty_receives = 0 if fresh else empty_receives + 1
                stored: list[dict[str, Any]] = []
                for message in fresh:
                    held[message["MessageId"]] = message["ReceiptHandle"]
                    report.scanned += 1
                    if self._store_if_due(message, report):
                        stored.append(message)
                for message_id in self._delete(stored, report):
                    held.pop(message_id)
        finally:
            self._release(held)
        return report

    # -- policy
    def _store_if_due(self, message: dict[str, Any], report: ArchiveReport) -> bool:
        """True once S3 holds the message's copy; False when it is not due or the put was not confirmed."""
        now_ms = int(self._clock() * 1000)
        sent_ms = _sent_ms(message)
        # Without a SentTimestamp its age is unknown: archived, as keeping it risks losing it unseen.
        if sent_ms is not None and now_ms - sent_ms < self._after_ms:
            report.not_due += 1
            return False
        document = archived_message(message, sent_ms if sent_ms is not None else now_ms, now_ms)
        key = archive_key(message["MessageId"], document["sentTimestamp"], self._prefix)
        if self._put(key, json.dumps(document, ensure_ascii=True).encode("ascii")):
            return True
        report.failed += 1
        return False

    # -- I/O
    def _receive(self) -> list[dict[str, Any]]:
        return receive(self._sqs, self._dlq_url, self._visibility, self._wait)

    def _put(self, key: str, data: bytes) -> bool:
        # Content-MD5 makes S3 check the bytes it stored against the ones sent (it refuses a mismatch).
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        try:
            answer = self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=CONTENT_TYPE, ContentMD5=digest
            )
        except Exception as exc:  # refused, unreachable, no permission: the message stays in the DLQ
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            # The key and the error code only: the body may carry customer data.
            logger.warning("archive put failed for %s: %s; the message stays in the DLQ", key, code)
            return False
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 200 or not answer.get("ETag"):
            logger.warning("archive put for %s not confirmed (HTTP %s); the message stays in the DLQ", key, status)
            return False
        return True

    def _delete(self, messages: list[dict[str, Any]], report: ArchiveReport) -> list[str]:
        """Deletes what S3 holds; returns the ids that left the DLQ."""
        deleted: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            try:
                answer = self._sqs.delete_message_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
                )
                failed = {int(f["Id"]) for f in answer.get("Failed", [])}
            except Exception:  # the copies are in S3 and the messages in the DLQ: archived again next run
                logger.warning("could not delete %d archived messages from the DLQ", len(chunk))
                failed = set(range(len(chunk)))
            # A failed delete leaves the message in the DLQ too: the next run writes the same key again.
            report.failed += len(failed)
            kept = [m["MessageId"] for i, m in enumerate(chunk) if i not in failed]
            report.archived += len(kept)
            deleted.extend(kept)
        return deleted

    def _release(self, held: dict[str, str]) -> None:
        release(self._sqs, self._dlq_url, list(held.values()), self._visibility)


def _sent_ms(message: dict[str, Any]) -> int | None:
    text = message.get("Attributes", {}).get("SentTimestamp")
    return int(text) if isinstance(text, str) and text.isdigit() else None
