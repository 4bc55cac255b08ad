"""One updater instance for the goodput benchmark, in its own process: ``python -m bench._goodput_worker JSON``.

Waits until ``start_at`` (epoch seconds, so instances start together), then processes batches of one event per
record over its own records, back to back, until ``seconds`` have passed; prints a JSON summary on stdout.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from typing import Any

from bench._support import OBJECT, TOKEN, RecordingSqs, event_body, now_ms
from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.ratelimit import RateLimiter
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record


def run(config: dict[str, Any]) -> dict[str, Any]:
    records: list[str] = config["records"]
    limiter = (
        RateLimiter(
            limit=config["limit"],
            interval_seconds=config["interval_seconds"],
            instances=config["instances"],
            max_in_flight=config["max_in_flight"],
        )
        if config["limiter"]
        else None
    )
    delivery = Delivery(
        HubSpotClient(config["url"], TOKEN, timeout_seconds=10),
        limiter,
        RetryPolicy(rng=random.Random(config["index"])),
        call_seconds=11,
        reserve_seconds=1,
    )
    dlq = RecordingSqs()
    updater = Updater(
        delivery,
        QueueSender(dlq, "dlq"),
        default_object_type=OBJECT,
        max_receive_count=5,
        max_in_flight=config["max_in_flight"],
    )
    time.sleep(max(0.0, config["start_at"] - time.time()))
    end = time.monotonic() + config["seconds"]
    totals: Counter[str] = Counter()
    batch = 0
    while time.monotonic() < end:
        at = now_ms()
        messages = [
            sqs_record(f"b{batch}-{i}", event_body(rid, at, property_string=f"b{batch}"))
            for i, rid in enumerate(records)
        ]
        report = updater.process(messages, lambda: 900.0)
        totals.update(
            calls=report.calls,
            rate_limited=report.rate_limited,
            applied=report.applied_events,
            not_applied=len(report.failed_message_ids),
            dead_lettered=sum(report.dead_lettered.values()),
        )
        batch += 1
    return {**totals, "batches": batch, "dlq_messages": len(dlq.bodies)}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
