"""A 2xx settles an input only when it proves it: the updater against a simulator that lies.

Regression for issue 10, case 1: when a quarter of the 200s applied nothing or half (a proxy's ``{}``,
``{"status": "COMPLETE", "results": []}``, results naming only some inputs, a 207 whose error names no
input), events used to be settled as applied and lost: records ended at old values with an empty DLQ.
HubSpot's state is read back with HubSpot's official Python client.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hubspot import HubSpot

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.outcomes import BAD_RESPONSE, UNPROVEN, interpret
from hubsync.delivery.updater import Updater
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all
from support.updater import OBJECT, T0, TOKEN, make_updater, plenty_of_time

LYING = ["empty", "ok", "html", "no_results", "partial", "unnamed_207"]


def drain(updater: Updater, events: list[dict[str, Any]], max_receives: int = 12) -> list[str]:
    """Processes the events as SQS would hand them over: whatever the updater reports failed comes back
    with its receive count raised, until nothing fails. Returns what still failed at the end."""
    pending = [(f"m{i}", json.dumps(e)) for i, e in enumerate(events)]
    for receive in range(1, max_receives + 1):
        report = updater.process([sqs_record(i, body, receive, T0) for i, body in pending], plenty_of_time)
        failed = set(report.failed_message_ids)
        pending = [(i, body) for i, body in pending if i in failed]
        if not pending:
            return []
    return [i for i, _ in pending]


def official(sim: HubSpotSimulator) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sim.url)


def test_lying_2xx_answers_lose_nothing_and_the_last_write_wins(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    records = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(150)]
    sim.faults.seed(10)
    sim.faults.update({"lie_rate": 0.25, "lie_modes": LYING})
    updater = make_updater(sim, sqs_client, queues.dlq_url, max_receive_count=12)
    rounds = 3
    for round_number in range(rounds):
        events = [
            {
                "id": record,
                "objectType": OBJECT,
                "properties": {"property_string": f"r{round_number}-{record}"},
                "occurredAt": T0 + round_number * 1000,
            }
            for record in records
        ]
        assert drain(updater, events) == []
    lies = [call for call in sim.calls if call.path.endswith("/batch/update")]
    assert len(lies) > 6  # the lies cost extra calls (each round needs at least 2 truthful ones)
    final = {}
    for start in range(0, len(records), 100):
        batch = official(sim).crm.objects.batch_api.read(
            OBJECT,
            {"inputs": [{"id": r} for r in records[start : start + 100]], "properties": ["property_string"]},
        )
        final.update({result.id: result.properties["property_string"] for result in batch.results})
    assert final == {record: f"r{rounds - 1}-{record}" for record in records}
    assert receive_all(sqs_client, queues.dlq_url) == []


def test_inputs_left_unproven_are_retried_and_counted(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    records = ["1001", "1002", "1003", "1004"]
    sim.faults.script("lie:partial", "lie:unnamed_207", "lie:no_results")  # then truthful
    updater = make_updater(sim, sqs_client, queues.dlq_url)
    events = [
        {"id": r, "objectType": OBJECT, "properties": {"property_string": "proven"}, "occurredAt": T0} for r in records
    ]
    report = updater.process([sqs_record(f"m{i}", json.dumps(e), 1, T0) for i, e in enumerate(events)], plenty_of_time)
    # partial: 2 of 4 proven; unnamed_207: 1 of the other 2; no_results: none of the last one, and the retry
    # policy's 3 attempts are spent: that message is not acknowledged, SQS hands it over again.
    assert (report.calls, report.unproven_inputs, report.applied_events) == (3, 2 + 1 + 1, 3)
    assert report.failed_message_ids == ["m3"] and report.dead_lettered == {}
    again = updater.process([sqs_record("m3", json.dumps(events[3]), 2, T0)], plenty_of_time)
    assert (again.applied_events, again.failed_message_ids) == (1, [])
    assert all(sim.record(OBJECT, r)["properties"]["property_string"] == "proven" for r in records)  # type: ignore[index]


@pytest.mark.parametrize(("lie", "cause"), [("lie:html", BAD_RESPONSE), ("lie:no_results", UNPROVEN)])
def test_lying_answers_through_the_transport(hubspot_simulator: HubSpotSimulator, lie: str, cause: str) -> None:
    """A proxy's HTML page answered 200 is not a batch answer; a COMPLETE answer with no results proves nothing."""
    hubspot_simulator.faults.script(lie)
    inputs = [{"id": "1001", "properties": {"property_string": "x"}, "objectWriteTraceId": "t0"}]
    answer = HubSpotClient(hubspot_simulator.url, TOKEN).batch_update(OBJECT, inputs)  # type: ignore[list-item]
    outcome = interpret(answer, inputs)  # type: ignore[arg-type]
    assert answer.status == 200 and not outcome.applied
    assert {failure.cause for failure in outcome.retry.values()} == {cause}


def test_truthful_answers_still_settle_in_one_call(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    """What HubSpot really answers (results by id, in any order) proves every input: no extra calls."""
    sim = hubspot_simulator
    records = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(100)]
    random.Random(3).shuffle(records)
    sim.reset_calls()
    events = [
        {"id": r, "objectType": OBJECT, "properties": {"property_string": "v"}, "occurredAt": T0} for r in records
    ]
    report = make_updater(sim, sqs_client, queues.dlq_url).process(
        [sqs_record(f"m{i}", json.dumps(e), 1, T0) for i, e in enumerate(events)], plenty_of_time
    )
    assert (report.calls, report.unproven_inputs, report.applied_events) == (1, 0, 100)
