"""The simulator's Properties API and the write rules its definitions carry, through real HTTP.

The definitions are read back with HubSpot's official client, and the rules are checked against what the
API serves (not against the simulator's own tables): a served read-only property must refuse writes, a
served option value must be accepted and a served label refused, whatever the built-in schema says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.properties import ApiException

from hubsync_local.simulator import Call, HubSpotSimulator
from support.hubspot import HUBSPOT_TOKEN, FakeClock

Factory = Callable[..., HubSpotSimulator]
AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
TYPE = "partner_services"
PROPERTIES = f"/crm/v3/properties/{TYPE}"


def get(sim: HubSpotSimulator, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sim.url}{path}", params=params, headers=AUTH, timeout=5)


def update(sim: HubSpotSimulator, *inputs: dict[str, Any], object_type: str = TYPE) -> requests.Response:
    return requests.post(
        f"{sim.url}/crm/v3/objects/{object_type}/batch/update", json={"inputs": list(inputs)}, headers=AUTH, timeout=5
    )


def change(record_id: str, **properties: str) -> dict[str, Any]:
    return {"id": record_id, "properties": properties}


def admin(sim: HubSpotSimulator, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sim.url}/_simulator/{path}", json=body, timeout=5)


def served(sim: HubSpotSimulator, object_type: str = TYPE) -> dict[str, dict[str, Any]]:
    answer = get(sim, f"/crm/v3/properties/{object_type}")
    assert answer.status_code == 200, answer.text
    return {prop["name"]: prop for prop in answer.json()["results"]}


def stored(sim: HubSpotSimulator, record_id: str, object_type: str = TYPE) -> dict[str, str]:
    record = sim.record(object_type, record_id)
    assert record is not None
    properties: dict[str, str] = record["properties"]
    return properties


def refusal(answer: requests.Response) -> list[tuple[str, str, str]]:
    """(propertyName, code, message) of each error of a whole-batch 400, after checking the message lists
    the same failures as HubSpot's embedded JSON does."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    listed = json.loads(body["message"][len(prefix) :])
    details = [(e["context"]["propertyName"][0], e["code"], e["message"]) for e in body["errors"]]
    assert [(item["name"], item["error"], item["message"]) for item in listed] == details
    return details


# -- the Properties API, read with HubSpot's official client -------------------------------------------


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


# -- what is served is what is enforced ------------------------------------------------------------------


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


# -- each write rule the definitions carry ---------------------------------------------------------------


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


# -- validation rules (refuseValues) ---------------------------------------------------------------------


def test_a_validation_rule_refuses_the_whole_batch_and_keeps_the_definition(
    hubspot_simulator: HubSpotSimulator,
) -> None:
    sim = hubspot_simulator
    set_rule = admin(sim, f"validation-rules/{TYPE}", {"name": "property_string", "refuseValues": ["forbidden"]})
    before = sim.records(TYPE)

    answer = update(sim, change("1001", property_string="fine"), change("1002", property_string="forbidden"))

    assert set_rule.status_code == 200, set_rule.text
    assert set_rule.json()["refuseValues"] == ["forbidden"]
    assert refusal(answer) == [
        ("property_string", "INVALID_REGEX", "forbidden does not match the property's validation rules")
    ]
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert sim.records(TYPE) == before
    assert served(sim)["property_string"]["label"] == "String"  # the definition is kept
    assert "refuseValues" not in served(sim)["property_string"]  # the API does not show the rule
    assert update(sim, change("1002", property_string="")).status_code == 200  # clearing is no value
    assert update(sim, change("1002", property_string="forbidden!")).status_code == 200  # only the listed values

    admin(sim, f"validation-rules/{TYPE}", {"name": "property_string", "refuseValues": []}).raise_for_status()
    assert update(sim, change("1002", property_string="forbidden")).status_code == 200


def test_a_rule_may_carry_hubspots_own_code_and_message(hubspot_simulator: HubSpotSimulator) -> None:
    # HubSpot's changelog (2023-07) shows a rule failure naming no value: "Enter only letters", INVALID_ALPHA.
    rule = {
        "name": "firstname",
        "refuseValues": ["R2D2"],
        "refuseCode": "INVALID_ALPHA",
        "refuseMessage": "Enter only letters",
    }
    admin(hubspot_simulator, "validation-rules/contacts", rule).raise_for_status()

    answer = update(hubspot_simulator, change("501", firstname="R2D2"), object_type="contacts")

    assert refusal(answer) == [("firstname", "INVALID_ALPHA", "Enter only letters")]


