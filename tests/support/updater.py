"""An updater wired to the simulator (real HTTP) and a real SQS DLQ, as the integration tests use it."""

from __future__ import annotations

import json
import random
from typing import Any

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator

TOKEN = "sim-token"
OBJECT = "partner_services"
T0 = 1_764_000_000_000

__all__ = ["OBJECT", "T0", "TOKEN", "event", "make_updater", "messages", "plenty_of_time"]


def make_updater(sim: HubSpotSimulator, sqs: Any, dlq_url: str, max_receive_count: int = 5, **kwargs: Any) -> Updater:
    """``schema`` (a hubsync.delivery.schema.checks.SchemaChecks), if given, is wired as the factory wires it."""
    schema = kwargs.get("schema")
    delivery = Delivery(
        HubSpotClient(sim.url, TOKEN, timeout_seconds=kwargs.pop("timeout_seconds", 5)),
        kwargs.pop("limiter", None),
        RetryPolicy(max_attempts=3, rng=random.Random(1)),
        call_seconds=6,
        reserve_seconds=1,
        sleep=lambda _: None,  # waits are the policy's business; tests need not wait them out
        on_refused_values=schema.cache.suspect if schema is not None else None,
        guided_isolation=kwargs.pop("guided_isolation", True),
    )
    return Updater(
        delivery,
        QueueSender(sqs, dlq_url),
        default_object_type=OBJECT,
        max_receive_count=max_receive_count,
        **kwargs,
    )


def messages(events: list[dict[str, Any]], receive_count: int = 1) -> list[dict[str, Any]]:
    return [sqs_record(f"m{i}", json.dumps(e), receive_count, T0) for i, e in enumerate(events)]


def event(record: str, at: int, **properties: str) -> dict[str, Any]:
    return {"id": record, "objectType": OBJECT, "properties": properties, "occurredAt": T0 + at}


def plenty_of_time() -> float:
    return 100.0
