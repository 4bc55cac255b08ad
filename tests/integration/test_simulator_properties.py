"""The simulator's Properties API and the write rules its definitions carry, through real HTTP.

The definitions are read back with HubSpot's official client, and the rules are checked against what the
API serves (not against the simulator's own tables): a served read-only property must refuse writes, a
served option value must be accepted and a served label refused, whatever the built-in schema says.
Validation rules, definitions changing at run time and the API's own faults: test_simulator_property_rules.py.
"""

from __future__ import annotations

import json

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.properties import ApiException

from hubsync_local.simulator import Call, HubSpotSimulator
from support.hubspot import HUBSPOT_TOKEN, FakeClock
from support.simulator_http import AUTH, PROPERTIES, TYPE, Factory, change, get, refusal, served, stored, update


def test_official_client_reads_labels_options_and_flags(hubspot_simulator: HubSpotSimulator) -> None:
    results = HubSpot(access_token=HUBSPOT_TOKEN, host=hubspot_simulator.url).crm.properties.core_api.get_all(TYPE)
    by_name = {prop.name: prop for prop in results.results}

    dropdown = by_name["property_dropdown"]
    assert (dropdown.label, dropdown.type, dropdown.field_type) == ("Dropdown", "enumeration", "select")
    options = {option.value: option for option in dropdown.options}
    assert options["option_a"].label == "Option A"
    assert options["choice_b"].label == "Choice B"
    assert [option.value for option in dropdown.options if option.hidden] == ["option_retired"]
    assert [option.display_order for option in dropdown.options] == list(range(len(dropdown.options)))
    assert [(o.value, o.label) for o in by_name["property_checkbox"].options] == [("true", "Yes"), ("false", "No")]
    assert {o.label for o in by_name["property_multiple_checkboxes"].options} == {"Chocolate", "Strawberry", "Vanilla"}
    assert by_name["property_radio"].options[0].label == "Option 1"

    calculated = by_name["property_calculated"]
    assert calculated.calculated is True
    assert calculated.modification_metadata.read_only_value is True
    assert by_name["property_read_only"].modification_metadata.read_only_value is True
    assert by_name["property_read_only"].calculated is False
    external = by_name["property_external"]
    assert (external.external_options, external.options, external.type) == (True, [], "enumeration")
    assert by_name["my_unique_property_name"].has_unique_value is True
    assert by_name["property_string"].has_unique_value is False
    record_id = by_name["hs_object_id"]
    assert (record_id.hubspot_defined, record_id.modification_metadata.read_only_value) == (True, True)
    assert by_name["property_string"].modification_metadata.read_only_value is False
    assert {prop.group_name for prop in results.results} == {"partner_service_information"}
    assert all(prop.created_at is not None and prop.description is not None for prop in results.results)


def test_official_client_reads_one_property_and_contacts_through_an_alias(hubspot_simulator: HubSpotSimulator) -> None:
    api = HubSpot(access_token=HUBSPOT_TOKEN, host=hubspot_simulator.url).crm.properties.core_api

    radio = api.get_by_name("partner_service", "property_radio")
    stage = api.get_by_name("0-1", "lifecyclestage")
    contacts = {prop.name for prop in api.get_all("contacts").results}

    assert [option.value for option in radio.options] == ["option_1", "option_2"]
    assert {option.label for option in stage.options} >= {"Lead", "Marketing Qualified Lead", "Customer"}
    assert stage.hubspot_defined is True
    assert {"email", "firstname", "lifecyclestage", "hs_object_id", "createdate"} <= contacts


def test_an_unknown_property_is_a_404_and_an_unknown_type_a_400(hubspot_simulator: HubSpotSimulator) -> None:
    api = HubSpot(access_token=HUBSPOT_TOKEN, host=hubspot_simulator.url).crm.properties.core_api
    with pytest.raises(ApiException) as missing:
        api.get_by_name(TYPE, "no_such_property")
    widgets = get(hubspot_simulator, "/crm/v3/properties/widgets")

    assert missing.value.status == 404
    body = json.loads(missing.value.body)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]
    assert widgets.status_code == 400
    assert widgets.json()["message"] == "Unable to infer object type from: widgets"


def test_archived_properties_are_none(hubspot_simulator: HubSpotSimulator) -> None:
    assert get(hubspot_simulator, PROPERTIES, archived="true").json() == {"results": []}
    assert get(hubspot_simulator, PROPERTIES, archived="false").json()["results"]


def test_properties_reads_need_the_token_and_only_get(hubspot_simulator: HubSpotSimulator) -> None:
    anonymous = requests.get(f"{hubspot_simulator.url}{PROPERTIES}", timeout=5)
    create = requests.post(f"{hubspot_simulator.url}{PROPERTIES}", json={}, headers=AUTH, timeout=5)

    assert anonymous.status_code == 401
    assert anonymous.json()["category"] == "INVALID_AUTHENTICATION"
    assert create.status_code == 405


