"""Last-write-wins through state-store faults and unknown outcomes (issue 10, cases 3 and 4).

DynamoDB is moto's server over HTTP; its faults are injected where botocore sends and receives, so the
record state store meets them exactly as it would meet DynamoDB's own: a 500 InternalServerError before
the write (an outage), and a write that took effect whose answer was lost (a read timeout). HubSpot is the
simulator; a "late" request is one it processes after hubsync's client gave up waiting.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.recordstate import RecordStateStore, state_client
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import STATE_UNAVAILABLE, Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, create_table, receive_all
from support.stack import wait_for

TOKEN = "sim-token"
OBJECT = "partner_services"
T0 = 1_764_000_000_000


def is_commit(body: bytes) -> bool:
    """The store's commit (stores times, releases or holds leases); its acquire only sets a lease."""
    return b"ADD #rev" in body or b"REMOVE #owner" in body or b":doubt" in body


class DynamoFaults:
    """Faults on one botocore DynamoDB client's TransactWriteItems commits, while ``armed``."""

    def __init__(self, dynamodb: Any) -> None:
        self.mode: str | None = None  # "outage": 500 before the write; "lost_answer": the write, then a timeout
        self.injected = 0
        dynamodb.meta.events.register("before-send.dynamodb.TransactWriteItems", self._before_send)
        dynamodb.meta.events.register("after-call.dynamodb.TransactWriteItems", self._after_call)
        self._pending_loss = False

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.mode == "outage" and is_commit(request.body or b""):
            self.injected += 1
            body = (
                b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}'
            )
            return AWSResponse(request.url, 500, {"x-amzn-requestid": "fault"}, _Raw(body))
        if self.mode == "lost_answer" and is_commit(request.body or b""):
            self._pending_loss = True
        return None

    def _after_call(self, **_: Any) -> None:
        if self._pending_loss:
            self._pending_loss = False
            self.injected += 1
            raise ReadTimeoutError(endpoint_url="dynamodb (fault injected after the write took effect)")


class _Raw:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content

    def read(self, *_: Any) -> bytes:
        content, self._content = self._content, b""
        return content


@pytest.fixture
def table(aws_env: str) -> str:
    return create_table(aws_env, "state", "record")


def make(
    sim: HubSpotSimulator,
    sqs: Any,
    queues: Queues,
    table: str,
    aws_env: str,
    owner: str,
    *,
    timeout: float = 5.0,
    attempts: int = 3,
    hold: float = 60.0,
) -> tuple[Updater, DynamoFaults]:
    # The client the updater deploys with (hubsync.dynamodb, made as the factory makes it): its hooks are botocore's.
    dynamodb = state_client()
    faults = DynamoFaults(dynamodb)
    delivery = Delivery(
        HubSpotClient(sim.url, TOKEN, timeout_seconds=timeout),
        None,
        RetryPolicy(max_attempts=attempts, rng=random.Random(1)),
        call_seconds=1,
        reserve_seconds=0.5,
        sleep=lambda _: None,
    )
    state = RecordStateStore(table, owner=owner, client=dynamodb, sleep=lambda _: None)
    updater = Updater(
        delivery,
        QueueSender(sqs, queues.dlq_url),
        default_object_type=OBJECT,
        max_receive_count=10,
        state=state,
        in_doubt_hold_seconds=hold,
    )
    return updater, faults


def records_of(events: list[tuple[str, int, str]], prefix: str, receive: int = 1) -> list[dict[str, Any]]:
    return [
        sqs_record(
            f"{prefix}{n}",
            json.dumps({"id": r, "objectType": OBJECT, "properties": {"property_string": v}, "occurredAt": T0 + at}),
            receive,
        )
        for n, (r, at, v) in enumerate(events)
    ]


def plenty() -> float:
    return 100.0


def value(sim: HubSpotSimulator, record: str) -> str:
    found = sim.record(OBJECT, record)
    assert found is not None
    return str(found["properties"].get("property_string"))


