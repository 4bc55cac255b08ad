from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubsync.events import Event, dumps, loads, normalise_value, parse_body, parse_event, parse_occurred_at
from hubsync.exceptions import BadRequestError, InvalidEventError

NOW = 1_764_300_000_000  # 2025-11-28


def parse(raw: Any) -> Event:
    return parse_event(raw, default_object_type="partner_services", now_ms=NOW)


def test_documented_example_is_normalised_to_hubspot_strings() -> None:
    body = b"""{"id": "512", "properties": {"property_number": 17, "property_checkbox": false,
      "property_multiple_checkboxes": ["chocolate", "strawberry"], "property_string": "value"},
      "idProperty": "my_unique_property_name", "objectType": "partner_services",
      "occurredAt": "2019-10-30T03:30:17.883Z", "eventId": "evt-1"}"""
    [raw] = parse_body(body)
    event = parse(raw)
    assert event.properties == {
        "property_number": "17",
        "property_checkbox": "false",
        "property_multiple_checkboxes": "chocolate;strawberry",
        "property_string": "value",
    }
    assert event.id_property == "my_unique_property_name"
    assert event.occurred_at == 1572406217883
    assert event.event_id == "evt-1"
    assert event.record_key == ("partner_services", "my_unique_property_name", "512")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (None, ""),
        (0, "0"),
        (-12, "-12"),
        (17.0, "17"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (1e-7, "0.0000001"),
        (Decimal("1.10"), "1.1"),
        (Decimal("-0.0"), "0"),
        (["a", 1, True], "a;1;true"),
        ([], ""),
        ("", ""),
        ("x;y", "x;y"),
    ],
)
def test_values_become_plain_strings(value: Any, expected: str) -> None:
    assert normalise_value(value, "p") == expected


@pytest.mark.parametrize("value", [{"nested": 1}, [{"a": 1}], [None], [[1]], float("nan"), float("inf")])
def test_nested_or_non_finite_values_are_invalid(value: Any) -> None:
    with pytest.raises(InvalidEventError):
        normalise_value(value, "p")


def test_numbers_keep_the_decimal_form_they_were_sent_in() -> None:
    [raw] = parse_body(b'{"id": 1, "properties": {"amount": 12.50, "big": 123456789012345678901234567890}}')
    event = parse(raw)
    assert event.id == "1"
    assert event.properties == {"amount": "12.5", "big": "123456789012345678901234567890"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "JSON object"),
        ({"properties": {"a": "1"}}, "id"),
        ({"id": "", "properties": {"a": "1"}}, "id"),
        ({"id": True, "properties": {"a": "1"}}, "id"),
        ({"id": "1"}, "properties"),
        ({"id": "1", "properties": {}}, "properties"),
        ({"id": "1", "properties": []}, "properties"),
        ({"id": "1", "properties": {"bad name": "x"}}, "property name"),
        ({"id": "1", "properties": {"a": {"b": 1}}}, "nested"),
        ({"id": "1", "properties": {"a": "1"}, "objectType": "no spaces"}, "objectType"),
        ({"id": "1", "properties": {"a": "1"}, "occurredAt": "yesterday"}, "occurredAt"),
        ({"id": "1", "properties": {"a": "1"}, "occurredAt": 1572406217}, "seconds"),
        ({"id": "1", "properties": {"a": "1"}, "occurredAt": NOW + 2 * 86_400_000}, "future"),
        ({"id": "1", "properties": {"a": "1"}, "idProperty": ""}, "idProperty"),
        ({"id": "x" * 600, "properties": {"a": "1"}}, "longer"),
    ],
)
def test_invalid_events_say_what_is_wrong(raw: Any, fragment: str) -> None:
    with pytest.raises(InvalidEventError, match=fragment):
        parse(raw)


def test_defaults_object_type_and_time_received() -> None:
    event = parse({"id": "7", "properties": {"a": "b"}})
    assert event.object_type == "partner_services"
    assert event.occurred_at == NOW
    assert event.received_at == NOW


