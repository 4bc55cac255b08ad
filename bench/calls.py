"""Calls: N events over K records arriving in one flush cost ceil(K/100) HubSpot calls (ratio 1.00).

The updater (no rate limiter, no record state) against the simulator in this process, every record created
beforehand; calls are counted by the simulator (``batch/update`` requests), not by the updater. Every event
is also checked: the last value of each record is the one HubSpot holds, and nothing went to the DLQ.
"""

from __future__ import annotations

import json
import math
import random

from bench._support import OBJECT, TOKEN, Headline, RecordingSqs, event_body, now_ms, record_ids, seed, spread, table
from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator

CASES = ((10_000, 2_000), (500, 130), (1_000, 1_000))  # (events N, records K)


def run_case(events: int, records: int) -> dict[str, float]:
    ids = record_ids(records)
    targets = spread(events, ids)
    start = now_ms() - events
    messages = [
        sqs_record(f"m{i}", event_body(rid, start + i, property_string=f"v{i}", property_number=str(i)))
        for i, rid in enumerate(targets)
    ]
    expected = {rid: f"v{i}" for i, rid in enumerate(targets)}  # later occurredAt wins: the last event per record
    dlq = RecordingSqs()
    with HubSpotSimulator(port=0, token=TOKEN, seed=seed(ids)) as sim:
        delivery = Delivery(
            HubSpotClient(sim.url, TOKEN, timeout_seconds=10),
            None,
            RetryPolicy(rng=random.Random(1)),
            call_seconds=11,
            reserve_seconds=1,
        )
        updater = Updater(delivery, QueueSender(dlq, "dlq"), default_object_type=OBJECT, max_receive_count=5)
        report = updater.process(messages, lambda: 900.0)
        batch_calls = [call for call in sim.calls if call.path.endswith("/batch/update")]
        held = {rid: record["properties"].get("property_string") for rid, record in sim.records(OBJECT).items()}
    wrong = sum(1 for rid, value in expected.items() if held.get(rid) != value)
    if wrong or report.applied_events != events or dlq.bodies or report.failed_message_ids:
        raise AssertionError(
            f"N={events} K={records}: {wrong} records hold a wrong value, {report.applied_events} events applied, "
            f"{len(dlq.bodies)} dead-lettered: {json.dumps(dlq.bodies[:1])}"
        )
    return {
        "calls": len(batch_calls),
        "optimum": math.ceil(records / 100),
        "max_inputs": max(call.inputs for call in batch_calls),
        "inputs": report.inputs,
    }


def main() -> list[Headline]:
    rows, headlines = [], []
    for events, records in CASES:
        result = run_case(events, records)
        ratio = result["calls"] / result["optimum"]
        rows.append(
            (f"N={events:,} K={records:,}", result["calls"], result["optimum"], result["max_inputs"], f"{ratio:.2f}")
        )
        headlines.append(
            Headline("calls", f"calls / ceil(K/100), N={events:,} K={records:,}", ratio, "1.00", ratio == 1)
        )
    table(("one flush (all applied, checked)", "HubSpot calls", "ceil(K/100)", "max inputs", "ratio"), rows)
    return headlines


if __name__ == "__main__":
    main()
