"""End to end through the local stack: HTTP webhook -> receiver -> SQS -> poller -> updater -> HubSpot.

Real parts only: moto's server for SQS and Secrets Manager, the HubSpot simulator over HTTP, the
local API gateway over HTTP, signatures made by the Standard Webhooks library.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hubsync.deadletters.dlq import unwrap
from hubsync.deadletters.replay import Replayer
from hubsync_local.aws import MotoServer
from hubsync_local.stack import LocalStack
from support.aws import receive_all
from support.stack import post_signed, stack_config, wait_for

pytestmark = pytest.mark.e2e
OBJECT = "partner_services"
T0 = 1_764_000_000_000


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    config = stack_config(
        moto_server.url,
        "e2e",
        # Longer than the batching window, as AWS requires of an SQS event source (the template's is 6 x the
        # timeout + the window): shorter, a slow emulator hands out messages again while the batch still fills.
        visibility_timeout=60,
        window_seconds=30,
        start_poller=False,
    )
    with LocalStack(config) as local:
        yield local


def post(stack: LocalStack, events: list[dict[str, Any]], msg_id: str | None = None) -> requests.Response:
    return post_signed(stack, json.dumps({"events": events}), msg_id)


def drained(stack: LocalStack) -> bool:
    assert stack.poller
    depths = stack.queue_depths()
    return depths["queue"] == 0 and depths["queue_in_flight"] == 0 and not stack.poller.busy.is_set()


def test_webhook_to_hubspot_with_lww_minimal_calls_dlq_and_replay(stack: LocalStack) -> None:
    sim, poller, resources = stack.simulator, stack.poller, stack.resources
    assert sim is not None and poller is not None and resources is not None
    rng = random.Random(11)
    records = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(150)]
    missing = [str(900_000 + n) for n in range(5)]
    times = rng.sample(range(1, 1_000_000), 420)  # distinct event times, sent out of order
    events = []
    for n, at in enumerate(times):
        record = missing[n % 5] if n < 20 else rng.choice(records)
        properties = {"property_string": f"s{n}", "property_number": n}
        if n % 3:
            properties["property_checkbox"] = n % 2 == 0
        events.append({"id": record, "properties": properties, "occurredAt": T0 + at, "eventId": f"e{n}"})
    invalid = [{"id": f"bad{n}", "properties": {"property_string": {"nested": n}}} for n in range(10)]
    requests_sent = [events[i : i + 50] for i in range(0, len(events), 50)]
    requests_sent[0] = requests_sent[0] + invalid
    answers = []
    for n, chunk in enumerate(requests_sent):
        answers.append(post(stack, chunk, msg_id=f"msg_e2e_{n}"))
        assert answers[-1].status_code == 202, answers[-1].text
    assert sum(len(c) for c in requests_sent) == 430
    # The sender delivers the first request again (same webhook-id): the same answer, nothing queued twice.
    again = post(stack, requests_sent[0], msg_id="msg_e2e_0")
    assert (again.status_code, again.json()) == (202, answers[0].json())
    assert stack.queue_depths()["queue"] == 420

    # Measure every flush: its distinct records and the HubSpot batch calls it made (property definitions
    # are read once per container, counted apart).
    flushes: list[tuple[int, int]] = []
    handler = poller.handler

    def measured(event: dict[str, Any], context: Any) -> Any:
        before = len(sim.calls)
        result = handler(event, context)
        distinct = {json.loads(r["body"])["id"] for r in event["Records"]}
        flushes.append((len(distinct), sum(1 for call in sim.calls[before:] if "/batch/" in call.path)))
        return result

    poller.handler = measured
    poller.batch_size = 420  # every valid event in one flush, as a full batching window would give
    poller.start()
    wait_for(lambda: drained(stack) and bool(flushes), "the queue to drain")

    # HubSpot's state is the last-write-wins result of the applied events.
    latest: dict[str, dict[str, tuple[int, str]]] = {}
    for event in events:
        for name, value in event["properties"].items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            current = latest.setdefault(event["id"], {}).get(name)
            if current is None or event["occurredAt"] > current[0]:
                latest[event["id"]][name] = (event["occurredAt"], text)
    for record in {e["id"] for e in events} - set(missing):
        stored = sim.record(OBJECT, record)
        assert stored is not None
        assert {k: stored["properties"].get(k) for k in latest[record]} == {
            k: v for k, (_, v) in latest[record].items()
        }
    for distinct, calls in flushes:
        assert calls <= math.ceil(distinct / 100)
    assert sum(1 for call in sim.calls if call.path.startswith("/crm/v3/properties/")) <= 1
    assert flushes[0] == (len({e["id"] for e in events}), math.ceil(len({e["id"] for e in events}) / 100))

    # The DLQ holds the invalid events and the not-found ones, each with its category.
    dead = [unwrap(m["Body"]) for m in receive_all(stack.sqs, resources.dlq_url, delete=False)]
    by_category: dict[str, int] = {}
    for letter in dead:
        by_category[letter.category] = by_category.get(letter.category, 0) + 1
    assert by_category == {"INVALID_EVENT": 10, "OBJECT_NOT_FOUND": 20}

    # Fix the records, replay the not-found events: they are applied.
    for record in missing:
        sim.add_record(OBJECT, {"property_string": "created-later"}, record_id=record)
    poller.window_seconds = 1
    report = Replayer(stack.sqs, resources.dlq_url, resources.queue_url, wait_seconds=0).run(
        categories=["OBJECT_NOT_FOUND"]
    )
    assert (report.matched, report.moved, report.failed) == (20, 20, 0)
    wait_for(
        lambda: (
            drained(stack)
            and all(sim.record(OBJECT, r)["properties"]["property_string"] != "created-later" for r in missing)
        ),
        what="the replayed events to apply",
    )
    for record in missing:
        stored = sim.record(OBJECT, record)
        assert {k: stored["properties"].get(k) for k in latest[record]} == {
            k: v for k, (_, v) in latest[record].items()
        }
    left = [unwrap(m["Body"]).category for m in receive_all(stack.sqs, resources.dlq_url, delete=False)]
    assert sorted(set(left)) == ["INVALID_EVENT"] and len(left) == 10
