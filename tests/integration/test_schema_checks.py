"""Values checked against HubSpot's property definitions before sending (hubsync.delivery.schema), against the simulator
over HTTP: its Properties API serves the definitions its own write validation uses, so every rule hubsync applies
is held against an independent implementation of HubSpot's (and each refusal hubsync makes is checked to be one
HubSpot makes too). The DLQ is a real SQS queue (moto's server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubspot import HubSpot

from hubsync.delivery.schema.cache import DefinitionCache
from hubsync.delivery.schema.checks import SchemaChecks
from hubsync.delivery.schema.settings import parse_object_settings
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, receive_all
from support.updater import OBJECT, T0, TOKEN, event, make_updater, messages, plenty_of_time

MS_PER_DAY = 86_400_000
CLEARED = object()  # "" clears a value: HubSpot then shows none


def midnight(*args: int) -> str:
    return str(int(datetime(*args, tzinfo=UTC).timestamp() * 1000))  # type: ignore[misc]


# (property, value sent, what hubsync does: the value HubSpot gets, or ("refused", code))
RULES: list[tuple[str, str, Any]] = [
    ("property_string", "anything at all", "anything at all"),
    ("property_string", "", CLEARED),
    ("property_number", "17", "17"),
    ("property_number", "-3.25", "-3.25"),
    ("property_number", "1e3", "1e3"),
    ("property_number", "ten", ("refused", "INVALID_DECIMAL")),
    ("property_number", "1,5", ("refused", "INVALID_DECIMAL")),
    ("property_number", "NaN", ("refused", "INVALID_DECIMAL")),
    ("property_number", "", CLEARED),
    ("property_checkbox", "true", "true"),
    ("property_checkbox", "TRUE", "true"),
    ("property_checkbox", "Yes", "true"),
    ("property_checkbox", "maybe", ("refused", "INVALID_BOOLEAN")),
    ("property_date", midnight(2024, 1, 15), midnight(2024, 1, 15)),
    ("property_date", "2024-01-15", midnight(2024, 1, 15)),
    ("property_date", "2024-01-15T22:30:00-05:00", midnight(2024, 1, 16)),
    ("property_date", str(int(midnight(2024, 1, 15)) + 45_000_000), midnight(2024, 1, 15)),
    ("property_date", "next tuesday", ("refused", "INVALID_DATE")),
    ("property_date", "", CLEARED),
    ("property_datetime", "1705326300000", "1705326300000"),
    ("property_datetime", "2024-01-15T13:45:00Z", "1705326300000"),
    ("property_datetime", "noon", ("refused", "INVALID_DATE")),
    ("property_dropdown", "option_b", "option_b"),
    ("property_dropdown", "Option B", "option_b"),
    ("property_dropdown", "option retired", "option_retired"),  # a hidden option's label
    ("property_dropdown", "option_retired", "option_retired"),
    ("property_dropdown", "Option D", ("refused", "INVALID_OPTION")),
    ("property_dropdown", "", CLEARED),
    ("property_multiple_checkboxes", "chocolate;Vanilla", "chocolate;vanilla"),
    ("property_multiple_checkboxes", ";strawberry", ";strawberry"),
    ("property_multiple_checkboxes", "chocolate;mint", ("refused", "INVALID_OPTION")),
    ("property_radio", "Option 2", "option_2"),
    ("property_external", "whatever the other system says", "whatever the other system says"),
    ("property_calculated", "3", ("refused", "READ_ONLY_VALUE")),
    ("property_read_only", "x", ("refused", "READ_ONLY_VALUE")),
    ("property_no_such_thing", "x", ("refused", "PROPERTY_DOESNT_EXIST")),
]


def checks(clock: Callable[[], float] | None = None, **cache: float) -> SchemaChecks:
    return SchemaChecks(DefinitionCache(**cache, **({"clock": clock} if clock else {})))


def batch_calls(sim: HubSpotSimulator) -> list[Any]:
    return [call for call in sim.calls if "/batch/" in call.path]


def property_reads(sim: HubSpotSimulator) -> list[Any]:
    return [call for call in sim.calls if call.path.startswith("/crm/v3/properties/")]


def dead_letters(sqs: Any, queues: Queues) -> dict[str, dict[str, Any]]:
    return {json.loads(m["Body"])["recordId"]: json.loads(m["Body"]) for m in receive_all(sqs, queues.dlq_url)}


def run_rules(sim: HubSpotSimulator, sqs: Any, queues: Queues, checked: bool) -> tuple[dict[str, Any], int]:
    """Every rule's value sent to its own record in one batch: record id -> what HubSpot holds, or the DLQ
    code; and the batch calls made."""
    ids = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in RULES]
    events = [event(rid, 1, **{name: value}) for rid, (name, value, _) in zip(ids, RULES, strict=True)]
    sim.reset_calls()
    report = make_updater(sim, sqs, queues.dlq_url, schema=checks() if checked else None).process(
        messages(events), plenty_of_time
    )
    assert report.failed_message_ids == []
    dead = dead_letters(sqs, queues)
    seen: dict[str, Any] = {}
    for rid, (name, _, _) in zip(ids, RULES, strict=True):
        if rid in dead:
            assert dead[rid]["error"]["category"] == "VALIDATION_ERROR"
            seen[rid] = ("refused", dead[rid]["error"]["code"], dead[rid]["error"]["message"])
        else:
            seen[rid] = sim.record(OBJECT, rid)["properties"].get(name)  # type: ignore[index]
    return dict(zip([str(i) for i in range(len(RULES))], seen.values(), strict=True)), len(batch_calls(sim))


def test_every_value_rule_against_the_simulators_own_validation(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    unchecked, unchecked_calls = run_rules(hubspot_simulator, sqs_client, queues, checked=False)
    checked, checked_calls = run_rules(hubspot_simulator, sqs_client, queues, checked=True)
    for index, (name, value, expected) in enumerate(RULES):
        got, hubspot_alone = checked[str(index)], unchecked[str(index)]
        case = f"{name}={value!r}"
        if isinstance(expected, tuple):
            assert got[:2] == expected, case
            assert name in got[2], case
            if expected[1] not in ("READ_ONLY_VALUE", "PROPERTY_DOESNT_EXIST"):  # the value, or the part refused
                assert any(repr(part) in got[2] for part in value.split(";")), case
            # hubsync refuses only what HubSpot itself refuses
            assert isinstance(hubspot_alone, tuple), f"{case}: HubSpot takes it, hubsync refused it"
        elif expected is CLEARED:
            assert got in (None, ""), case
        else:
            assert got == expected, case
            if hubspot_alone != value and name != "property_datetime":
                # converted: HubSpot refuses the value as sent, and takes hubsync's form of it
                assert isinstance(hubspot_alone, tuple), f"{case}: {hubspot_alone!r}"
    # HubSpot alone: one batch and bisection; checked: the refused values cost no call at all
    assert checked_calls == 1
    assert unchecked_calls > 10


def test_an_option_label_is_refused_by_hubspot_itself() -> None:
    # The simulator holds the rule the conversion exists for: a label is not a value (HUBSPOT.md).
    with HubSpotSimulator(port=0, token=TOKEN) as sim:
        client = HubSpot(access_token=TOKEN, host=sim.url)
        definitions = client.crm.properties.core_api.get_all(OBJECT)
        dropdown = next(p for p in definitions.results if p.name == "property_dropdown")
        assert {o.label: o.value for o in dropdown.options}["Option B"] == "option_b"
        sim.reset_calls()


def test_a_thousand_iso_datetimes_on_a_date_property_are_all_applied_at_midnight_utc(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    ids = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(1000)]
    start = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
    sent = {}
    events = []
    for n, rid in enumerate(ids):
        moment = start + timedelta(minutes=97 * n, seconds=n % 60)
        offset = ("+02:00", "-07:00", "Z", "")[n % 4]
        text = moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z" if offset in ("Z", "") else None
        if offset in ("+02:00", "-07:00"):
            hours = 2 if offset == "+02:00" else -7
            text = (
                moment.astimezone(UTC).astimezone(__import__("datetime").timezone(timedelta(hours=hours))).isoformat()
            )
        elif offset == "":
            text = moment.replace(tzinfo=None).isoformat()  # no offset: read as UTC
        assert text is not None
        sent[rid] = str(int(datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp() * 1000))
        events.append(event(rid, n, property_date=text))
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks())
    for start_at in range(0, 1000, 250):
        report = updater.process(messages(events[start_at : start_at + 250]), plenty_of_time)
        assert report.failed_message_ids == [] and report.applied_events == 250
        assert report.values_converted == 250
    assert receive_all(sqs_client, queues.dlq_url) == []
    for rid in ids:
        held = sim.record(OBJECT, rid)["properties"]["property_date"]  # type: ignore[index]
        assert held == sent[rid] and int(held) % MS_PER_DAY == 0
    assert len(property_reads(sim)) == 1  # four batches, one container: one read


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_property_reads_are_one_per_type_per_cache_period_and_count_against_the_rate_limit(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    clock = Clock()
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks(clock, ttl_seconds=300))
    sim.reset_calls()
    for n in range(12):
        batch = [
            event("1001", n, property_string=f"v{n}"),
            {**event("c1", n), "objectType": "contacts", "properties": {"firstname": f"f{n}"}},
        ]
        updater.process(messages(batch), plenty_of_time)
        clock.now += 30  # 12 batches over 360 s
    reads = [call.path for call in property_reads(sim)]
    assert sorted(reads) == [
        "/crm/v3/properties/contacts",
        "/crm/v3/properties/contacts",
        f"/crm/v3/properties/{OBJECT}",
        f"/crm/v3/properties/{OBJECT}",
    ]


def test_definitions_changing_under_a_running_updater_are_picked_up(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    clock = Clock()
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks(clock, ttl_seconds=300, recheck_seconds=10))
    assert updater.process(messages([event("1001", 1, property_radio="option_1")]), plenty_of_time).applied_events == 1
    # An admin adds an option while the updater runs (definitions cached 2 s ago):
    radio = {
        "name": "property_radio",
        "type": "enumeration",
        "fieldType": "radio",
        "options": ["option_1", "option_2", {"value": "option_3", "label": "Option 3"}],
    }
    sim.define_property(OBJECT, radio)
    clock.now += 2
    first = updater.process(messages([event("1002", 2, property_radio="option_3")]), plenty_of_time)
    assert dict(first.refused_before_sending) == {"INVALID_OPTION": 1}  # refused on definitions 2 s old
    clock.now += 10
    later = updater.process(messages([event("1003", 3, property_radio="Option 3")]), plenty_of_time)
    assert later.applied_events == 1 and later.property_reads == 1  # read again before refusing: the new option
    assert sim.record(OBJECT, "1003")["properties"]["property_radio"] == "option_3"  # type: ignore[index]

    # An option removed: the definitions allow it, HubSpot refuses it; they are read again at the next batch.
    sim.define_property(OBJECT, {**radio, "options": ["option_1", "option_2"]})
    clock.now += 11
    refused = updater.process(messages([event("1004", 4, property_radio="option_3")]), plenty_of_time)
    assert refused.dead_lettered["VALIDATION_ERROR"] == 1 and refused.calls == 1 and refused.property_reads == 0
    clock.now += 11
    again = updater.process(messages([event("1005", 5, property_radio="option_3")]), plenty_of_time)
    assert (
        again.property_reads == 1 and again.calls == 0 and dict(again.refused_before_sending) == {"INVALID_OPTION": 1}
    )


def test_definitions_that_cannot_be_read_never_stop_delivery(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    sim = hubspot_simulator
    sim.faults.update({"properties_script": [500]})
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks())
    batch = [event("1001", 1, property_dropdown="option_b"), event("1002", 1, property_dropdown="Option C")]
    report = updater.process(messages(batch), plenty_of_time)
    assert report.definitions_unavailable == [OBJECT]
    assert report.applied_events == 1 and report.dead_lettered["VALIDATION_ERROR"] == 1  # HubSpot judged them
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1


def test_a_value_only_hubspot_can_refuse_costs_at_most_three_extra_calls(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    sim.set_validation_rule(OBJECT, "property_string", ["forbidden"])
    ids = [sim.add_record(OBJECT, {}) for _ in range(100)]
    events = [event(rid, 1, property_string="forbidden" if n == 37 else f"ok{n}") for n, rid in enumerate(ids)]
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks())
    updater.process(messages([event("1001", 0, property_string="warm")]), plenty_of_time)
    sim.reset_calls()
    report = updater.process(messages(events), plenty_of_time)
    assert report.applied_events == 99 and report.dead_lettered["VALIDATION_ERROR"] == 1
    assert len(batch_calls(sim)) - 1 <= 3 and report.guided_splits == 1
    dead = dead_letters(sqs_client, queues)
    assert list(dead) == [ids[37]]


def contact(key: str, id_property: str, **properties: str) -> dict[str, Any]:
    return {"id": key, "idProperty": id_property, "objectType": "contacts", "properties": properties, "occurredAt": T0}


def test_upsert_creates_and_updates_read_back_with_the_official_client(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    existing = sim.add_record("contacts", {"email": "old@example.com", "firstname": "Old"})
    settings = parse_object_settings('{"contacts": {"writeMode": "upsert", "idProperty": "email"}}')
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks(), object_settings=settings)
    batch = [
        contact("old@example.com", "email", firstname="Renamed"),
        contact("new@example.com", "email", firstname="New", lifecyclestage="Lead"),
    ]
    sim.reset_calls()
    report = updater.process(messages(batch), plenty_of_time)
    assert report.failed_message_ids == [] and report.applied_events == 2
    assert [call.path for call in batch_calls(sim)] == ["/crm/v3/objects/contacts/batch/upsert"]
    client = HubSpot(access_token=TOKEN, host=sim.url)
    old = client.crm.objects.basic_api.get_by_id("contacts", existing, properties=["firstname", "email"])
    assert old.properties["firstname"] == "Renamed"
    new = client.crm.objects.basic_api.get_by_id(
        "contacts", "new@example.com", id_property="email", properties=["firstname", "lifecyclestage"]
    )
    assert new.properties["firstname"] == "New" and new.properties["lifecyclestage"] == "lead"  # its label converted


def test_upsert_by_a_property_that_is_not_unique_is_refused_before_sending(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    settings = parse_object_settings('{"contacts": {"writeMode": "upsert", "idProperty": "firstname"}}')
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks(), object_settings=settings)
    batch = [contact("Ann", "firstname", lastname="B")]
    sim.reset_calls()
    report = updater.process(messages(batch), plenty_of_time)
    # refused before sending: writing by a property that is not unique is the event's own fault
    assert dict(report.refused_before_sending) == {"NOT_UNIQUE_ID_PROPERTY": 1} and batch_calls(sim) == []


def test_without_checks_values_go_as_they_are(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    report = make_updater(sim, sqs_client, queues.dlq_url).process(
        messages([event("1001", 1, property_dropdown="Option B")]), plenty_of_time
    )
    assert report.dead_lettered["VALIDATION_ERROR"] == 1 and property_reads(sim) == []


def test_doctor_checks_object_settings_and_that_definitions_are_readable(hubspot_simulator: HubSpotSimulator) -> None:
    from hubsync_cli.doctor import Doctor
    from hubsync_cli.targets import Target

    sim = hubspot_simulator
    doctor = Doctor(Target(), ["contacts"])
    headers = {"Authorization": f"Bearer {TOKEN}"}
    found: list[Any] = []
    assert (
        doctor._object_settings({"OBJECT_SETTINGS": '{"partner_services": {"writeMode": "upsert"}}'}, found)[0] is False
    )
    ok, detail = doctor._object_settings(
        {"OBJECT_SETTINGS": '{"contacts": {"writeMode": "upsert", "idProperty": "phone"}}'}, found
    )
    assert ok and detail == "contacts: upsert"
    ok, detail = doctor._definitions(sim.url, "contacts", headers, found[0])
    assert not ok and "'phone', which is not a unique property" in detail
    ok, detail = doctor._definitions(
        sim.url,
        "contacts",
        headers,
        parse_object_settings('{"contacts": {"writeMode": "upsert", "idProperty": "email"}}'),
    )
    assert ok and "properties readable" in detail
    sim.faults.update({"properties_script": [403]})
    ok, detail = doctor._definitions(sim.url, "contacts", headers, found[0])
    assert not ok and "HTTP 403" in detail and "unchecked" in detail


def test_property_reads_go_through_the_rate_limiter(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    from hubsync.delivery.ratelimit import RateLimiter

    sim = hubspot_simulator
    limiter = RateLimiter(limit=100)
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks(), limiter=limiter)
    sim.reset_calls()
    updater.process(messages([event("1001", 1, property_string="x")]), plenty_of_time)
    assert len(sim.calls) == 2  # one read, one batch
    assert limiter.stats()["sent"] == limiter.stats()["completed"] == 2


def test_a_refused_event_merged_with_others_goes_alone_and_its_other_values_are_not_applied(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    sim = hubspot_simulator
    updater = make_updater(sim, sqs_client, queues.dlq_url, schema=checks())
    batch = [
        event("1001", 1, property_string="older, fine", property_number="1"),
        event("1001", 2, property_radio="nope", property_number="2"),  # refused: its number must not land
        event("1001", 3, property_string="newest, fine", property_date="2024-02-01T09:00:00Z"),
        event("1002", 1, property_radio="Option 2"),
    ]
    report = updater.process(messages(batch), plenty_of_time)
    assert report.failed_message_ids == [] and report.applied_events == 3
    assert dict(report.refused_before_sending) == {"INVALID_OPTION": 1}
    held = sim.record(OBJECT, "1001")["properties"]  # type: ignore[index]
    assert (held["property_string"], held["property_number"]) == ("newest, fine", "1")
    assert held["property_date"] == midnight(2024, 2, 1)
    assert sim.record(OBJECT, "1002")["properties"]["property_radio"] == "option_2"  # type: ignore[index]
    dead = list(dead_letters(sqs_client, queues).values())
    assert len(dead) == 1 and dead[0]["event"]["properties"] == {"property_radio": "nope", "property_number": "2"}
    assert "'nope'" in dead[0]["error"]["message"] and "option_1, option_2" in dead[0]["error"]["message"]