def test_properties_reads_are_recorded_and_count_against_the_rate_limit(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory(rate_limit=3, clock=FakeClock())

    first = get(sim, PROPERTIES)
    second = get(sim, f"{PROPERTIES}/property_date")
    batch = update(sim, change("1001", property_string="x"))
    refused = get(sim, PROPERTIES)
    refused_batch = update(sim, change("1001", property_string="y"))

    assert [a.status_code for a in (first, second, batch, refused, refused_batch)] == [200, 200, 200, 429, 429]
    assert [first.headers["X-HubSpot-RateLimit-Remaining"], second.headers["X-HubSpot-RateLimit-Remaining"]] == [
        "2",
        "1",
    ]
    assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    calls = requests.get(f"{sim.url}/_simulator/calls", timeout=5).json()["calls"]
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("GET", PROPERTIES, 200),
        ("GET", f"{PROPERTIES}/property_date", 200),
        ("POST", f"/crm/v3/objects/{TYPE}/batch/update", 200),
        ("GET", PROPERTIES, 429),
        ("POST", f"/crm/v3/objects/{TYPE}/batch/update", 429),
    ]
    assert sim.calls[0] == Call("GET", PROPERTIES, 200, 0, sim.calls[0].at)


@pytest.mark.parametrize("object_type", [TYPE, "contacts"])
def test_every_served_read_only_property_refuses_writes(hubspot_simulator: HubSpotSimulator, object_type: str) -> None:
    record_id = "1001" if object_type == TYPE else "501"
    read_only = [
        name
        for name, prop in served(hubspot_simulator, object_type).items()
        if prop["modificationMetadata"]["readOnlyValue"]
    ]

    assert {"hs_object_id", "hs_createdate", "hs_lastmodifieddate"} <= set(read_only)
    for name in read_only:
        answer = update(hubspot_simulator, change(record_id, **{name: "1572480000000"}), object_type=object_type)
        assert refusal(answer) == [
            (name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")
        ]


def test_every_served_option_value_is_accepted_and_every_other_label_refused(
    hubspot_simulator: HubSpotSimulator,
) -> None:
    checked = 0
    for name, prop in served(hubspot_simulator).items():
        if prop["modificationMetadata"]["readOnlyValue"] or not prop["options"]:
            continue
        values = {option["value"] for option in prop["options"]}
        for option in prop["options"]:
            assert update(hubspot_simulator, change("1002", **{name: option["value"]})).status_code == 200
            assert stored(hubspot_simulator, "1002")[name] == option["value"]
            if option["label"] not in values:
                refused = update(hubspot_simulator, change("1002", **{name: option["label"]}))
                message = f"{option['label']} was not one of the allowed options"
                assert refusal(refused) == [(name, "INVALID_OPTION", message)]
            checked += 1

    assert checked >= 14  # dropdown (7), multiple checkboxes (3), radio (2), checkbox (2) at least


def test_calculated_and_read_only_values_are_refused(hubspot_simulator: HubSpotSimulator) -> None:
    answer = update(hubspot_simulator, change("1003", property_calculated="4"), change("1004", property_read_only="x"))

    assert [(name, code) for name, code, _ in refusal(answer)] == [
        ("property_calculated", "READ_ONLY_VALUE"),
        ("property_read_only", "READ_ONLY_VALUE"),
    ]


def test_a_seed_may_set_read_only_values_the_api_may_not(hubspot_simulator: HubSpotSimulator) -> None:
    new_id = hubspot_simulator.add_record(TYPE, {"property_read_only": "set by HubSpot", "property_calculated": "4"})

    read = get(hubspot_simulator, f"/crm/v3/objects/{TYPE}/{new_id}", properties="property_read_only")
    assert read.json()["properties"]["property_read_only"] == "set by HubSpot"
    assert update(hubspot_simulator, change(new_id, property_read_only="")).status_code == 400


@pytest.mark.parametrize("value", ["anything", "Option A", "option_a;other"])
def test_external_options_accept_any_value(hubspot_simulator: HubSpotSimulator, value: str) -> None:
    answer = update(hubspot_simulator, change("1005", property_external=value))

    assert answer.status_code == 200, answer.text
    assert stored(hubspot_simulator, "1005")["property_external"] == value


def test_a_hidden_option_is_accepted_and_labels_are_refused(hubspot_simulator: HubSpotSimulator) -> None:
    hidden = update(hubspot_simulator, change("1006", property_dropdown="option_retired"))
    label = update(hubspot_simulator, change("1006", property_dropdown="Option A"))
    lower = update(hubspot_simulator, change("1006", property_multiple_checkboxes="chocolate;Vanilla"))
    yes = update(hubspot_simulator, change("1006", property_checkbox="Yes"))

    assert hidden.status_code == 200
    assert stored(hubspot_simulator, "1006")["property_dropdown"] == "option_retired"
    assert refusal(label) == [("property_dropdown", "INVALID_OPTION", "Option A was not one of the allowed options")]
    assert refusal(lower) == [
        ("property_multiple_checkboxes", "INVALID_OPTION", "Vanilla was not one of the allowed options")
    ]
    assert refusal(yes) == [("property_checkbox", "INVALID_OPTION", "Yes was not one of the allowed options")]
