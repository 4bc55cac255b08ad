"""The error table (docs/delivery.md), answer by answer, against the simulator (real HTTP) and moto's DLQ.

Each row: what HubSpot answers (twice: both attempts of the invocation), how many calls hubsync makes,
how long it waits between them, and where the event ends: applied, left on the queue for
redelivery, or the DLQ with a category.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import pytest

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all

OBJECT = "partner_services"
BODY = json.dumps(
    {"id": "1001", "objectType": OBJECT, "properties": {"property_string": "x"}, "occurredAt": 1_764_000_000_000}
)


@dataclass(frozen=True)
class Row:
    answer: int | str
    calls: int
    ends: str  # "queue" (retried later), "applied", or a DLQ category
    cause: str | None = None
    min_wait: float | None = None


RETRY = "queue"
ROWS = [
    Row("pass", 1, "applied"),
    Row(400, 1, "VALIDATION_ERROR"),  # the category HubSpot gives
    Row(401, 2, RETRY),
    Row(403, 2, RETRY),
    Row(404, 1, "OBJECT_NOT_FOUND"),
    Row(409, 1, "HUBSPOT_REJECTED"),
    Row(413, 1, "VALIDATION_ERROR"),
    Row(414, 1, "HUBSPOT_REJECTED"),
    Row(423, 2, RETRY, min_wait=2.0),
    Row("ten_secondly", 2, RETRY),
    Row("daily", 1, RETRY),
    Row("477:3", 2, RETRY, min_wait=3.0),
    Row(500, 2, RETRY),
    Row(502, 2, RETRY),
    Row(503, 2, RETRY),
    Row(504, 2, RETRY),
    Row(521, 2, RETRY),
    Row(522, 1, "HUBSPOT_REJECTED"),
    Row(523, 2, RETRY),
    Row(524, 2, RETRY),
    Row(525, 1, "HUBSPOT_REJECTED"),
    Row(526, 1, "HUBSPOT_REJECTED"),
    Row("reset", 2, RETRY),
]


def make(sim: HubSpotSimulator, sqs: Any, dlq_url: str, waits: list[float], timeout: float = 5) -> Updater:
    delivery = Delivery(
        HubSpotClient(sim.url, "sim-token", timeout_seconds=timeout),
        None,
        RetryPolicy(max_attempts=2, rng=random.Random(1)),
        call_seconds=timeout + 1,
        reserve_seconds=1,
        sleep=waits.append,
    )
    return Updater(delivery, QueueSender(sqs, dlq_url), default_object_type=OBJECT, max_receive_count=5)


@pytest.mark.parametrize("row", ROWS, ids=[str(r.answer) for r in ROWS])
def test_error_table_row(row: Row, hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues) -> None:
    hubspot_simulator.faults.script(row.answer, row.answer, "pass")
    waits: list[float] = []
    report = make(hubspot_simulator, sqs_client, queues.dlq_url, waits).process([sqs_record("m", BODY)], lambda: 100.0)
    assert report.calls == row.calls
    dead = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    if row.ends == "applied":
        assert (report.applied_events, dead) == (1, [])
    elif row.ends == RETRY:
        assert report.failed_message_ids == ["m"] and dead == []
    else:
        assert [d["error"]["category"] for d in dead] == [row.ends]
        assert dead[0]["error"]["status"] == (int(str(row.answer)[:3]))
    if row.min_wait is not None:
        assert waits and min(waits) >= row.min_wait


def test_a_timeout_is_retried_then_left_to_redelivery(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    hubspot_simulator.faults.latency_ms = 1500
    report = make(hubspot_simulator, sqs_client, queues.dlq_url, [], timeout=0.3).process(
        [sqs_record("m", BODY)], lambda: 100.0
    )
    assert (report.calls, report.failed_message_ids) == (2, ["m"])


def test_at_the_last_receive_a_transient_fault_ends_in_the_dlq_with_its_cause(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    hubspot_simulator.faults.script(503, 503)
    make(hubspot_simulator, sqs_client, queues.dlq_url, []).process([sqs_record("m", BODY, 5)], lambda: 100.0)
    [dead] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert dead["error"]["category"] == "RETRIES_EXHAUSTED" and dead["error"]["cause"] == "SERVER_ERROR"
    assert dead["attempts"] == 5