def test_rules_apply_to_each_checkbox_and_options_the_definition_allows(hubspot_simulator: HubSpotSimulator) -> None:
    admin(
        hubspot_simulator,
        f"validation-rules/{TYPE}",
        {"name": "property_multiple_checkboxes", "refuseValues": ["vanilla"]},
    )

    answer = update(hubspot_simulator, change("1007", property_multiple_checkboxes="chocolate;vanilla"))

    assert refusal(answer) == [
        ("property_multiple_checkboxes", "INVALID_REGEX", "vanilla does not match the property's validation rules")
    ]
    assert update(hubspot_simulator, change("1007", property_multiple_checkboxes="chocolate")).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (f"validation-rules/{TYPE}", {"name": "no_such_property", "refuseValues": ["x"]}, 400),
        (f"validation-rules/{TYPE}", {"name": "property_string", "refuseValues": "x"}, 400),
        (f"validation-rules/{TYPE}", {"name": "property_string", "refuse": ["x"]}, 400),
        (f"validation-rules/{TYPE}", {"name": "property_string", "refuseValues": [1]}, 400),
        ("validation-rules/widgets", {"name": "x", "refuseValues": ["x"]}, 404),
        (f"properties/{TYPE}", {"name": "colour", "type": "colour"}, 400),
        (f"properties/{TYPE}", {"name": "colour", "type": "string", "labels": "typo"}, 400),
        (f"properties/{TYPE}", {"name": "colour", "type": "enumeration", "options": [{"label": "no value"}]}, 400),
        (f"properties/{TYPE}", {"name": "hs_object_id", "type": "string"}, 400),
        (f"properties/{TYPE}", {"name": "property_checkbox", "type": "bool", "hasUniqueValue": True}, 400),
        ("properties/widgets", {"name": "colour", "type": "string"}, 404),
    ],
)
def test_bad_definitions_and_rules_are_refused(
    hubspot_simulator: HubSpotSimulator, path: str, body: dict[str, Any], status: int
) -> None:
    before = served(hubspot_simulator)

    assert admin(hubspot_simulator, path, body).status_code == status
    assert served(hubspot_simulator) == before


# -- definitions changing at run time --------------------------------------------------------------------


