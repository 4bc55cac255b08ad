"""``hubsync archive``: what the scheduled ArchiverFunction does, run by hand (deployed stack or local).

``--older-than 0`` archives every DLQ message at once, which is how the local stack and the tests try it
(SQS sets SentTimestamp itself, so messages cannot be made old).
"""

from __future__ import annotations

from typing import Any

from hubsync.deadletters.archive import Archiver
from hubsync_cli.targets import Target, client


def run(target: Target, older_than_seconds: float) -> dict[str, Any]:
    target.need("dlq_url", "archive_bucket")
    archiver = Archiver(
        client("sqs"),
        client("s3"),
        str(target.dlq_url),
        str(target.archive_bucket),
        archive_after_seconds=older_than_seconds,
    )
    return archiver.run().as_dict()
