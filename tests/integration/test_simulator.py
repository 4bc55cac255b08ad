"""The HubSpot simulator through real HTTP: HubSpot's semantics, limits, faults and admin endpoints.

Time-dependent behaviour runs on an injected clock and an injected sleep: nothing here waits or measures
wall time.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync_local.simulator import Call, HubSpotSimulator, StoreError
from support.hubspot import HUBSPOT_TOKEN, FakeClock

Factory = Callable[..., HubSpotSimulator]
AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
TYPE = "partner_services"
DAY_MS = 86_400_000


def post(sim: HubSpotSimulator, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{sim.url}{path}", json=body, headers=AUTH if headers is None else headers, timeout=5)


def get(sim: HubSpotSimulator, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sim.url}{path}", params=params, headers=AUTH, timeout=5)


def update(sim: HubSpotSimulator, *inputs: dict[str, Any], object_type: str = TYPE) -> requests.Response:
    return post(sim, f"/crm/v3/objects/{object_type}/batch/update", {"inputs": list(inputs)})


def change(record_id: str, **properties: str) -> dict[str, Any]:
    return {"id": record_id, "properties": properties}


def stored(sim: HubSpotSimulator, record_id: str, object_type: str = TYPE) -> dict[str, str]:
    """The stored properties of a record that must exist."""
    record = sim.record(object_type, record_id)
    assert record is not None
    properties: dict[str, str] = record["properties"]
    return properties


def client(sim: HubSpotSimulator) -> Any:
    return HubSpot(access_token=HUBSPOT_TOKEN, host=sim.url)


# -- batch update --------------------------------------------------------------------------------------


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


# -- routing and auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": HUBSPOT_TOKEN}])
def test_requests_without_the_token_answer_401(hubspot_simulator: HubSpotSimulator, headers: dict[str, str]) -> None:
    answer = post(hubspot_simulator, f"/crm/v3/objects/{TYPE}/batch/update", {"inputs": []}, headers=headers)

    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert body["correlationId"]
    assert hubspot_simulator.calls[-1].status == 401


def test_an_unknown_object_type_is_a_400(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(hubspot_simulator, change("1", name="x"), object_type="widgets")

    assert answer.status_code == 400
    assert answer.json()["message"] == "Unable to infer object type from: widgets"


def test_unknown_paths_404_and_wrong_methods_405(hubspot_simulator: HubSpotSimulator) -> None:
    assert get(hubspot_simulator, "/crm/v4/whatever").status_code == 404
    assert post(hubspot_simulator, f"/crm/v3/objects/{TYPE}/batch/archive", {"inputs": []}).status_code == 404
    assert post(hubspot_simulator, f"/crm/v3/objects/{TYPE}", {"properties": {}}).status_code == 405
    assert get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/batch/update").status_code == 405
    assert get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1001/associations/contacts").status_code == 404


# -- reads ---------------------------------------------------------------------------------------------


def test_get_one_record_with_properties_and_id_property(hubspot_simulator: HubSpotSimulator) -> None:
    by_id = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1010", properties="property_string,property_radio")
    by_unique = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/ps-1010", idProperty="my_unique_property_name")
    default = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1010")

    assert by_id.status_code == 200
    assert by_id.json()["properties"]["property_string"] == "Health check"
    assert set(by_id.json()["properties"]) == {
        "property_string",
        "property_radio",
        "hs_object_id",
        "hs_createdate",
        "hs_lastmodifieddate",
    }
    assert by_unique.json()["id"] == "1010"
    assert set(default.json()["properties"]) == {"hs_object_id", "hs_createdate", "hs_lastmodifieddate"}


def test_get_a_missing_record_is_a_404_error_body(hubspot_simulator: HubSpotSimulator) -> None:
    with pytest.raises(ApiException) as raised:
        client(hubspot_simulator).crm.objects.basic_api.get_by_id(TYPE, "31337")

    assert raised.value.status == 404
    body = json.loads(raised.value.body)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["context"] == {"id": ["31337"]}


def test_list_pages_walk_every_record_in_id_order(hubspot_simulator: HubSpotSimulator) -> None:
    seen: list[str] = []
    url: str | None = f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}?limit=7&properties=property_string"
    while url:
        page = requests.get(url, headers=AUTH, timeout=5).json()
        seen += [result["id"] for result in page["results"]]
        assert all("property_string" in result["properties"] for result in page["results"])
        url = page.get("paging", {}).get("next", {}).get("link")

    assert seen == [str(n) for n in range(1001, 1021)]


def test_official_client_lists_a_page(hubspot_simulator: HubSpotSimulator) -> None:
    page = client(hubspot_simulator).crm.objects.basic_api.get_page(
        TYPE, limit=5, after="1006", properties=["property_string", "property_number"]
    )

    assert [record.id for record in page.results] == ["1006", "1007", "1008", "1009", "1010"]
    assert page.paging.next.after == "1011"
    assert page.results[0].properties["property_number"] == "60"


def test_batch_read_returns_found_records_and_groups_the_missing(hubspot_simulator: HubSpotSimulator) -> None:
    api = client(hubspot_simulator).crm.objects.batch_api
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ("1001", "1015", "777")],
        properties=["property_string"],
        properties_with_history=[],
    )
    data, status, _ = api.read_with_http_info(TYPE, batch_read_input_simple_public_object_id=request)

    assert status == 207
    assert sorted(result.id for result in data.results) == ["1001", "1015"]
    assert {result.properties["property_string"] for result in data.results} == {"Onboarding", "Migration review"}
    assert data.errors[0].context == {"ids": ["777"]}


def test_batch_read_by_unique_property(hubspot_simulator: HubSpotSimulator) -> None:
    body = {"inputs": [{"id": "ps-1012"}], "properties": [], "idProperty": "my_unique_property_name"}
    answer = post(hubspot_simulator, f"/crm/v3/objects/{TYPE}/batch/read", body)

    assert answer.status_code == 200
    assert answer.json()["results"][0]["id"] == "1012"
    assert hubspot_simulator.calls[-1].inputs == 1


def test_patch_one_record(hubspot_simulator: HubSpotSimulator) -> None:
    answer = requests.patch(
        f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}/1011",
        json={"properties": {"property_number": "7"}},
        headers=AUTH,
        timeout=5,
    )
    refused = requests.patch(
        f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}/1011",
        json={"properties": {"property_number": "seven"}},
        headers=AUTH,
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.json()["properties"]["property_number"] == "7"
    assert refused.status_code == 400
    assert stored(hubspot_simulator, "1011")["property_number"] == "7"


# -- rate limits ---------------------------------------------------------------------------------------


def test_rolling_window_429_and_headers(hubspot_simulator_factory: Factory) -> None:
    clock = FakeClock()
    sim = hubspot_simulator_factory(rate_limit=3, interval_ms=10_000, clock=clock)
    path = f"/crm/v3/objects/{TYPE}/1001"

    remaining = []
    for _ in range(3):
        answer = get(sim, path)
        assert answer.status_code == 200
        assert answer.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert "X-HubSpot-RateLimit-Daily" not in answer.headers
        remaining.append(answer.headers["X-HubSpot-RateLimit-Remaining"])
        clock.advance(1)
    limited = get(sim, path)

    assert remaining == ["2", "1", "0"]
    assert limited.status_code == 429
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = limited.json()
    assert body == {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": body["correlationId"],
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": body["groupName"],
    }
    clock.advance(6.999)  # t=9.999 after the first request: still inside its window
    assert get(sim, path).status_code == 429
    clock.advance(0.001)  # the first request leaves the window; the 429s took no room in it
    assert get(sim, path).status_code == 200
    assert get(sim, path).status_code == 429
    clock.advance(1)  # the second leaves
    assert get(sim, path).status_code == 200
    assert [call.status for call in sim.calls] == [200, 200, 200, 429, 429, 200, 429, 200]
    assert [call.at - 1000 for call in sim.calls[:4]] == [0, 1, 2, 3]


def test_daily_limit_429_and_headers(hubspot_simulator_factory: Factory) -> None:
    clock = FakeClock(start=0)
    sim = hubspot_simulator_factory(daily_limit=2, clock=clock)
    path = f"/crm/v3/objects/{TYPE}/1001"

    first, second, third = (get(sim, path) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "2"
    assert [a.headers["X-HubSpot-RateLimit-Daily-Remaining"] for a in (first, second, third)] == ["1", "0", "0"]
    assert "X-HubSpot-RateLimit-Max" not in first.headers
    assert third.json()["policyName"] == "DAILY"
    assert third.json()["message"] == "You have reached your daily limit."
    clock.advance(86_400)
    assert get(sim, path).status_code == 200


def test_no_rate_limit_headers_when_unlimited(hubspot_simulator: HubSpotSimulator) -> None:
    answer = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1001")

    assert not [name for name in answer.headers if name.lower().startswith("x-hubspot-ratelimit")]


def test_set_rate_limit_at_run_time_and_over_http(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory(clock=FakeClock())
    path = f"/crm/v3/objects/{TYPE}/1001"

    sim.set_rate_limit(1, interval_ms=1000)
    assert [get(sim, path).status_code for _ in range(2)] == [200, 429]
    requests.post(f"{sim.url}/_simulator/rate-limit", json={"max_per_interval": 2, "daily": 5}, timeout=5)
    answers = [get(sim, path) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "4"
    assert requests.get(f"{sim.url}/_simulator/rate-limit", timeout=5).json() == {
        "max_per_interval": 2,
        "interval_ms": 10_000,
        "daily": 5,
    }


def test_401s_do_not_count_against_the_limit(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory(rate_limit=1, clock=FakeClock())

    assert post(sim, f"/crm/v3/objects/{TYPE}/batch/read", {"inputs": []}, headers={}).status_code == 401
    assert post(sim, f"/crm/v3/objects/{TYPE}/batch/read", {"inputs": []}).status_code == 200


# -- faults --------------------------------------------------------------------------------------------


def test_scripted_answers_are_consumed_one_per_request(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    sim.faults.script(429, 423, "477:3", 477, 500, "503", "daily", "pass", 403)
    answers = [update(sim, change("1001", property_string=str(n))) for n in range(10)]

    assert [a.status_code for a in answers] == [429, 423, 477, 477, 500, 503, 429, 200, 403, 200]
    assert answers[0].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answers[1].json()["category"] == "LOCKED"
    assert answers[2].headers["Retry-After"] == "3"
    assert answers[3].headers["Retry-After"] == "1"
    assert answers[3].json()["category"] == "MIGRATION_IN_PROGRESS"
    assert answers[6].json()["policyName"] == "DAILY"
    assert answers[8].json()["errors"][0]["context"]["requiredGranularScopes"]
    assert all(a.json().get("correlationId") for a in answers if a.status_code != 200)
    assert sim.faults.pending() == []
    assert stored(sim, "1001")["property_string"] == "9"
    assert [call.inputs for call in sim.calls] == [1] * 10


def test_a_scripted_reset_drops_the_connection(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script("reset")

    with pytest.raises(requests.ConnectionError):
        update(hubspot_simulator, change("1001", property_string="never"))
    assert update(hubspot_simulator, change("1001", property_string="later")).status_code == 200
    assert [call.status for call in hubspot_simulator.calls] == [0, 200]
    assert stored(hubspot_simulator, "1001")["property_string"] == "later"


def test_bad_script_entries_are_refused(hubspot_simulator: HubSpotSimulator) -> None:
    for entry in (200, "sometimes", "99", True):
        with pytest.raises(ValueError):
            hubspot_simulator.faults.script(entry)


def test_random_errors_are_seeded_and_drawn_from_error_statuses(hubspot_simulator_factory: Factory) -> None:
    def statuses(sim: HubSpotSimulator) -> list[int]:
        sim.faults.error_rate = 0.5
        sim.faults.error_statuses = (502, 503)
        return [get(sim, f"/crm/v3/objects/{TYPE}/1001").status_code for _ in range(30)]

    first = statuses(hubspot_simulator_factory(random_seed=7))
    second = statuses(hubspot_simulator_factory(random_seed=7))

    assert first == second
    assert set(first) == {200, 502, 503}


def test_random_resets(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.reset_rate = 1.0

    with pytest.raises(requests.ConnectionError):
        get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1001")
    hubspot_simulator.faults.reset()
    assert get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1001").status_code == 200


def test_latency_is_added_to_api_answers_only(hubspot_simulator_factory: Factory) -> None:
    slept: list[float] = []
    sim = hubspot_simulator_factory(sleep=slept.append)
    requests.post(f"{sim.url}/_simulator/faults", json={"latency_ms": 250}, timeout=5)

    get(sim, f"/crm/v3/objects/{TYPE}/1001")
    update(sim, change("1001", property_string="slow"))
    requests.get(f"{sim.url}/_simulator/health", timeout=5)

    assert sim.faults.latency_ms == 250
    assert slept == [0.25, 0.25]


def test_fault_settings_are_validated(hubspot_simulator: HubSpotSimulator) -> None:
    with pytest.raises(ValueError):
        hubspot_simulator.faults.error_rate = 1.5
    answer = requests.post(f"{hubspot_simulator.url}/_simulator/faults", json={"latency_ms": -1}, timeout=5)
    assert answer.status_code == 400


# -- transport -----------------------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection_with_nodelay(hubspot_simulator: HubSpotSimulator) -> None:
    with requests.Session() as session:
        session.headers.update(AUTH)
        answers = [session.get(f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}/1001", timeout=5) for _ in range(20)]
        [connection] = hubspot_simulator.open_connections()

        assert all(a.status_code == 200 and a.headers["Content-Length"] for a in answers)
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert len(hubspot_simulator.calls) == 20


def test_one_raw_keep_alive_socket_gets_each_answer_whole(hubspot_simulator: HubSpotSimulator) -> None:
    request = (
        f"GET /crm/v3/objects/{TYPE}/1002 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HUBSPOT_TOKEN}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", hubspot_simulator.port), timeout=5) as raw:
        stream = raw.makefile("rb")
        for _ in range(3):
            raw.sendall(request)
            status = stream.readline()
            headers = dict(line.decode().strip().split(": ", 1) for line in iter(stream.readline, b"\r\n"))
            body = json.loads(stream.read(int(headers["Content-Length"])))
            assert status.startswith(b"HTTP/1.1 200")
            assert body["id"] == "1002"


def test_stop_closes_idle_connections_and_frees_the_port(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory()
    with requests.Session() as session:
        assert session.get(f"{sim.url}/_simulator/health", timeout=5).status_code == 200
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{sim.url}/_simulator/health", timeout=5)


# -- admin endpoints, seeds, CLI -----------------------------------------------------------------------


def test_admin_endpoints(hubspot_simulator: HubSpotSimulator) -> None:
    admin = f"{hubspot_simulator.url}/_simulator"
    assert requests.get(f"{admin}/health", timeout=5).json()["status"] == "ok"

    update(hubspot_simulator, change("1001", property_string="via api"))
    calls = requests.get(f"{admin}/calls", timeout=5).json()["calls"]
    assert [(c["method"], c["path"], c["status"], c["inputs"]) for c in calls] == [
        ("POST", f"/crm/v3/objects/{TYPE}/batch/update", 200, 1)
    ]
    assert requests.post(f"{admin}/reset-calls", timeout=5).status_code == 200
    assert hubspot_simulator.calls == []

    records = requests.get(f"{admin}/records/{TYPE}", timeout=5).json()["records"]
    assert records["1001"]["properties"]["property_string"] == "via api"
    created = requests.post(
        f"{admin}/records/{TYPE}",
        json={"properties": {"property_string": "new", "property_radio": "option_1"}},
        timeout=5,
    )
    assert created.status_code == 201
    assert created.json() == {"id": "1021"}
    bad = requests.post(f"{admin}/records/{TYPE}", json={"properties": {"property_radio": "x"}}, timeout=5)
    assert bad.status_code == 400
    assert requests.get(f"{admin}/records/widgets", timeout=5).status_code == 404

    faults = requests.post(f"{admin}/faults", json={"script": [503, "reset"], "error_rate": 0.25}, timeout=5).json()
    assert faults["script"] == [503, "reset"]
    assert faults["error_rate"] == 0.25
    assert get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/1021").status_code == 503
    assert requests.post(f"{admin}/faults", json={"reset": True}, timeout=5).json()["script"] == []

    assert requests.post(f"{admin}/reset", timeout=5).status_code == 200
    assert hubspot_simulator.record(TYPE, "1021") is None
    assert stored(hubspot_simulator, "1001")["property_string"] == "Onboarding"
    assert hubspot_simulator.calls == []  # admin requests are never recorded


def test_add_record_through_the_python_api(hubspot_simulator: HubSpotSimulator) -> None:
    new_id = hubspot_simulator.add_record(TYPE, {"property_string": "s"}, record_id="5000")

    assert new_id == "5000"
    assert get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/5000").status_code == 200
    with pytest.raises(StoreError):
        hubspot_simulator.add_record(TYPE, {"my_unique_property_name": "ps-1001"})
    with pytest.raises(StoreError):
        hubspot_simulator.records("widgets")


def test_seed_from_a_dict_with_its_own_schema(hubspot_simulator_factory: Factory) -> None:
    seed = {
        "schemas": {
            "widgets": {
                "label": "WIDGET",
                "properties": [
                    {"name": "size", "type": "enumeration", "fieldType": "select", "options": [{"value": "s"}, "m"]},
                    {"name": "sku", "type": "string", "hasUniqueValue": True},
                ],
            }
        },
        "records": {"widgets": [{"id": "1", "properties": {"size": "s", "sku": "W-1"}}]},
    }
    sim = hubspot_simulator_factory(seed=seed)

    assert sim.records(TYPE) == {}
    assert update(sim, {**change("W-1", size="m"), "idProperty": "sku"}, object_type="widgets").status_code == 200
    assert update(sim, change("1", size="xl"), object_type="widgets").status_code == 400
    assert stored(sim, "1", "widgets")["size"] == "m"


def test_seed_from_a_file(hubspot_simulator_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"records": {"contacts": [{"id": "7", "properties": {"email": "x@example.com"}}]}}))

    sim = hubspot_simulator_factory(seed=path)

    assert list(sim.records("contacts")) == ["7"]


def test_cli_serves_until_terminated() -> None:
    command = [sys.executable, "-m", "hubsync_local.simulator", "--port", "0", "--rate-limit", "5", "--latency-ms", "0"]
    local = Path(__file__).resolve().parents[2] / "local"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=local)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        answer = requests.get(f"{url}/crm/v3/objects/{TYPE}/1001", headers=AUTH, timeout=5)
        assert answer.status_code == 200
        assert answer.headers["X-HubSpot-RateLimit-Max"] == "5"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
