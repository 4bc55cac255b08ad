"""``hubsync dlq stats|ls|show``: what is in the dead-letter queue and why. Nothing moves."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from hubsync.deadletters.dlq import DeadLetter
from hubsync.deadletters.replay import Replayer, ReplayFilter
from hubsync_cli.targets import Target, client

AGE_BUCKETS = ((3600, "< 1 h"), (86_400, "< 1 day"), (7 * 86_400, "< 7 days"))


def _replayer(target: Target) -> Replayer:
    target.need("dlq_url", "queue_url")
    assert target.dlq_url and target.queue_url
    return Replayer(client("sqs"), target.dlq_url, target.queue_url, wait_seconds=0)


def _age_bucket(dead: DeadLetter, now_ms: int) -> str:
    failed = dead.failed_at_ms
    if failed is None:
        return "unknown"
    age = (now_ms - failed) / 1000
    for limit, label in AGE_BUCKETS:
        if age < limit:
            return label
    return ">= 7 days"


def stats(target: Target) -> dict[str, Any]:
    letters = _replayer(target).inspect()
    now = int(time.time() * 1000)
    counts: dict[str, Counter[str]] = {name: Counter() for name in ("category", "status", "objectType", "cause", "age")}
    for _, dead in letters:
        event = dead.event if isinstance(dead.event, dict) else {}
        counts["category"][dead.category] += 1
        counts["status"][str(dead.error.get("status"))] += 1
        counts["objectType"][str(event.get("objectType", "?"))] += 1
        counts["cause"][str(dead.error.get("cause") or "-")] += 1
        counts["age"][_age_bucket(dead, now)] += 1
    return {"total": len(letters), **{name: dict(counter.most_common()) for name, counter in counts.items()}}


def summary_line(message: dict[str, Any], dead: DeadLetter) -> str:
    event = dead.event if isinstance(dead.event, dict) else {}
    document = dead.document or {}
    parts = [
        message["MessageId"],
        str(document.get("failedAt", "-")),
        dead.category,
        str(dead.error.get("status") or "-"),
        str(event.get("objectType", "-")),
        str(event.get("id", "-")),
        str(dead.error.get("message", ""))[:100],
    ]
    return "  ".join(parts)


def ls(target: Target, where: ReplayFilter, limit: int) -> list[str]:
    return [summary_line(m, d) for m, d in _replayer(target).inspect() if where.matches(d)][:limit]


def show(target: Target, message_id: str) -> dict[str, Any] | None:
    for message, dead in _replayer(target).inspect():
        if message["MessageId"] == message_id:
            body: Any = dead.document if dead.document is not None else dead.event
            return {
                "messageId": message_id,
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()},
                "body": body,
            }
    return None


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))