def test_an_option_added_at_run_time_is_served_and_accepted(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    assert update(sim, change("1008", property_radio="option_3")).status_code == 400
    radio = served(sim)["property_radio"]

    extended = {**radio, "options": [*radio["options"], {"value": "option_3", "label": "Option 3"}]}
    answer = admin(sim, f"properties/{TYPE}", extended)

    assert answer.status_code == 200, answer.text
    after = served(sim)["property_radio"]
    assert [option["value"] for option in after["options"]] == ["option_1", "option_2", "option_3"]
    assert after["options"][2] == {
        "label": "Option 3",
        "value": "option_3",
        "description": "",
        "displayOrder": 2,
        "hidden": False,
    }
    unchanged = {key: value for key, value in after.items() if key not in ("options", "updatedAt")}
    assert unchanged == {key: value for key, value in radio.items() if key not in ("options", "updatedAt")}
    assert after["updatedAt"] > radio["updatedAt"]
    assert update(sim, change("1008", property_radio="option_3")).status_code == 200
    assert stored(sim, "1008")["property_radio"] == "option_3"


def test_a_property_added_at_run_time_and_reset_back_to_the_seed(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    definition = {
        "name": "property_tier",
        "label": "Tier",
        "type": "enumeration",
        "fieldType": "radio",
        "options": ["gold", {"value": "silver", "label": "Silver", "hidden": True}],
        "refuseValues": ["gold"],
    }
    assert admin(sim, f"properties/{TYPE}", definition).json()["refuseValues"] == ["gold"]
    tier = served(sim)["property_tier"]

    assert (tier["label"], tier["groupName"], tier["hubspotDefined"]) == ("Tier", "partner_service_information", False)
    assert [(o["value"], o["label"], o["hidden"]) for o in tier["options"]] == [
        ("gold", "gold", False),
        ("silver", "Silver", True),
    ]
    assert update(sim, change("1009", property_tier="silver")).status_code == 200
    assert refusal(update(sim, change("1009", property_tier="gold")))[0][1] == "INVALID_REGEX"
    admin_view = requests.get(f"{sim.url}/_simulator/properties/{TYPE}", timeout=5).json()
    assert {p["name"]: p.get("refuseValues") for p in admin_view["results"]}["property_tier"] == ["gold"]

    assert requests.post(f"{sim.url}/_simulator/reset", timeout=5).status_code == 200
    assert "property_tier" not in served(sim)
    assert refusal(update(sim, change("1009", property_tier="silver")))[0][1] == "PROPERTY_DOESNT_EXIST"


def test_a_property_made_unique_at_run_time_serves_as_id_property(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    string = served(sim)["property_string"]
    admin(sim, f"properties/{TYPE}", {**string, "hasUniqueValue": True}).raise_for_status()

    by_unique = update(sim, {**change("Training", property_number="3"), "idProperty": "property_string"})

    assert served(sim)["property_string"]["hasUniqueValue"] is True
    assert by_unique.status_code == 200
    assert by_unique.json()["results"][0]["id"] == "1003"


def test_seed_definitions_with_labels_hidden_options_and_flags(hubspot_simulator_factory: Factory) -> None:
    seed = {
        "schemas": {
            "widgets": {
                "label": "WIDGET",
                "groupName": "widget_information",
                "properties": [
                    {"name": "size", "type": "enumeration", "options": ["s", {"value": "m", "label": "Medium"}]},
                    {"name": "sku", "label": "SKU", "type": "string", "hasUniqueValue": True, "description": "id"},
                    {"name": "done", "type": "bool"},
                    {"name": "vendor", "type": "enumeration", "externalOptions": True, "options": ["hidden_away"]},
                    {"name": "score", "type": "number", "modificationMetadata": {"readOnlyValue": True}},
                ],
            }
        }
    }
    sim = hubspot_simulator_factory(seed=seed)
    props = served(sim, "widgets")

    assert [(o["value"], o["label"]) for o in props["size"]["options"]] == [("s", "s"), ("m", "Medium")]
    assert (props["sku"]["label"], props["sku"]["description"], props["sku"]["hasUniqueValue"]) == ("SKU", "id", True)
    assert [(o["value"], o["label"]) for o in props["done"]["options"]] == [("true", "Yes"), ("false", "No")]
    assert props["done"]["fieldType"] == "booleancheckbox"
    assert props["vendor"]["options"] == []
    assert props["score"]["modificationMetadata"]["readOnlyValue"] is True
    assert {prop["groupName"] for prop in props.values()} == {"widget_information"}
    sim.add_record("widgets", {"sku": "W-1"}, "1")
    assert update(sim, change("1", vendor="anyone", size="m"), object_type="widgets").status_code == 200
    assert refusal(update(sim, change("1", score="3"), object_type="widgets"))[0][1] == "READ_ONLY_VALUE"


def test_a_seed_with_an_unknown_property_key_is_refused(hubspot_simulator_factory: Factory) -> None:
    seed = {"schemas": {"widgets": {"properties": [{"name": "size", "type": "string", "refuseValue": ["x"]}]}}}

    with pytest.raises(ValueError, match="refuseValue"):
        hubspot_simulator_factory(seed=seed)


# -- the properties API's own faults ---------------------------------------------------------------------


def test_the_properties_script_is_separate_from_the_batch_script(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    knobs = admin(sim, "faults", {"properties_script": [500, "reset", "pass", "503:2", "daily"], "script": [423]})
    assert knobs.json()["properties_script"] == [500, "reset", "pass", "503:2", "daily"]

    first = get(sim, PROPERTIES)
    batch = update(sim, change("1001", property_string="after the read"))
    with pytest.raises(requests.ConnectionError):
        get(sim, f"{PROPERTIES}/property_string")
    passed = get(sim, PROPERTIES)
    unavailable = get(sim, PROPERTIES)
    daily = get(sim, PROPERTIES)
    batch_again = update(sim, change("1001", property_string="again"))
    normal = get(sim, PROPERTIES)

    assert (first.status_code, first.json()["category"]) == (500, "INTERNAL_ERROR")
    assert batch.status_code == 423  # the batch script's first entry went to the first batch call
    assert passed.status_code == 200
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "2")
    assert (daily.status_code, daily.json()["policyName"]) == (429, "DAILY")
    assert batch_again.status_code == 200
    assert normal.status_code == 200
    assert sim.faults.pending_properties() == []
    assert [call.status for call in sim.calls] == [500, 423, 0, 200, 503, 429, 200, 200]


def test_random_faults_leave_the_properties_api_alone(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    admin(sim, "faults", {"error_rate": 1.0, "lie_rate": 1.0}).raise_for_status()

    assert [get(sim, PROPERTIES).status_code for _ in range(5)] == [200] * 5
    assert update(sim, change("1001", property_string="x")).status_code >= 500
    sim.faults.reset_rate = 1.0
    assert get(sim, PROPERTIES).status_code == 200


def test_properties_error_rate_fails_only_properties_reads(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory(random_seed=3)
    admin(sim, "faults", {"properties_error_rate": 1.0, "error_statuses": [502]}).raise_for_status()

    assert [get(sim, PROPERTIES).status_code for _ in range(3)] == [502] * 3
    assert update(sim, change("1001", property_string="x")).status_code == 200
    assert admin(sim, "faults", {"properties_error_rate": 0}).json()["properties_error_rate"] == 0.0
    assert get(sim, PROPERTIES).status_code == 200


@pytest.mark.parametrize("entry", ["lie:empty", "sometimes", 200])
def test_bad_properties_script_entries_are_refused(hubspot_simulator: HubSpotSimulator, entry: Any) -> None:
    assert admin(hubspot_simulator, "faults", {"properties_script": [entry]}).status_code == 400
    assert hubspot_simulator.faults.pending_properties() == []


def test_fault_reset_clears_the_properties_knobs(hubspot_simulator: HubSpotSimulator) -> None:
    sim = hubspot_simulator
    admin(sim, "faults", {"properties_script": [500], "properties_error_rate": 0.5}).raise_for_status()

    after = admin(sim, "faults", {"reset": True}).json()

    assert (after["properties_script"], after["properties_error_rate"]) == ([], 0.0)
    assert get(sim, PROPERTIES).status_code == 200
