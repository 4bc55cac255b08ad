"""``hubsync pause|resume|status``: stop and restart delivery to HubSpot (the updater's event source
mapping) while the webhook keeps accepting; see queue depths, oldest message age, mapping state, and when
the oldest message of each queue will expire.

When the oldest message expires: SQS deletes a message MessageRetentionPeriod after it was first queued
(a message redriven to the DLQ keeps that time). Its age comes from two lower bounds, the larger one wins:
CloudWatch's ApproximateAgeOfOldestMessage (for the DLQ that is the time since the message reached it, so
short for redriven messages), and, for the DLQ only, the oldest SentTimestamp among up to 10 messages
peeked with visibility 0 (cheap; the DLQ has no redrive, so the receive it counts does no harm). The main
queue is never peeked: each receive counts towards its redrive and could push events into the DLQ. As both
are lower bounds of the age, ``oldest_expires_by`` is the latest the oldest message can expire, never later
than the truth; ``null`` (unknown) when neither exists, as on the local emulator's main queue.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from hubsync_cli.targets import Target, client


def set_enabled(target: Target, enabled: bool) -> dict[str, Any]:
    target.need("mapping_id")
    answer = client("lambda").update_event_source_mapping(UUID=target.mapping_id, Enabled=enabled)
    result: dict[str, Any] = {"mapping": target.mapping_id, "state": answer.get("State")}
    if not enabled and target.queue_url:
        # Paused, events wait on the queue: say how long the oldest one has before SQS deletes it.
        result["queue"] = expiry(client("sqs"), str(target.queue_url), peek=False)
    return result


def _depths(sqs: Any, url: str) -> dict[str, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {
        "visible": int(attributes.get(names[0], 0)),
        "in_flight": int(attributes.get(names[1], 0)),
        "delayed": int(attributes.get(names[2], 0)),
    }


def _oldest_age(url: str) -> float | None:
    """SQS's ApproximateAgeOfOldestMessage exists only in CloudWatch (None where there is no data)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    now = dt.datetime.now(dt.UTC)
    try:
        points = client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": name}],
            StartTime=now - dt.timedelta(minutes=10),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except Exception:  # no CloudWatch (the emulator) or no permission: say unknown
        return None
    return max((p["Maximum"] for p in points), default=None)


def _peeked_age(sqs: Any, url: str, now: float) -> float | None:
    """The age of the oldest of up to 10 messages, received with visibility 0 (they stay visible)."""
    try:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            AttributeNames=["SentTimestamp"],
        ).get("Messages", [])
    except Exception:  # no permission to receive: say unknown
        return None
    sent = [int(m["Attributes"]["SentTimestamp"]) for m in messages if "SentTimestamp" in m.get("Attributes", {})]
    return max(0.0, now - min(sent) / 1000) if sent else None


def expiry(sqs: Any, url: str, *, peek: bool, now: float | None = None) -> dict[str, Any]:
    """Retention, the oldest message's age (a lower bound) and when it expires at the latest."""
    now = time.time() if now is None else now
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["MessageRetentionPeriod", "ApproximateNumberOfMessages"]
    )["Attributes"]
    retention = int(attributes.get("MessageRetentionPeriod", 345600))  # SQS's default: 4 days
    ages = {"cloudwatch": _oldest_age(url)}
    if peek:
        ages["sentTimestamp"] = _peeked_age(sqs, url, now)
    known = {source: age for source, age in ages.items() if age is not None}
    result: dict[str, Any] = {
        "retention_seconds": retention,
        "oldest_age_seconds": None,
        "oldest_age_from": None,
        "oldest_expires_in_seconds": None,
        "oldest_expires_by": None,
    }
    if int(attributes.get("ApproximateNumberOfMessages", 0)) == 0 and not known:
        return result  # nothing waiting, nothing to expire
    if not known:
        result["oldest_age_from"] = "unknown"  # messages wait, but nothing says how old the oldest is
    if known:
        source, age = max(known.items(), key=lambda item: item[1])
        left = max(0.0, retention - age)
        result.update(
            oldest_age_seconds=round(age),
            oldest_age_from=source,
            oldest_expires_in_seconds=round(left),
            oldest_expires_by=dt.datetime.fromtimestamp(now + left, dt.UTC).isoformat(timespec="seconds"),
        )
    return result


def status(target: Target) -> dict[str, Any]:
    target.need("queue_url", "dlq_url")
    sqs = client("sqs")
    queue, dlq = str(target.queue_url), str(target.dlq_url)
    result: dict[str, Any] = {
        "queue": {**_depths(sqs, queue), **expiry(sqs, queue, peek=False)},
        "dlq": {**_depths(sqs, dlq), **expiry(sqs, dlq, peek=True)},
    }
    if target.mapping_id:
        mapping = client("lambda").get_event_source_mapping(UUID=target.mapping_id)
        result["mapping"] = {
            "id": target.mapping_id,
            "state": mapping.get("State"),
            "batch_size": mapping.get("BatchSize"),
            "batching_window_seconds": mapping.get("MaximumBatchingWindowInSeconds"),
            "maximum_concurrency": (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        }
    return result
