"""The simulator's batch update through real HTTP: HubSpot's answers (200, 207, whole-batch 400s), ids and
idProperty, value formats, and what HubSpot's official client makes of them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync_local.simulator import Call, HubSpotSimulator
from support.simulator_http import AUTH, TYPE, change, client, get, stored, update

DAY_MS = 86_400_000


def test_batch_update_applies_every_input_and_answers_200(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    answer = update(sim, change("1001", property_string="renamed"), change("1002", property_number="42.5"))

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= body.keys()
    assert "errors" not in body
    results = {result["id"]: result for result in body["results"]}
    assert results["1001"]["properties"]["property_string"] == "renamed"
    assert results["1002"]["properties"]["property_number"] == "42.5"
    assert {"hs_object_id", "hs_createdate", "hs_lastmodifieddate"} <= results["1001"]["properties"].keys()
    assert results["1001"]["properties"]["hs_object_id"] == "1001"
    assert results["1001"]["archived"] is False
    assert results["1001"]["updatedAt"].endswith("Z")
    assert stored(sim, "1001")["property_string"] == "renamed"
    assert sim.calls == [Call("POST", f"/crm/v3/objects/{TYPE}/batch/update", 200, 2, sim.calls[0].at)]


def test_results_do_not_come_back_in_input_order(hubspot_simulator: HubSpotSimulator) -> None:
    ids = [str(n) for n in range(1001, 1009)]
    first = [r["id"] for r in update(hubspot_simulator, *(change(i, property_string=i) for i in ids)).json()["results"]]
    again = [r["id"] for r in update(hubspot_simulator, *(change(i, property_string=i) for i in ids)).json()["results"]]

    assert sorted(first) == ids
    assert first != ids
    assert again == first  # a fixed order per set of ids: runs repeat


def test_missing_records_answer_207_with_one_grouped_error(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(
        hubspot_simulator,
        {**change("1001", property_string="kept"), "objectWriteTraceId": "trace-1001"},
        {**change("9998", property_string="lost"), "objectWriteTraceId": "trace-9998"},
        change("9999", property_string="lost"),
    )

    assert answer.status_code == 207
    body = answer.json()
    assert body["numErrors"] == 1
    [error] = body["errors"]
    assert error["status"] == "error"
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["message"] == (
        "Could not get some PARTNER_SERVICE objects, they may be deleted or not exist. Check that ids are valid."
    )
    assert error["context"] == {"ids": ["9998", "9999"], "objectWriteTraceId": ["trace-9998"]}
    [result] = body["results"]
    assert result["id"] == "1001"
    assert result["objectWriteTraceId"] == "trace-1001"
    assert stored(hubspot_simulator, "1001")["property_string"] == "kept"


def test_official_client_gets_207_as_data_and_reads_the_update_back(hubspot_simulator: HubSpotSimulator) -> None:
    api = client(hubspot_simulator).crm.objects
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(id="1003", properties={"property_radio": "option_2"}),
            SimplePublicObjectBatchInput(id="404404", properties={}, object_write_trace_id="t-1"),
        ]
    )
    data, status, _headers = api.batch_api.update_with_http_info(
        TYPE, batch_input_simple_public_object_batch_input=batch
    )

    assert status == 207
    assert data.errors[0].context == {"ids": ["404404"], "objectWriteTraceId": ["t-1"]}
    read = api.basic_api.get_by_id(TYPE, "1003", properties=["property_radio", "property_string"])
    assert read.properties["property_radio"] == "option_2"
    assert read.properties["property_string"] == "Training"


def test_duplicate_ids_refuse_the_whole_batch(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(hubspot_simulator, change("1001", property_string="a"), change("1001", property_string="b"))

    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "Duplicate IDs found in batch input: [1001]. IDs must be unique"
    assert body["context"] == {"ids": ["1001"]}
    assert body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"]
    assert stored(hubspot_simulator, "1001")["property_string"] == "Onboarding"


def test_id_and_id_property_reaching_one_record_are_duplicates(hubspot_simulator: HubSpotSimulator) -> None:
    by_unique = {**change("ps-1002", property_string="b"), "idProperty": "my_unique_property_name"}
    answer = update(hubspot_simulator, change("1002", property_string="a"), by_unique)

    assert answer.status_code == 400
    assert answer.json()["message"] == "Duplicate IDs found in batch input: [1002]. IDs must be unique"
    assert answer.json()["context"] == {"ids": ["1002"]}


def test_update_through_a_unique_id_property(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(
        hubspot_simulator, {**change("ps-1004", property_string="x"), "idProperty": "my_unique_property_name"}
    )

    assert answer.status_code == 200
    assert answer.json()["results"][0]["id"] == "1004"
    assert stored(hubspot_simulator, "1004")["property_string"] == "x"


@pytest.mark.parametrize("id_property", ["hs_object_id", "property_string", "no_such_property"])
def test_id_property_must_name_a_unique_property(hubspot_simulator: HubSpotSimulator, id_property: str) -> None:
    answer = update(hubspot_simulator, {**change("1001", property_string="x"), "idProperty": id_property})

    assert answer.status_code == 400
    assert answer.json()["message"] == f"Unable to perform update/upsert by non-unique property {id_property}"


INVALID = [
    ("no_such_property", "1", "PROPERTY_DOESNT_EXIST", 'Property "no_such_property" does not exist'),
    ("property_dropdown", "option_z", "INVALID_OPTION", "option_z was not one of the allowed options"),
    ("property_radio", "option_3", "INVALID_OPTION", "option_3 was not one of the allowed options"),
    ("property_multiple_checkboxes", "chocolate;mint", "INVALID_OPTION", "mint was not one of the allowed options"),
    ("property_checkbox", "yes", "INVALID_OPTION", "yes was not one of the allowed options"),
    ("property_date", "1579179660000", "INVALID_DATE", "1579179660000 is at 13:1:0.0 UTC, not midnight!"),
    ("property_number", "12abc", "INVALID_DECIMAL", "12abc was not a valid number."),
    ("property_datetime", "tomorrow", "INVALID_LONG", "tomorrow was not a valid long."),
    (
        "hs_createdate",
        "1572480000000",
        "READ_ONLY_VALUE",
        "hs_createdate is a read only property; its value cannot be set.",
    ),
    ("hs_object_id", "1", "READ_ONLY_VALUE", "hs_object_id is a read only property; its value cannot be set."),
]


@pytest.mark.parametrize(("name", "value", "code", "message"), INVALID, ids=[row[0] + "-" + row[2] for row in INVALID])
def test_an_invalid_value_in_any_input_refuses_the_whole_batch(
    hubspot_simulator: HubSpotSimulator, name: str, value: str, code: str, message: str
) -> None:
    before = hubspot_simulator.records(TYPE)
    answer = update(hubspot_simulator, change("1001", property_string="fine"), change("1002", **{name: value}))

    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    listed = [{"isValid": False, "message": message, "error": code, "name": name}]
    assert body["message"] == "Property values were not valid: " + json.dumps(listed, separators=(",", ":"))
    assert body["errors"] == [{"message": message, "code": code, "context": {"propertyName": [name]}}]
    assert hubspot_simulator.records(TYPE) == before


def test_every_failure_is_listed_once(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(
        hubspot_simulator,
        change("1001", property_dropdown="nope", colour="red"),
        change("1002", property_dropdown="nope"),
    )

    assert [error["code"] for error in answer.json()["errors"]] == ["INVALID_OPTION", "PROPERTY_DOESNT_EXIST"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("property_date", "1572480000000"),
        ("property_datetime", "1579179660123"),
        ("property_datetime", "2024-03-01T12:30:00.000Z"),
        ("property_multiple_checkboxes", "chocolate;vanilla"),
        ("property_multiple_checkboxes", ";strawberry"),
        ("property_checkbox", "false"),
        ("property_number", "-3.25"),
        ("property_dropdown", "choice_b"),
        ("property_string", "any text at all"),
    ],
)
def test_valid_values_are_stored(hubspot_simulator: HubSpotSimulator, name: str, value: str) -> None:
    answer = update(hubspot_simulator, change("1005", **{name: value}))

    assert answer.status_code == 200, answer.text
    assert stored(hubspot_simulator, "1005")[name] == value


def test_empty_string_clears_a_value(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(hubspot_simulator, change("1006", property_dropdown="", my_unique_property_name=""))

    assert answer.status_code == 200
    assert answer.json()["results"][0]["properties"]["property_dropdown"] == ""  # echoed as sent
    assert "property_dropdown" not in stored(hubspot_simulator, "1006")
    read = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1006", properties="property_dropdown").json()
    assert read["properties"]["property_dropdown"] is None  # HubSpot shows an unset property as null
    # the cleared unique value is free again
    assert update(hubspot_simulator, change("1007", my_unique_property_name="ps-1006")).status_code == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ms=st.integers(min_value=-(10**13), max_value=10**13))
def test_dates_must_be_midnight_utc(hubspot_simulator: HubSpotSimulator, ms: int) -> None:
    answer = update(hubspot_simulator, change("1008", property_date=str(ms)))

    assert answer.status_code == (200 if ms % DAY_MS == 0 else 400)


@pytest.mark.parametrize("value", [5, 2.5, True, None, ["a"]])
def test_values_must_be_json_strings(hubspot_simulator: HubSpotSimulator, value: Any) -> None:
    answer = update(
        hubspot_simulator,
        change("1001", property_string="ok"),
        {"id": "1002", "properties": {"property_number": value}},
    )

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "inputs[1].properties.property_number must be a string" in answer.json()["message"]
    assert stored(hubspot_simulator, "1001")["property_string"] == "Onboarding"


def test_more_than_100_inputs_refuse_the_whole_batch(hubspot_simulator: HubSpotSimulator) -> None:
    too_many = update(hubspot_simulator, *(change(str(1001 + n), property_string="x") for n in range(101)))
    limit = update(hubspot_simulator, *(change(str(1001 + n), property_string="y") for n in range(100)))

    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"
    assert limit.status_code == 207  # 20 seeded records exist; the other 80 ids do not
    assert len(limit.json()["errors"][0]["context"]["ids"]) == 80
    assert [call.inputs for call in hubspot_simulator.calls] == [101, 100]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{not json", b"[]", b'{"inputs": {}}', b'{"inputs": [{"id": "1001"}]}', b'{"inputs": [{"properties": {}}]}'],
)
def test_malformed_bodies_answer_400(hubspot_simulator: HubSpotSimulator, raw: bytes) -> None:
    answer = requests.post(
        f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}/batch/update",
        data=raw,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Invalid input JSON")
    assert answer.json()["category"] == "VALIDATION_ERROR"


def test_a_unique_value_held_by_another_record_is_a_conflict(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(hubspot_simulator, change("1001", my_unique_property_name="ps-1002"))

    assert answer.status_code == 409
    assert answer.json()["category"] == "CONFLICT"
    assert "Existing ID: 1002" in answer.json()["message"]


def test_contacts_are_a_second_object_type(hubspot_simulator: HubSpotSimulator) -> None:
    by_email = {**change("ada@example.com", lifecyclestage="evangelist"), "idProperty": "email"}
    answer = update(hubspot_simulator, by_email, object_type="contacts")
    missing = update(hubspot_simulator, change("999", firstname="x"), object_type="0-1")

    assert answer.status_code == 200
    assert stored(hubspot_simulator, "501", "contacts")["lifecyclestage"] == "evangelist"
    assert missing.status_code == 207
    assert missing.json()["errors"][0]["message"].startswith("Could not get some CONTACT objects")
