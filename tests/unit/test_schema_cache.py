"""Events checked against cached definitions (hubsync.delivery.schema.checks / cache / refusals / settings), pure logic:
an in-process fetch stands in for HubSpot. Over HTTP against the simulator: tests/integration/test_schema_checks.py."""

from __future__ import annotations

import json

import pytest

from hubsync.delivery.schema.cache import DefinitionCache
from hubsync.delivery.schema.checks import SchemaChecks
from hubsync.delivery.schema.definitions import ObjectDefinitions, parse_definitions
from hubsync.delivery.schema.refusals import named_failures, suspects
from hubsync.delivery.schema.settings import parse_object_settings
from hubsync.events import QueuedEvent
from hubsync.exceptions import ConfigurationError

T = "partner_services"


def definitions(options: list[str]) -> ObjectDefinitions:
    def p(name: str, kind: str, **more: object) -> dict[str, object]:
        return {"name": name, "label": name, "type": kind, "fieldType": "text", "options": [], **more}

    return parse_definitions(
        T,
        {
            "results": [
                p("text", "string"),
                p("day", "date"),
                p(
                    "colour",
                    "enumeration",
                    options=[{"label": o.title(), "value": o, "hidden": False} for o in options],
                ),
                p("key", "string", hasUniqueValue=True),
                p("score", "number", calculated=True),
            ]
        },
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetcher:
    def __init__(self, options: list[str]) -> None:
        self.options = options
        self.calls = 0
        self.fail = False

    def __call__(self, object_type: str) -> ObjectDefinitions | None:
        self.calls += 1
        return None if self.fail else definitions(list(self.options))


def event(**properties: str) -> QueuedEvent:
    return QueuedEvent(id="1", properties=properties, object_type=T, occurred_at=1)


def test_an_event_with_refused_values_is_named_with_every_reason_and_the_rest_converted() -> None:
    checks = SchemaChecks(DefinitionCache(clock=Clock()))
    events = [
        event(text="x", day="2024-01-15T10:00:00Z", colour="Red"),
        event(colour="purple", day="soon", nope="1", score="3"),
        event(text="", day=""),
    ]
    result = checks.check(events, Fetcher(["red", "blue"]))
    assert events[0].properties == {"text": "x", "day": "1705276800000", "colour": "red"}
    assert result.converted_values == 2
    assert list(result.refused) == [1]
    codes = [problem.code for problem in result.refused[1]]
    assert codes == ["INVALID_OPTION", "INVALID_DATE", "PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"]
    assert events[1].properties["colour"] == "purple"  # a refused event is kept as it came
    assert result.refused_by_code()["INVALID_DATE"] == 1


def test_writing_by_an_id_property_that_is_not_unique_is_refused() -> None:
    checks = SchemaChecks(DefinitionCache(clock=Clock()))
    good = QueuedEvent(id="k1", properties={"text": "a"}, object_type=T, occurred_at=1, id_property="key")
    bad = QueuedEvent(id="k1", properties={"text": "a"}, object_type=T, occurred_at=1, id_property="text")
    result = checks.check([good, bad], Fetcher([]))
    assert list(result.refused) == [1]
    assert result.refused[1][0].code == "NOT_UNIQUE_ID_PROPERTY"


def test_one_fetch_per_type_per_ttl() -> None:
    clock, fetch = Clock(), Fetcher(["red"])
    checks = SchemaChecks(DefinitionCache(ttl_seconds=300, clock=clock))
    for _ in range(50):
        checks.check([event(colour="red")], fetch)
        clock.now += 5
    assert fetch.calls == 1  # 245 s
    clock.now += 60
    checks.check([event(colour="red")], fetch)
    assert fetch.calls == 2


def test_a_new_option_is_picked_up_when_a_refusal_finds_the_definitions_old() -> None:
    clock, fetch = Clock(), Fetcher(["red"])
    checks = SchemaChecks(DefinitionCache(ttl_seconds=300, recheck_seconds=10, clock=clock))
    checks.check([event(colour="red")], fetch)
    fetch.options.append("green")  # added in HubSpot
    clock.now += 3
    refused = checks.check([event(colour="green")], fetch)
    assert list(refused.refused) == [0] and fetch.calls == 1  # definitions 3 s old: trusted
    clock.now += 10
    again = checks.check([event(colour="green")], fetch)
    assert not again.refused and fetch.calls == 2  # old enough: fetched again before refusing


def test_hubspot_refusing_what_the_definitions_allowed_fetches_them_again_at_the_next_use() -> None:
    clock, fetch = Clock(), Fetcher(["red"])
    cache = DefinitionCache(ttl_seconds=300, recheck_seconds=10, clock=clock)
    checks = SchemaChecks(cache)
    checks.check([event(colour="red")], fetch)
    cache.suspect(T)
    clock.now += 1
    checks.check([event(colour="red")], fetch)
    assert fetch.calls == 1  # never two fetches within recheck_seconds
    clock.now += 10
    checks.check([event(colour="red")], fetch)
    assert fetch.calls == 2
    clock.now += 10
    checks.check([event(colour="red")], fetch)
    assert fetch.calls == 2  # no longer suspect


def test_definitions_that_cannot_be_fetched_let_values_go_and_are_tried_again_later() -> None:
    clock, fetch = Clock(), Fetcher(["red"])
    fetch.fail = True
    checks = SchemaChecks(DefinitionCache(ttl_seconds=300, recheck_seconds=10, clock=clock))
    result = checks.check([event(colour="anything")], fetch)
    assert result.unavailable == [T] and not result.refused
    checks.check([event(colour="anything")], fetch)
    assert fetch.calls == 1
    clock.now += 10
    fetch.fail = False
    assert list(checks.check([event(colour="anything")], fetch).refused) == [0]
    # A failed refresh keeps what was known
    fetch.fail = True
    clock.now += 400
    assert list(checks.check([event(colour="anything")], fetch).refused) == [0]
    assert fetch.calls == 4


def test_refusals_name_properties_and_values_from_both_places_hubspot_puts_them() -> None:
    listed = [
        {
            "isValid": False,
            "message": "Purple was not one of the allowed options",
            "error": "INVALID_OPTION",
            "name": "colour",
        }
    ]
    body = {
        "status": "error",
        "message": "Property values were not valid: " + json.dumps(listed),
        "errors": [
            {
                "message": 'Property "nope" does not exist',
                "code": "PROPERTY_DOESNT_EXIST",
                "context": {"propertyName": ["nope"]},
            }
        ],
    }
    named = named_failures(body)
    assert set(named) == {"colour", "nope"}
    inputs = {
        "t0": {"properties": {"colour": "Purple"}},
        "t1": {"properties": {"colour": "red"}},
        "t2": {"properties": {"nope": "x"}},
        "t3": {"properties": {"text": "y"}},
    }
    by_value, by_name = suspects(inputs, named)
    assert by_value == ["t0"] and by_name == ["t1", "t2"]
    assert named_failures({"message": "Property values were not valid: not json"}) == {}
    assert named_failures("<html>") == {}


def test_object_settings() -> None:
    settings = parse_object_settings('{"contacts": {"writeMode": "upsert", "idProperty": "email"}, "deals": {}}')
    assert settings.upserts("contacts", "email")
    assert not settings.upserts("contacts", "phone") and not settings.upserts("contacts", None)
    assert not settings.upserts("deals", "x")
    assert parse_object_settings(None).by_type == {}
    for bad, said in (
        ("[", "not JSON"),
        ("[]", "JSON object"),
        ('{"contacts": {"writeMode": "merge"}}', "writeMode"),
        ('{"contacts": {"mode": "upsert"}}', "unknown keys"),
        ('{"partner_services": {"writeMode": "upsert"}}', "no create"),
    ):
        with pytest.raises(ConfigurationError, match=said):
            parse_object_settings(bad)