def test_hs_object_id_as_id_property_means_the_record_id() -> None:
    event = parse({"id": "7", "properties": {"a": "b"}, "idProperty": "hs_object_id"})
    assert event.id_property is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-10-30T03:30:17.883Z", 1572406217883),
        ("2019-10-30T04:30:17.883+01:00", 1572406217883),
        ("2019-10-30T03:30:17.883", 1572406217883),  # no offset: UTC
        (1572406217883, 1572406217883),
        ("1572406217883", 1572406217883),
    ],
)
def test_occurred_at_formats(value: Any, expected: int) -> None:
    assert parse_occurred_at(value, NOW) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b"\xff\xfe", "invalid_encoding"),
        (b"{", "invalid_json"),
        (b'{"id": NaN}', "invalid_json"),
        (b"42", "invalid_shape"),
        (b'"text"', "invalid_shape"),
        (b'{"events": {}}', "invalid_shape"),
        (b"[]", "no_events"),
        (b'{"events": []}', "no_events"),
    ],
)
def test_unusable_bodies_are_refused_whole(body: bytes, code: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        parse_body(body)
    assert raised.value.code == code
    assert raised.value.status == 400


def test_body_shapes() -> None:
    one = {"id": "1", "properties": {"a": "1"}}
    assert parse_body(dumps(one).encode()) == [one]
    assert parse_body(dumps([one, one]).encode()) == [one, one]
    assert parse_body(dumps({"events": [one]}).encode()) == [one]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_values = st.one_of(_scalars, st.lists(st.one_of(st.booleans(), st.integers(), st.text(max_size=5)), max_size=4))
_names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@given(st.dictionaries(_names, _values, min_size=1, max_size=8), st.text(min_size=1, max_size=30))
def test_normalising_is_idempotent_and_yields_strings(properties: dict[str, Any], record_id: str) -> None:
    if not record_id.strip():
        record_id = "r"
    event = parse({"id": record_id, "properties": properties})
    assert all(isinstance(v, str) for v in event.properties.values())
    assert set(event.properties) == set(properties)
    # What the receiver queues parses back to the same event: updater and replayer share the parser.
    again = parse(loads(dumps(event.to_message())))
    assert again == event


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_plain_decimal_form_round_trips_the_number(number: float) -> None:
    text = normalise_value(number, "p")
    assert "e" not in text.lower()
    assert Decimal(text) == Decimal(repr(number))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_any_bytes_either_parse_or_are_refused_with_a_clear_400(body: bytes) -> None:
    try:
        events = parse_body(body)
    except BadRequestError as exc:
        assert exc.status == 400 and exc.code and exc.message
    else:
        assert isinstance(events, list) and events


@given(_json_values)
def test_any_json_event_is_either_valid_or_invalid_with_a_reason(raw: Any) -> None:
    try:
        event = parse(raw)
    except InvalidEventError as exc:
        assert exc.message
    else:
        assert event.id and event.properties and all(isinstance(v, str) for v in event.properties.values())
        dumps(event.to_message()).encode("utf-8")  # always a sendable message


@given(st.dictionaries(_names, _json_values, min_size=1, max_size=5))
def test_properties_of_any_shape_normalise_or_are_refused(properties: dict[str, Any]) -> None:
    try:
        event = parse({"id": "1", "properties": properties})
    except InvalidEventError:
        assert any(
            isinstance(v, dict) or _has_bad_item(v) or _not_finite(v) or _surrogate(v) for v in properties.values()
        )
    else:
        assert set(event.properties) == set(properties)


def _has_bad_item(value: Any) -> bool:
    return isinstance(value, list) and any(i is None or isinstance(i, dict | list) or _not_finite(i) for i in value)


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and (value != value or value in (float("inf"), float("-inf")))


def _surrogate(value: Any) -> bool:
    texts = value if isinstance(value, list) else [value]
    return any(isinstance(t, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in t) for t in texts)


@given(st.dictionaries(_names, _values, min_size=1, max_size=8), st.text(min_size=1, max_size=30))
def test_the_updaters_fast_path_reads_what_the_receiver_queued_exactly(properties: dict[str, Any], rid: str) -> None:
    from hubsync.events import queued_event

    if not rid.strip():
        rid = "r"
    body = dumps({**parse({"id": rid, "properties": properties}).to_message(), "source": "default"})
    fast = queued_event(body)
    strict = parse_event(json.loads(body), default_object_type="partner_services", now_ms=NOW)
    assert strict.to_message() == json.loads(body)  # normalising is idempotent
    assert fast is not None
    read = ("id", "properties", "object_type", "occurred_at", "id_property", "received_at")
    assert [getattr(fast, name) for name in read] == [getattr(strict, name) for name in read]


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW},  # no receivedAt: not queued by us
        {"id": "1", "properties": {"a": 1}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW},
        {"id": 1, "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW},
        {"id": "1", "properties": {}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW},
        {"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": "2020", "receivedAt": NOW},
        {"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": True, "receivedAt": NOW},
        {"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW, "receivedAt": 1.5},
        {"id": "", "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW},
        {"id": "1", "properties": {"a": None}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW},
        {"id": "1", "properties": {"a": "1"}, "occurredAt": NOW, "receivedAt": NOW},  # no objectType
        {"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW, "idProperty": 7},
        [1, 2],
        "not json",
    ],
)
def test_anything_not_shaped_as_the_receivers_message_takes_the_strict_path(raw: Any) -> None:
    from hubsync.events import queued_event

    assert queued_event(raw if raw == "not json" else dumps(raw)) is None


def test_the_fast_path_refuses_what_is_not_one_json_document() -> None:
    from hubsync.events import queued_event

    good = dumps({"id": "1", "properties": {"a": "1"}, "objectType": "x", "occurredAt": NOW, "receivedAt": NOW})
    assert queued_event(good) is not None
    assert '"a":"1"' in good
    for body in (good + " x", good + good, good[:-1], good.replace('"a":"1"', '"a":"\\ud800"')):
        assert queued_event(body) is None
