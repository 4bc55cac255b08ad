"""The updater against the HubSpot simulator (real HTTP) and a real SQS DLQ (moto's server).

HubSpot's state is read back with HubSpot's official Python client.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot

from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.report import RequestTimes
from hubsync_local.lambda_runtime import receiver_attributes, sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all
from support.updater import OBJECT, T0, TOKEN, event, make_updater, messages, plenty_of_time


def official_client(sim: HubSpotSimulator) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sim.url)


def read_back(sim: HubSpotSimulator, record_id: str, properties: list[str]) -> dict[str, Any]:
    record = official_client(sim).crm.objects.basic_api.get_by_id(OBJECT, record_id, properties=properties)
    return {name: record.properties.get(name) for name in properties}


def test_many_events_over_few_records_become_the_fewest_calls(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    record_ids = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(150)]
    rng = random.Random(5)
    events, expected = [], {}
    for n in range(600):
        record = rng.choice(record_ids)
        at = rng.randrange(0, 10_000)
        value = f"v{n}"
        events.append(event(record, at, property_string=value, property_number=str(n)))
        best = expected.get(record)
        if best is None or at >= best[0]:
            expected[record] = (at, value, str(n))
    sim.reset_calls()
    report = make_updater(sim, sqs_client, queues.dlq_url).process(messages(events), plenty_of_time)
    assert report.failed_message_ids == [] and report.applied_events == 600
    batch_calls = [c for c in sim.calls if c.path.endswith("/batch/update")]
    assert len(batch_calls) == math.ceil(len(expected) / 100) == report.calls
    assert all(c.inputs <= 100 for c in batch_calls)
    for record, (_, value, number) in expected.items():
        assert read_back(sim, record, ["property_string", "property_number"]) == {
            "property_string": value,
            "property_number": number,
        }
    assert receive_all(sqs_client, queues.dlq_url) == []


def test_not_found_records_go_to_the_dlq_each_event_as_itself(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    events = [
        event("1001", 1, property_string="a"),
        event("999999", 1, property_string="x"),
        event("999999", 2, property_number="5"),
    ]
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(messages(events), plenty_of_time)
    assert report.failed_message_ids == []
    assert report.dead_lettered == {"OBJECT_NOT_FOUND": 2}
    dead = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert sorted(json.dumps(d["event"]["properties"]) for d in dead) == sorted(
        [json.dumps({"property_string": "x"}), json.dumps({"property_number": "5"})]
    )
    assert {(d["error"]["category"], d["error"]["status"], d["recordId"]) for d in dead} == {
        ("OBJECT_NOT_FOUND", 207, "999999")
    }
    assert {d["sourceMessageId"] for d in dead} == {"m1", "m2"}
    assert read_back(hubspot_simulator, "1001", ["property_string"]) == {"property_string": "a"}


def test_an_invalid_value_is_isolated_and_the_rest_of_the_batch_applied(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    events = [event("1001", 1, property_dropdown="not-an-option"), event("1002", 1, property_string="ok")]
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(messages(events), plenty_of_time)
    assert report.dead_lettered == {"VALIDATION_ERROR": 1} and report.applied_events == 1
    assert (report.calls, report.isolation_calls) == (3, 2)
    [dead] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert dead["recordId"] == "1001" and dead["error"]["status"] == 400 and dead["error"]["code"] == "INVALID_OPTION"
    assert read_back(hubspot_simulator, "1002", ["property_string"]) == {"property_string": "ok"}


def test_messages_that_are_not_events_are_quarantined(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    bad = [sqs_record("a", "not json"), sqs_record("b", '{"id": "1"}'), sqs_record("c", "[1]")]
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(bad, plenty_of_time)
    assert report.dead_lettered == {"INVALID_EVENT": 3} and report.calls == 0
    dead = {
        json.loads(m["Body"])["sourceMessageId"]: json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)
    }
    assert dead["a"]["event"] == "not json" and dead["b"]["event"] == {"id": "1"}


def test_transient_faults_are_retried_within_the_invocation(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    hubspot_simulator.faults.script(503, "reset")
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        messages([event("1001", 1, property_string="after-retry")]), plenty_of_time
    )
    assert report.calls == 3 and report.applied_events == 1 and report.failed_message_ids == []
    assert read_back(hubspot_simulator, "1001", ["property_string"]) == {"property_string": "after-retry"}


@pytest.mark.parametrize(("receive_count", "on_queue", "in_dlq"), [(1, 1, 0), (5, 0, 1)])
def test_lasting_faults_go_back_to_sqs_until_the_last_attempt(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, receive_count: int, on_queue: int, in_dlq: int
) -> None:
    hubspot_simulator.faults.script(503, 503, 503)
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        messages([event("1001", 1, property_string="x")], receive_count), plenty_of_time
    )
    assert len(report.failed_message_ids) == on_queue
    dead = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert len(dead) == in_dlq
    if dead:
        assert dead[0]["error"]["category"] == "RETRIES_EXHAUSTED" and dead[0]["error"]["cause"] == "SERVER_ERROR"
        assert dead[0]["attempts"] == 5


def test_daily_limit_stops_calling_and_leaves_everything_on_the_queue(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    ids = [sim.add_record(OBJECT, {"property_string": "s"}) for _ in range(150)]
    sim.faults.script("daily")
    report = make_updater(sim, sqs_client, queues.dlq_url, max_in_flight=1).process(
        messages([event(i, 1, property_string="x") for i in ids]), plenty_of_time
    )
    assert report.calls == 1 and report.daily_limit_hit
    assert len(report.failed_message_ids) == 150
    assert receive_all(sqs_client, queues.dlq_url) == []


def test_no_time_left_means_no_call_and_nothing_lost(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        messages([event("1001", 1, property_string="x")]), lambda: 2.0
    )
    assert report.calls == 0 and report.failed_message_ids == ["m0"]


def test_a_dlq_that_cannot_be_written_keeps_messages_on_the_queue(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    updater = make_updater(hubspot_simulator, sqs_client, queues.dlq_url + "-missing")
    report = updater.process(messages([event("999999", 1, property_string="x")]), plenty_of_time)
    assert report.failed_message_ids == ["m0"] and not report.dead_lettered


def test_handler_answers_a_partial_batch_response(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubsync_local.lambda_runtime import LambdaContext, load_handler

    for name, value in {
        "DLQ_URL": queues.dlq_url,
        "HUBSPOT_BASE_URL": hubspot_simulator.url,
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    handler: Callable[..., Any] = load_handler("updater")
    records = [
        {"messageId": "ok", "body": json.dumps(event("1001", 1, property_string="h")), "attributes": {}},
        {"messageId": "gone", "body": json.dumps(event("999999", 1, property_string="h")), "attributes": {}},
    ]
    hubspot_simulator.faults.script(503, 503, 503)
    result = handler({"Records": records}, LambdaContext("updater", 120))
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["gone", "ok"]
    result = handler({"Records": records}, LambdaContext("updater", 120))
    assert result == {"batchItemFailures": []}
    assert [json.loads(m["Body"])["sourceMessageId"] for m in receive_all(sqs_client, queues.dlq_url)] == ["gone"]


def test_the_sample_body_applies_cleanly_to_the_demo_records(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    from pathlib import Path

    from hubsync.events import dumps, parse_body, parse_event

    sample = Path(__file__).resolve().parents[2] / "events" / "webhook-body.json"
    queued = [
        dumps(parse_event(raw, default_object_type=OBJECT, now_ms=2 * T0).to_message())
        for raw in parse_body(sample.read_bytes())
    ]
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        [sqs_record(f"s{i}", body) for i, body in enumerate(queued)], plenty_of_time
    )
    assert (report.applied_events, report.failed_message_ids, dict(report.dead_lettered)) == (len(queued), [], {})


def test_requests_overlap_only_while_hubspot_takes_long_enough_to_pay_for_threads(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    record_ids = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(400)]
    # The simulator runs in this process here, sharing its interpreter lock: a request takes a few ms
    # more than against a separate HubSpot, so the line between fast and slow is drawn higher.
    times = RequestTimes(overlap_from_seconds=0.1)
    updater = make_updater(sim, sqs_client, queues.dlq_url, max_in_flight=4, request_times=times)
    threads: list[str] = []
    send = updater.delivery.send

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return send(*args, **kwargs)

    updater.delivery.send = recording  # type: ignore[method-assign]

    def batch(tag: str) -> list[str]:
        threads.clear()
        events = [event(rid, i, property_string=f"{tag}{i}") for i, rid in enumerate(record_ids)]
        report = updater.process(messages(events), plenty_of_time)
        assert report.calls == 4 and report.applied_events == len(record_ids)
        return list(threads)

    # Nothing known yet: HubSpot is assumed to take its usual tens of milliseconds.
    assert all(name.startswith("hubspot") for name in batch("a"))
    # Quick answers: one after another, in the calling thread.
    assert batch("b") == [threading.current_thread().name] * 4
    # Slower answers: once most of the last five were slow, the rest go several at a time again.
    sim.faults.latency_ms = 150
    third = batch("c")
    assert third[:3] == [threading.current_thread().name] * 3 and third[3].startswith("hubspot")
    assert all(read_back(sim, rid, ["property_string"])["property_string"].startswith("c") for rid in record_ids[:5])


def test_a_failed_event_read_on_the_fast_path_keeps_its_event_in_the_dlq_even_with_duplicate_keys(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    # Not something the receiver writes (it refuses duplicate keys), but the fast path takes it: the last
    # value wins there, and the DLQ envelope shows the event read the same way, not as bare text.
    body = (
        '{"id":"999999","objectType":"partner_services","properties":{"property_string":"a",'
        f'"property_string":"b"}},"occurredAt":{T0},"receivedAt":{T0}}}'
    )
    report = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process(
        [sqs_record("m0", body, attributes=receiver_attributes())], plenty_of_time
    )
    assert report.dead_lettered == {"OBJECT_NOT_FOUND": 1}
    [dead] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert dead["recordId"] == "999999" and dead["event"]["properties"] == {"property_string": "b"}


def test_a_token_hubspot_cannot_be_sent_is_a_transport_failure_not_a_crash(hubspot_simulator: HubSpotSimulator) -> None:
    answer = HubSpotClient(hubspot_simulator.url, "sim\r\ntoken").batch_update(
        OBJECT, [{"id": "1001", "properties": {"property_string": "x"}}]
    )
    assert (answer.status, answer.transport_error) == (None, "CONNECTION")
    assert "sim" not in answer.detail and "token" not in answer.detail
