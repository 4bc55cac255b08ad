"""Last-write-wins per property across batches, retries and instances (record state in moto's DynamoDB)."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.recordstate import RecordStateStore, state_client
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, create_table

TOKEN = "sim-token"
OBJECT = "partner_services"
T0 = 1_764_000_000_000


@pytest.fixture
def table(aws_env: str) -> str:
    return create_table(aws_env, "state", "record")


def updater(
    sim: HubSpotSimulator, sqs: Any, queues: Queues, table: str, aws_env: str, owner: str = "a", receives: int = 5
) -> Updater:
    delivery = Delivery(
        HubSpotClient(sim.url, TOKEN, timeout_seconds=5),
        None,
        RetryPolicy(max_attempts=3, rng=random.Random(1)),
        call_seconds=6,
        reserve_seconds=1,
        sleep=lambda _: None,
    )
    state = RecordStateStore(table, owner=owner, client=state_client())
    return Updater(
        delivery, QueueSender(sqs, queues.dlq_url), default_object_type=OBJECT, max_receive_count=receives, state=state
    )


def batch(*events: tuple[str, int, dict[str, str]], prefix: str = "m") -> list[dict[str, Any]]:
    return [
        sqs_record(f"{prefix}{i}", json.dumps({"id": r, "objectType": OBJECT, "properties": p, "occurredAt": T0 + t}))
        for i, (r, t, p) in enumerate(events)
    ]


def plenty() -> float:
    return 100.0


def stored(sim: HubSpotSimulator, record: str) -> dict[str, Any]:
    found = sim.record(OBJECT, record)
    assert found is not None
    return dict(found["properties"])


def test_an_older_event_in_a_later_batch_does_not_overwrite(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    service = updater(sim, sqs_client, queues, table, aws_env)
    first = service.process(batch(("1001", 200, {"property_string": "new", "property_number": "2"})), plenty)
    assert first.applied_events == 1
    sim.reset_calls()
    late = service.process(
        batch(("1001", 100, {"property_string": "old", "property_radio": "option_2"}), prefix="n"), plenty
    )
    # Only the property nobody wrote later is sent; the stale one is dropped and counted.
    assert late.superseded_values == 1 and late.calls == 1
    assert stored(sim, "1001")["property_string"] == "new" and stored(sim, "1001")["property_radio"] == "option_2"
    again = service.process(batch(("1001", 100, {"property_string": "old"}), prefix="o"), plenty)
    assert (again.calls, again.superseded_events, again.failed_message_ids) == (0, 1, [])


def test_a_retried_batch_does_not_undo_newer_events_applied_meanwhile(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    service = updater(sim, sqs_client, queues, table, aws_env)
    # 429s: HubSpot wrote nothing (after an unknown outcome, such as a 503, the record would stay leased a
    # while: test_state_faults.py).
    sim.faults.script(429, 429, 429)
    failed = service.process(batch(("1002", 100, {"property_string": "older"})), plenty)
    assert failed.failed_message_ids == ["m0"]
    assert service.process(batch(("1002", 300, {"property_string": "newer"}), prefix="n"), plenty).applied_events == 1
    redelivered = service.process(
        [sqs_record("m0", batch(("1002", 100, {"property_string": "older"}))[0]["body"], 2)], plenty
    )
    assert redelivered.superseded_events == 1 and redelivered.calls == 0
    assert stored(sim, "1002")["property_string"] == "newer"


def test_a_record_leased_by_another_instance_is_deferred_not_written(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    other = RecordStateStore(table, owner="other", client=state_client())
    key = f"{OBJECT}##1003"
    assert other.acquire([key], lease_until=time.time() + 60) == {key}
    service = updater(sim, sqs_client, queues, table, aws_env)
    report = service.process(
        batch(("1003", 100, {"property_string": "x"}), ("1004", 100, {"property_string": "y"})), plenty
    )
    assert report.failed_message_ids == ["m0"] and report.deferred_records == 1 and report.applied_events == 1
    assert stored(sim, "1003")["property_string"] != "x"
    other.release([key])
    again = service.process([sqs_record("m0", batch(("1003", 100, {"property_string": "x"}))[0]["body"], 2)], plenty)
    assert again.applied_events == 1 and stored(sim, "1003")["property_string"] == "x"


def test_two_instances_racing_end_in_last_write_wins(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    sim.faults.latency_ms = 20  # both instances' calls overlap in time
    records = [str(1001 + n) for n in range(10)]
    rng = random.Random(3)
    events = [(rng.choice(records), t, {"property_string": f"v{t}"}) for t in rng.sample(range(1, 10_000), 200)]
    halves = [events[0::2], events[1::2]]
    # Deferred records come back until they get their turn (SQS's receives are not what is tested here).
    services = [updater(sim, sqs_client, queues, table, aws_env, owner=o, receives=1000) for o in ("a", "b")]
    pending = [batch(*half, prefix=p) for half, p in zip(halves, ("a", "b"), strict=True)]

    def run(index: int) -> None:
        messages = pending[index]
        for attempt in range(1, 200):
            report = services[index].process(messages, plenty)
            assert not report.dead_lettered
            failed = set(report.failed_message_ids)
            messages = [
                sqs_record(m["messageId"], m["body"], attempt + 1) for m in messages if m["messageId"] in failed
            ]
            if not messages:
                return
        raise AssertionError("deferred records never got their turn")

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    latest: dict[str, tuple[int, str]] = {}
    for record, at, properties in events:
        if record not in latest or at > latest[record][0]:
            latest[record] = (at, properties["property_string"])
    assert {r: stored(sim, r)["property_string"] for r in latest} == {r: v for r, (_, v) in latest.items()}
