"""The simulator's batch/upsert through real HTTP and HubSpot's official client.

What HubSpot documents (HUBSPOT.md "batch/upsert"): the idProperty must be unique, missing records are
created with `new: true`, the value and duplicate checks of batch/update refuse the whole batch, and
partner services cannot be created. Where HubSpot documents nothing the simulator's choice is tested as
documented in api.py (a missing record id is not created; partner services are refused whole).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert

from hubsync_local.simulator import HubSpotSimulator
from support.hubspot import HUBSPOT_TOKEN
from support.simulator_http import AUTH, Factory

CONTACTS = "contacts"


def upsert(sim: HubSpotSimulator, *inputs: dict[str, Any], object_type: str = CONTACTS) -> requests.Response:
    return requests.post(
        f"{sim.url}/crm/v3/objects/{object_type}/batch/upsert", json={"inputs": list(inputs)}, headers=AUTH, timeout=5
    )


def by_email(address: str, **properties: str) -> dict[str, Any]:
    return {"id": address, "idProperty": "email", "properties": properties}


def contacts(sim: HubSpotSimulator) -> dict[str, dict[str, str]]:
    return {record_id: record["properties"] for record_id, record in sim.records(CONTACTS).items()}


def test_official_client_upserts_creates_and_updates_and_reads_them_back(hubspot_simulator: HubSpotSimulator) -> None:
    client = HubSpot(access_token=HUBSPOT_TOKEN, host=hubspot_simulator.url)
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id="new@example.com",
                id_property="email",
                properties={"firstname": "New"},
                object_write_trace_id="t-new",
            ),
            SimplePublicObjectBatchInputUpsert(
                id="ada@example.com", id_property="email", properties={"lifecyclestage": "evangelist"}
            ),
        ]
    )
    data, status, _ = client.crm.objects.batch_api.upsert_with_http_info(
        CONTACTS, batch_input_simple_public_object_batch_input_upsert=batch
    )

    assert status == 200
    assert data.status == "COMPLETE"
    results = {result.properties["hs_object_id"]: result for result in data.results}
    created_id = next(record_id for record_id, result in results.items() if result.new)
    assert results["501"].new is False
    assert results[created_id].object_write_trace_id == "t-new"
    assert results["501"].object_write_trace_id is None
    assert created_id not in ("501", "502", "503")
    created = client.crm.objects.basic_api.get_by_id(
        CONTACTS, "new@example.com", id_property="email", properties=["email", "firstname"]
    )
    assert (created.id, created.properties["email"], created.properties["firstname"]) == (
        created_id,
        "new@example.com",
        "New",
    )
    ada = client.crm.objects.basic_api.get_by_id(CONTACTS, "501", properties=["lifecyclestage", "firstname"])
    assert (ada.properties["lifecyclestage"], ada.properties["firstname"]) == ("evangelist", "Ada")


def test_a_second_upsert_of_a_created_record_updates_it(hubspot_simulator: HubSpotSimulator) -> None:
    first = upsert(hubspot_simulator, by_email("again@example.com", firstname="One"))
    second = upsert(hubspot_simulator, by_email("again@example.com", firstname="Two"))

    [created], [updated] = first.json()["results"], second.json()["results"]
    assert (created["new"], updated["new"]) == (True, False)
    assert created["id"] == updated["id"]
    assert created["createdAt"] == created["updatedAt"]
    kept = contacts(hubspot_simulator)[created["id"]]
    assert (kept["email"], kept["firstname"], kept["hs_object_id"]) == ("again@example.com", "Two", created["id"])
    assert len(contacts(hubspot_simulator)) == 4


def test_results_do_not_come_back_in_input_order(hubspot_simulator: HubSpotSimulator) -> None:
    emails = [f"person{n}@example.com" for n in range(8)]
    answer = upsert(hubspot_simulator, *(by_email(email, firstname=email[:7]) for email in emails))

    returned = [result["properties"]["email"] for result in answer.json()["results"]]
    assert sorted(returned) == sorted(emails)
    assert returned != emails
    assert all(result["new"] for result in answer.json()["results"])


def test_the_id_property_value_wins_over_the_same_property_in_properties(hubspot_simulator: HubSpotSimulator) -> None:
    answer = upsert(hubspot_simulator, by_email("wins@example.com", email="loses@example.com"))

    [result] = answer.json()["results"]
    assert contacts(hubspot_simulator)[result["id"]]["email"] == "wins@example.com"


@pytest.mark.parametrize("id_property", ["firstname", "hs_object_id", "no_such_property"])
def test_the_id_property_must_be_unique(hubspot_simulator: HubSpotSimulator, id_property: str) -> None:
    before = contacts(hubspot_simulator)
    answer = upsert(hubspot_simulator, {"id": "x", "idProperty": id_property, "properties": {"lastname": "y"}})

    assert answer.status_code == 400
    assert answer.json()["message"] == f"Unable to perform update/upsert by non-unique property {id_property}"
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert contacts(hubspot_simulator) == before


def test_an_invalid_value_refuses_the_whole_batch_nothing_created(hubspot_simulator: HubSpotSimulator) -> None:
    before = contacts(hubspot_simulator)
    answer = upsert(
        hubspot_simulator,
        by_email("fine@example.com", firstname="Fine"),
        by_email("ada@example.com", lifecyclestage="Customer"),  # the label, not the value
        by_email("also@example.com", createdate="1572480000000"),
    )

    assert answer.status_code == 400
    errors = [(e["context"]["propertyName"], e["code"]) for e in answer.json()["errors"]]
    assert errors == [(["lifecyclestage"], "INVALID_OPTION"), (["createdate"], "READ_ONLY_VALUE")]
    assert answer.json()["message"].startswith("Property values were not valid: ")
    assert contacts(hubspot_simulator) == before


def test_a_validation_rule_refuses_an_upsert(hubspot_simulator: HubSpotSimulator) -> None:
    requests.post(
        f"{hubspot_simulator.url}/_simulator/validation-rules/{CONTACTS}",
        json={"name": "email", "refuseValues": ["blocked@example.com"]},
        timeout=5,
    ).raise_for_status()

    answer = upsert(hubspot_simulator, by_email("blocked@example.com", firstname="B"))

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"] == "blocked@example.com does not match the property's validation rules"
    assert len(contacts(hubspot_simulator)) == 3


@pytest.mark.parametrize(
    ("inputs", "duplicate"),
    [
        ([by_email("twice@example.com"), by_email("twice@example.com")], "twice@example.com"),
        ([by_email("ada@example.com"), {"id": "501", "properties": {}}], "501"),
    ],
    ids=["one-new-record-twice", "id-and-email-reaching-one-record"],
)
def test_duplicates_refuse_the_whole_batch(
    hubspot_simulator: HubSpotSimulator, inputs: list[dict[str, Any]], duplicate: str
) -> None:
    before = contacts(hubspot_simulator)
    answer = upsert(hubspot_simulator, *inputs)

    assert answer.status_code == 400
    assert answer.json()["message"] == f"Duplicate IDs found in batch input: [{duplicate}]. IDs must be unique"
    assert answer.json()["context"] == {"ids": [duplicate]}
    assert contacts(hubspot_simulator) == before


def test_record_ids_update_and_a_missing_one_is_not_created(hubspot_simulator: HubSpotSimulator) -> None:
    answer = upsert(
        hubspot_simulator,
        {"id": "502", "properties": {"lastname": "Murray Hopper"}},
        {"id": "9999", "properties": {"firstname": "Nobody"}, "objectWriteTraceId": "t-9999"},
    )

    assert answer.status_code == 207
    body = answer.json()
    [result] = body["results"]
    assert (result["id"], result["new"]) == ("502", False)
    [error] = body["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["9999"], "objectWriteTraceId": ["t-9999"]}
    assert body["numErrors"] == 1
    assert contacts(hubspot_simulator)["502"]["lastname"] == "Murray Hopper"
    assert sorted(contacts(hubspot_simulator)) == ["501", "502", "503"]


@pytest.mark.parametrize("object_type", ["partner_services", "partner_service"])
def test_partner_services_cannot_be_upserted(hubspot_simulator: HubSpotSimulator, object_type: str) -> None:
    before = hubspot_simulator.records("partner_services")
    answer = upsert(
        hubspot_simulator,
        {"id": "1001", "properties": {"property_string": "x"}},
        {"id": "ps-1002", "idProperty": "my_unique_property_name", "properties": {"property_string": "y"}},
        object_type=object_type,
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert "cannot be created" in body["message"]
    assert hubspot_simulator.records("partner_services") == before


def test_a_unique_value_held_elsewhere_refuses_a_create(hubspot_simulator_factory: Factory) -> None:
    seed = {
        "schemas": {
            "widgets": {
                "properties": [
                    {"name": "sku", "type": "string", "hasUniqueValue": True},
                    {"name": "barcode", "type": "string", "hasUniqueValue": True},
                ]
            }
        },
        "records": {"widgets": [{"id": "1", "properties": {"sku": "W-1", "barcode": "111"}}]},
    }
    sim = hubspot_simulator_factory(seed=seed)

    clash = upsert(sim, {"id": "W-2", "idProperty": "sku", "properties": {"barcode": "111"}}, object_type="widgets")
    fine = upsert(sim, {"id": "W-2", "idProperty": "sku", "properties": {"barcode": "222"}}, object_type="widgets")

    assert clash.status_code == 409
    assert "Existing ID: 1" in clash.json()["message"]
    assert fine.status_code == 200
    assert sorted(sim.records("widgets")) == ["1", "2"]


def test_upserts_are_recorded_limited_and_take_batch_faults(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script(503)

    failed = upsert(hubspot_simulator, by_email("later@example.com"))
    too_many = upsert(hubspot_simulator, *(by_email(f"p{n}@example.com") for n in range(101)))
    applied = upsert(hubspot_simulator, by_email("later@example.com"))

    assert (failed.status_code, too_many.status_code, applied.status_code) == (503, 400, 200)
    assert len(contacts(hubspot_simulator)) == 4
    calls = requests.get(f"{hubspot_simulator.url}/_simulator/calls", timeout=5).json()["calls"]
    assert [(c["path"], c["status"], c["inputs"]) for c in calls] == [
        (f"/crm/v3/objects/{CONTACTS}/batch/upsert", 503, 1),
        (f"/crm/v3/objects/{CONTACTS}/batch/upsert", 400, 101),
        (f"/crm/v3/objects/{CONTACTS}/batch/upsert", 200, 1),
    ]


@pytest.mark.parametrize("raw", [b"{not json", b'{"inputs": [{"id": "x@example.com"}]}', b'{"inputs": {}}'])
def test_malformed_upsert_bodies_answer_400(hubspot_simulator: HubSpotSimulator, raw: bytes) -> None:
    answer = requests.post(
        f"{hubspot_simulator.url}/crm/v3/objects/{CONTACTS}/batch/upsert",
        data=raw,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )

    assert answer.status_code == 400
    assert json.loads(answer.text)["message"].startswith("Invalid input JSON")
