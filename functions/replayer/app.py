"""ReplayerFunction: moves DLQ messages back to the main queue on demand.

Input (all optional): {"dryRun": true, "limit": 100, "rate": 50, "category": "OBJECT_NOT_FOUND"} and the
other filters of hubsync.deadletters.replay.ReplayFilter.from_request (statuses, objectTypes, recordIds, errorText,
since, until). Answers the replay report.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from hubsync.config import Settings
from hubsync.deadletters.replay import ReplayFilter, deadline_from
from hubsync.factory import build_replayer

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event = event or {}
    limit = event.get("limit")
    rate = event.get("rate")
    report = build_replayer(Settings.from_env()).run(
        dry_run=bool(event.get("dryRun", False)),
        limit=int(limit) if limit is not None else None,
        where=ReplayFilter.from_request(event),
        rate=float(rate) if rate else None,
        keep_going=deadline_from(context.get_remaining_time_in_millis),
    )
    logger.info("replay done", extra=report.as_dict())
    return report.as_dict()