def test_a_lost_state_write_is_not_acknowledged_so_an_older_event_cannot_win(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    records = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(50)]
    updater, faults = make(sim, sqs_client, queues, table, aws_env, owner="a")
    newer = records_of([(r, 200, f"new-{r}") for r in records], "n")
    faults.mode = "outage"  # DynamoDB fails right after HubSpot applied the batch
    first = updater.process(newer, plenty)
    assert faults.injected >= 1 and first.applied_events == 0
    assert sorted(first.failed_message_ids) == sorted(m["messageId"] for m in newer)
    assert all(value(sim, r) == f"new-{r}" for r in records)  # HubSpot did apply them
    faults.mode = None
    # Older events for the same records arrive afterwards (the same container: it holds the leases).
    updater.process(records_of([(r, 100, f"old-{r}") for r in records], "o"), plenty)
    # The newer events come back (they were not acknowledged) and win again.
    again = updater.process([sqs_record(m["messageId"], m["body"], 2) for m in newer], plenty)
    assert again.failed_message_ids == [] and again.applied_events == 50
    assert {r: value(sim, r) for r in records} == {r: f"new-{r}" for r in records}
    assert receive_all(sqs_client, queues.dlq_url) == []
    late_old = updater.process(records_of([(r, 150, f"old2-{r}") for r in records], "p"), plenty)
    assert late_old.superseded_events == 50 and late_old.calls == 0


def test_a_state_write_that_took_effect_but_whose_answer_was_lost_is_retried_harmlessly(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    updater, faults = make(sim, sqs_client, queues, table, aws_env, owner="a")
    events = records_of([("1001", 200, "new")], "n")
    faults.mode = "lost_answer"
    first = updater.process(events, plenty)
    assert faults.injected == 1 and first.failed_message_ids == ["n0"]
    faults.mode = None
    sim.reset_calls()
    again = updater.process([sqs_record("n0", events[0]["body"], 2)], plenty)
    # The times were stored after all: the redelivered event is the one already applied, nothing is sent.
    assert (again.failed_message_ids, again.superseded_events, again.calls) == ([], 1, 0)
    assert value(sim, "1001") == "new"


def test_a_state_outage_on_every_receive_ends_in_the_dlq_with_its_reason_not_acknowledged_silently(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    updater, faults = make(sim, sqs_client, queues, table, aws_env, owner="a")
    faults.mode = "outage"
    report = updater.process(records_of([("1001", 200, "new")], "n", receive=10), plenty)
    assert report.dead_lettered == {"RETRIES_EXHAUSTED": 1}
    (letter,) = receive_all(sqs_client, queues.dlq_url)
    assert json.loads(letter["Body"])["error"]["cause"] == STATE_UNAVAILABLE


def test_after_an_unknown_outcome_no_writer_moves_in_until_the_late_request_can_no_longer_land(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    sim = hubspot_simulator
    hold = 2.0
    a, _ = make(sim, sqs_client, queues, table, aws_env, owner="a", timeout=0.3, attempts=1, hold=hold)
    b, _ = make(sim, sqs_client, queues, table, aws_env, owner="b", hold=hold)
    older = records_of([("1005", 100, "older")], "a")
    sim.faults.script("late:1200")  # A's request lands 1.2 s after it was sent; A gave up after 0.3 s
    first = a.process(older, plenty)
    assert first.failed_message_ids == ["a0"] and value(sim, "1005") != "older"
    held_from = time.monotonic()
    # B has a newer event for the record: while A's request may still land, B must not write it.
    newer = records_of([("1005", 300, "newer")], "b")
    blocked = b.process(newer, plenty)
    assert (blocked.deferred_records, blocked.failed_message_ids, blocked.calls) == (1, ["b0"], 0)
    wait_for(lambda: value(sim, "1005") == "older", "the late request to land", timeout=10)
    wait_for(lambda: time.monotonic() - held_from > hold + 0.2, "the in-doubt hold to pass", timeout=10)
    # Then B writes the newer value, and A's retry of the older one is dropped as superseded.
    assert b.process([sqs_record("b0", newer[0]["body"], 2)], plenty).applied_events == 1
    retried = a.process([sqs_record("a0", older[0]["body"], 2)], plenty)
    assert (retried.superseded_events, retried.calls) == (1, 0)
    assert value(sim, "1005") == "newer"


def test_the_in_doubt_hold_blocks_the_same_container_too(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, table: str, aws_env: str
) -> None:
    """A container's own next batch must not write a newer value under a request of its own that may land."""
    sim = hubspot_simulator
    a, _ = make(sim, sqs_client, queues, table, aws_env, owner="a", timeout=0.3, attempts=1, hold=30.0)
    sim.faults.script("late:800")
    assert a.process(records_of([("1006", 100, "older")], "a"), plenty).failed_message_ids == ["a0"]
    same = a.process(records_of([("1006", 300, "newer")], "b"), plenty)
    assert (same.deferred_records, same.calls) == (1, 0)
