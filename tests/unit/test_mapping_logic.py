"""The mapping's pure logic: functions, result shapes, the hubspot-crm preset, allow-lists, settings, preview."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hubsync.exceptions import BadRequestError, ConfigurationError
from hubsync.intake.mapping import ExpressionError, Preview, mapper_for, preview
from hubsync.intake.mapping.presets import hubspot_crm_fingerprint
from hubsync.intake.sources import Source, parse_sources

NOW = 1_800_000_000_000
LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"


def source(**settings: Any) -> Source:
    return parse_sources(json.dumps({"s": settings}))["s"]


def run(settings: dict[str, Any], body: Any, default_object_type: str = "partner_services") -> Preview:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return preview(source(**settings), raw, default_object_type=default_object_type, now_ms=NOW)


def mapped(expression: str, body: Any) -> Preview:
    return run({"transform": expression}, body)


# ------------------------------------------------------------------------------------------------ functions
def test_from_items_builds_an_object_from_pairs() -> None:
    result = mapped("{id: id, properties: from_items([[name, value]])}", {"id": "1", "name": "city", "value": "Oslo"})
    assert result.events[0]["properties"] == {"city": "Oslo"}


def test_seconds_to_ms_gives_integer_milliseconds_as_stripe_created_needs() -> None:
    result = mapped("{id: id, properties: {p: `1`}, occurredAt: seconds_to_ms(created)}", {"id": "1", "created": 1.7e9})
    assert result.events[0]["occurredAt"] == 1_700_000_000_000
    assert type(result.events[0]["occurredAt"]) is int
    # A fraction of a second is rounded to the millisecond, not truncated by binary floating point.
    result = mapped("{id: id, properties: {p: `1`}, occurredAt: seconds_to_ms(t)}", {"id": "1", "t": 1700000000.123})
    assert result.events[0]["occurredAt"] == 1_700_000_000_123


def test_lower_and_upper() -> None:
    result = mapped("{id: id, properties: {a: lower(e), b: upper(e)}}", {"id": "1", "e": "MiXed@Example.COM"})
    assert result.events[0]["properties"] == {"a": "mixed@example.com", "b": "MIXED@EXAMPLE.COM"}


def test_powertools_functions_decode_nested_payloads() -> None:
    inner = json.dumps({"id": "9", "properties": {"x": 1}})
    packed = base64.b64encode(gzip.compress(inner.encode())).decode()
    assert mapped("powertools_json(payload)", {"payload": inner}).events[0]["id"] == "9"
    assert mapped("powertools_json(powertools_base64_gzip(p))", {"p": packed}).events[0]["properties"] == {"x": "1"}
    assert mapped("powertools_json(powertools_base64(p))", {"p": base64.b64encode(inner.encode()).decode()}).events


def test_a_function_given_a_wrong_type_leaves_the_body_unmapped() -> None:
    result = mapped("{id: id, properties: {p: `1`}, occurredAt: seconds_to_ms(created)}", {"id": "1", "created": "x"})
    assert result.events == []
    assert result.unmapped is not None and "seconds_to_ms" in result.unmapped
    assert result.rejected == [
        {"index": 0, "error": f"the body could not be mapped (kept as UNMAPPED): {result.unmapped}"}
    ]


def test_from_items_refuses_what_is_not_pairs() -> None:
    result = mapped("{id: id, properties: from_items(pairs)}", {"id": "1", "pairs": [["a", 1, 2]]})
    assert result.unmapped is not None and "from_items" in result.unmapped


# ------------------------------------------------------------------------------------------- result shapes
def test_an_array_result_skips_nulls_and_keeps_each_entrys_place_as_its_index() -> None:
    body = {"items": [{"id": "1", "v": 1}, None, {"id": "", "v": 2}]}
    # A multi-select list keeps the literal null in the middle (a projection would drop it itself).
    shape = "{id: id, properties: {v: v}}"
    result = mapped(f"[items[0].{shape}, `null`, items[2].{shape}]", body)
    assert [e["id"] for e in result.events] == ["1"]
    assert result.rejected == [{"index": 2, "error": "id must be a non-empty string"}]


@pytest.mark.parametrize("expression", ["`null`", "`[]`", "items[?kind == 'none']"])
def test_null_or_an_empty_array_means_nothing_to_apply(expression: str) -> None:
    result = mapped(expression, {"items": [{"kind": "x"}]})
    assert result == Preview(events=[], rejected=[], unmapped=None)


@pytest.mark.parametrize(
    ("expression", "kind"),
    [('`"text"`', "a string"), ("`17`", "a number"), ("`true`", "a boolean"), ("[`1`, `{}`]", "array holding")],
)
def test_a_result_of_the_wrong_type_leaves_the_body_unmapped(expression: str, kind: str) -> None:
    result = mapped(expression, {"a": 1})
    assert result.unmapped is not None and kind in result.unmapped
    assert result.events == [] and len(result.rejected) == 1


def test_a_body_that_is_not_json_is_refused_not_unmapped() -> None:
    with pytest.raises(BadRequestError) as caught:
        mapped("@", b"{not json")
    assert caught.value.code == "invalid_json"


def test_numbers_reach_jmespath_as_numbers_so_comparisons_and_functions_work() -> None:
    result = mapped(
        "items[?amount > `10`].{id: id, properties: {amount: amount}}",
        {"items": [{"id": "1", "amount": 12.5}, {"id": "2", "amount": 9.99}, {"id": "3", "amount": 11}]},
    )
    assert [(e["id"], e["properties"]["amount"]) for e in result.events] == [("1", "12.5"), ("3", "11")]


def test_mapped_events_take_the_receivers_validation_and_normalisation() -> None:
    result = mapped(
        "{id: n, properties: {flag: f, list: l}, occurredAt: t}", {"n": 42, "f": False, "l": ["a", 1], "t": NOW}
    )
    (event,) = result.events
    assert event == {
        "id": "42",
        "objectType": "partner_services",
        "properties": {"flag": "false", "list": "a;1"},
        "occurredAt": NOW,
        "receivedAt": NOW,
        "source": "s",
    }
    nested = mapped("{id: n, properties: {x: o}}", {"n": "1", "o": {"deep": 1}})
    assert nested.events == [] and "nested objects" in nested.rejected[0]["error"]


# ------------------------------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("[?", "not valid JMESPath"),
        ("nope(@)", "unknown functions ['nope']"),
        ("{a: lower(upper(b)), c: x(d)}", "['x']"),
    ],
)
def test_a_bad_expression_is_a_configuration_error_naming_the_source_on_one_line(expression: str, named: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        mapper_for(source(transform=expression))
    assert isinstance(caught.value, ConfigurationError)
    assert "source 's'" in caught.value.message and named in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    "settings",
    [
        {"transform": ""},
        {"transform": 3},
        {"preset": "stripe-magic"},
        {"preset": {"name": "hubspot-crm", "idPropertyy": "x"}},
        {"preset": "hubspot-crm", "transform": "@"},
        {"objectTypes": "contacts"},
        {"objectTypes": ["bad type"]},
        {"properties": []},
        {"properties": ["has space"]},
        {"properties": ["a*b"]},
        {"idempotencyKey": "body-md5"},
    ],
)
def test_malformed_mapping_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        source(**settings)


def test_jmespath_is_imported_only_for_a_source_with_a_transform() -> None:
    # (Powertools' logger, in the receiver's handler, imports jmespath itself: the functions are what is saved.)
    probe = (
        "import sys, json; from hubsync.intake.sources import parse_sources; "
        "from hubsync.intake.mapping import mappers_for; "
        "mappers_for(parse_sources(sys.argv[1])); "
        "print(bool({'jmespath', 'hubsync.intake.mapping.functions', 'aws_lambda_powertools.utilities.jmespath_utils'} "
        "& set(sys.modules)))"
    )

    def loads_jmespath(sources: dict[str, Any]) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, json.dumps(sources)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(LAYER)},
            timeout=60,
        )
        return done.stdout.strip()

    assert loads_jmespath({"a": {}, "b": {"preset": "hubspot-crm", "objectTypes": ["contacts"]}}) == "False"
    assert loads_jmespath({"a": {}, "b": {"transform": "@"}}) == "True"


# ---------------------------------------------------------------------------------------------- allow-lists
def test_by_default_a_source_writes_only_its_own_object_type() -> None:
    body = [{"id": "1", "properties": {"a": 1}}, {"id": "2", "properties": {"a": 1}, "objectType": "contacts"}]
    result = run({"objectType": "deals"}, body)
    assert [e["objectType"] for e in result.events] == ["deals"]
    assert result.rejected[0]["index"] == 1 and "objectType 'contacts'" in result.rejected[0]["error"]
    # Without its own objectType the source writes only OBJECT_TYPE's.
    result = run({}, body, default_object_type="partner_services")
    assert [e["objectType"] for e in result.events] == ["partner_services"] and result.rejected[0]["index"] == 1
    assert not run({}, body, default_object_type="contacts").rejected


def test_object_types_and_properties_allow_lists() -> None:
    settings = {"objectTypes": ["contacts", "deals"], "properties": ["email", "erp_*"], "objectType": "contacts"}
    body = [
        {"id": "1", "properties": {"email": "a@b.c", "erp_code": "X"}},
        {"id": "2", "properties": {"erp_": "prefix itself"}, "objectType": "deals"},
        {"id": "3", "properties": {"email": "a@b.c", "lifecyclestage": "customer"}},
        {"id": "4", "properties": {"email": "x"}, "objectType": "companies"},
        {"id": "5", "properties": {"emails": "x"}},
    ]
    result = run(settings, body)
    assert [e["id"] for e in result.events] == ["1", "2"]
    assert [r["index"] for r in result.rejected] == [2, 3, 4]
    assert "'lifecyclestage'" in result.rejected[0]["error"] and "'companies'" in result.rejected[1]["error"]


def test_a_star_allows_every_property() -> None:
    assert run({"properties": ["*"]}, {"id": "1", "properties": {"anything": 1}}).events


# ----------------------------------------------------------------------------------------- hubspot-crm
def hubspot_delivery(*changes: dict[str, Any], attempt: int = 0) -> list[dict[str, Any]]:
    base = {
        "portalId": 62515,
        "appId": 1160452,
        "subscriptionId": 2881778,
        "changeSource": "CRM",
        "sourceId": "userId:1",
    }
    return [
        {**base, "eventId": 1000 + i, "attemptNumber": attempt, "occurredAt": 1_700_000_000_000 + i, **change}
        for i, change in enumerate(changes)
    ]


def test_hubspot_crm_maps_property_changes_and_ignores_other_subscriptions() -> None:
    body = hubspot_delivery(
        {
            "subscriptionType": "contact.propertyChange",
            "objectId": 123,
            "propertyName": "email",
            "propertyValue": "x@y.z",
        },
        {"subscriptionType": "contact.creation", "objectId": 124},
        {"subscriptionType": "contact.deletion", "objectId": 125},
        {
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "2-123",
            "objectId": 9,
            "propertyName": "p",
            "propertyValue": "v",
        },
        {"subscriptionType": "contact.propertyChange", "objectId": 126},
    )
    result = run({"preset": "hubspot-crm", "objectType": "contacts"}, body)
    assert [(e["id"], e["properties"], e["occurredAt"], e["eventId"]) for e in result.events] == [
        ("123", {"email": "x@y.z"}, 1_700_000_000_000, "1000"),
        ("9", {"p": "v"}, 1_700_000_000_003, "1003"),
    ]
    assert all(e["objectType"] == "contacts" and "idProperty" not in e for e in result.events)
    assert result.rejected == [{"index": 4, "error": "properties must be a non-empty object"}]


def test_hubspot_crm_id_property_names_the_targets_identifying_property() -> None:
    body = hubspot_delivery(
        {"subscriptionType": "deal.propertyChange", "objectId": 5, "propertyName": "amount", "propertyValue": "10"}
    )
    result = run({"preset": {"name": "hubspot-crm", "idProperty": "source_deal_id"}}, body)
    assert result.events[0]["idProperty"] == "source_deal_id" and result.events[0]["id"] == "5"


@pytest.mark.parametrize("body", [{"objectId": 1}, [1, 2], "text"])
def test_hubspot_crm_leaves_bodies_of_another_shape_unmapped(body: Any) -> None:
    assert run({"preset": "hubspot-crm"}, body).unmapped is not None


def test_hubspot_crm_idempotency_is_by_body_hash_that_ignores_the_attempt_number() -> None:
    settings = parse_sources(json.dumps({"h": {"preset": "hubspot-crm"}}))["h"]
    assert settings.idempotency_key == "body-sha256"
    mapper = mapper_for(settings)
    change = {"subscriptionType": "contact.propertyChange", "objectId": 1, "propertyName": "a", "propertyValue": "b"}
    first = json.dumps(hubspot_delivery(change, attempt=0)).encode()
    retry = json.dumps(hubspot_delivery(change, attempt=3), indent=1).encode()
    other = json.dumps(hubspot_delivery({**change, "propertyValue": "c"})).encode()
    assert mapper.delivery_hash(first) == mapper.delivery_hash(retry)
    assert mapper.delivery_hash(first) != mapper.delivery_hash(other)
    assert hubspot_crm_fingerprint(b"not json") == b"not json"


def test_body_sha256_for_any_sender_hashes_the_bytes() -> None:
    mapper = mapper_for(source(idempotencyKey="body-sha256"))
    assert mapper.delivery_hash(b'{"a":1}') != mapper.delivery_hash(b'{"a": 1}')
    assert mapper.delivery_hash(b"x") == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert mapper_for(source()).delivery_hash(b"x") is None
