"""Reading archived dead letters back from S3, by key prefix, oldest day first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hubsync.deadletters.archive.exceptions import NotAnArchiveObjectError
from hubsync.deadletters.archive.types import KEY_PREFIX, ArchivedMessage
from hubsync.deadletters.dlq import DeadLetter, unwrap


@dataclass(frozen=True)
class ArchivedLetter:
    """One archived DLQ message: its object key, the stored document and the dead letter in its body."""

    key: str
    document: ArchivedMessage
    dead: DeadLetter

    @property
    def message_id(self) -> str:
        return self.document["messageId"]


def parse_archived(key: str, data: bytes) -> ArchivedLetter:
    """The object's document; NotAnArchiveObjectError when it is not one the archiver wrote."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise NotAnArchiveObjectError(f"{key}: not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("body"), str):
        raise NotAnArchiveObjectError(f"{key}: not an archived DLQ message (no body)")
    if not isinstance(document.get("messageId"), str):
        raise NotAnArchiveObjectError(f"{key}: not an archived DLQ message (no messageId)")
    return ArchivedLetter(key=key, document=document, dead=unwrap(document["body"]))  # type: ignore[arg-type]


def day_prefix(day: str | None) -> str:
    """The key prefix of a day or part of one: "2025-01-31", "2025/01" or "2025" -> dead-letters/2025/01/31...
    A value already starting with dead-letters/ is used as it is."""
    if not day:
        return KEY_PREFIX
    text = day.strip()
    if text.startswith(KEY_PREFIX):
        return text
    return KEY_PREFIX + text.replace("-", "/").strip("/")


class ArchiveReader:
    """Lists and reads archived objects. ``s3`` is a boto3 S3 client (list_objects_v2, get_object)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def keys(self, prefix: str = KEY_PREFIX) -> Iterator[str]:
        """Every key under the prefix, in S3's order (ascending, so oldest day first)."""
        token: str | None = None
        while True:
            options: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            if token:
                options["ContinuationToken"] = token
            answer = self._s3.list_objects_v2(**options)
            for item in answer.get("Contents", []):
                yield str(item["Key"])
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return

    def read(self, key: str) -> ArchivedLetter:
        data = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return parse_archived(key, data)
