"""The simulator's property rules beyond the definitions' own: validation rules (refuseValues), definitions
changing at run time, and the Properties API's own faults, through real HTTP (definitions read back with
HubSpot's official client).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from hubsync_local.simulator import HubSpotSimulator
from support.simulator_http import PROPERTIES, TYPE, Factory, admin, change, get, refusal, served, stored, update


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
