"""``hubsync pause|resume|status``: stop and restart delivery to HubSpot (the updater's event source
mapping) while the webhook keeps accepting; see queue depths, oldest message age, mapping state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hubsync_local.ops.targets import Target, client


def set_enabled(target: Target, enabled: bool) -> dict[str, Any]:
    target.need("mapping_id")
    answer = client("lambda").update_event_source_mapping(UUID=target.mapping_id, Enabled=enabled)
    return {"mapping": target.mapping_id, "state": answer.get("State")}


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


def status(target: Target) -> dict[str, Any]:
    target.need("queue_url", "dlq_url")
    sqs = client("sqs")
    result: dict[str, Any] = {
        "queue": {**_depths(sqs, str(target.queue_url)), "oldest_age_seconds": _oldest_age(str(target.queue_url))},
        "dlq": _depths(sqs, str(target.dlq_url)),
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
