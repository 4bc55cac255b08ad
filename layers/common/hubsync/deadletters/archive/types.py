"""The archived object's shape (JSON, one object per DLQ message)."""

from __future__ import annotations

from typing import Any, TypedDict

ARCHIVE_VERSION = 1
# Every archived object's key starts with this, then the day the message was first queued (UTC) and its id:
# dead-letters/2025/01/31/<message id>.json. The day is the message's own (SentTimestamp), not the archiving
# run's, so a run retried after a failed delete writes the same key again instead of a second copy.
KEY_PREFIX = "dead-letters/"


class ArchivedMessage(TypedDict):
    """A DLQ message as archived: its body exactly as SQS held it, so replay reads it as it reads the DLQ."""

    version: int
    messageId: str
    sentTimestamp: int  # epoch ms: when SQS first queued it (a redriven message keeps its first enqueue time)
    archivedAt: int  # epoch ms
    attributes: dict[str, str]  # SQS's system attributes (SentTimestamp, ApproximateReceiveCount, ...)
    messageAttributes: dict[str, dict[str, Any]]  # as ReceiveMessage gave them (DataType, StringValue)
    body: str
