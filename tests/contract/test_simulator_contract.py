"""The simulator's bodies against HubSpot's own OpenAPI files (shared/hubspot-openapi/).

Each answer is checked against the schema the spec declares for that operation and status (or its
`default`, the `Error` body), so the test follows the spec rather than a list kept here. Two shapes HubSpot
really sends differ from its spec, and the simulator copies HubSpot: see the tests at the end.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from hubsync_local.simulator import HubSpotSimulator
from support.simulator_http import AUTH, Factory

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "hubspot-openapi"
if not (SPEC_DIR / "partner-services-v3.json").is_file():
    pytest.skip(f"HubSpot's OpenAPI files are not at {SPEC_DIR}", allow_module_level=True)

from jsonschema import Draft202012Validator  # noqa: E402  (only once the module is known to run)
from referencing import Registry, Resource  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

BASE = "/crm/v3/objects/partner_services"
ONE = BASE + "/{partnerServiceId}"


def _load(name: str) -> tuple[dict[str, Any], Registry]:
    spec = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return spec, Registry().with_resource(f"urn:{name}", resource)


SPEC, REGISTRY = _load("partner-services-v3.json")
OBJECTS_SPEC, OBJECTS_REGISTRY = _load("objects-v3.json")


def _problems(body: Any, ref: str, spec_name: str = "partner-services-v3.json") -> list[str]:
    registry = REGISTRY if spec_name == "partner-services-v3.json" else OBJECTS_REGISTRY
    validator = Draft202012Validator(
        {"$ref": f"urn:{spec_name}{ref}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [f"/{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def response_ref(path: str, method: str, status: int, spec: dict[str, Any] = SPEC) -> str:
    """The `$ref` of the schema the spec declares for this operation and status (else its default)."""
    responses = spec["paths"][path][method]["responses"]
    response = responses.get(str(status), responses["default"])
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    [media] = response["content"].values()
    ref: str = media["schema"]["$ref"]
    return ref


def request_ref(path: str, method: str) -> str:
    [media] = SPEC["paths"][path][method]["requestBody"]["content"].values()
    ref: str = media["schema"]["$ref"]
    return ref


def assert_matches(answer: requests.Response, path: str, method: str) -> None:
    ref = response_ref(path, method, answer.status_code)
    assert _problems(answer.json(), ref) == [], f"{answer.status_code} {ref}: {answer.text}"


def call(sim: HubSpotSimulator, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    return requests.request(method, f"{sim.url}{path}", json=body, params=params, headers=AUTH, timeout=5)


UPDATE_BODY = {
    "inputs": [
        {"id": "1001", "properties": {"property_string": "a", "property_date": "1572480000000"}},
        {"id": "ps-1002", "idProperty": "my_unique_property_name", "properties": {"property_checkbox": "true"}},
        {"id": "1003", "objectWriteTraceId": "trace-1003", "properties": {"property_multiple_checkboxes": "vanilla"}},
    ]
}


def test_the_request_bodies_used_here_match_the_spec() -> None:
    read_body = {"inputs": [{"id": "1001"}], "properties": ["property_string"], "propertiesWithHistory": []}

    assert _problems(UPDATE_BODY, request_ref(BASE + "/batch/update", "post")) == []
    assert _problems(read_body, request_ref(BASE + "/batch/read", "post")) == []
    assert _problems({"properties": {"property_number": "1"}}, request_ref(ONE, "patch")) == []
    # and the checker does catch a non-string value
    assert _problems({"inputs": [{"id": "1", "properties": {"n": 1}}]}, request_ref(BASE + "/batch/update", "post"))


def test_batch_update_200(hubspot_simulator: HubSpotSimulator) -> None:
    answer = call(hubspot_simulator, "POST", BASE + "/batch/update", UPDATE_BODY)

    assert answer.status_code == 200
    assert_matches(answer, BASE + "/batch/update", "post")


def test_batch_update_207_errors_are_standard_errors(hubspot_simulator: HubSpotSimulator) -> None:
    body = {"inputs": [*UPDATE_BODY["inputs"], {"id": "9999", "objectWriteTraceId": "t", "properties": {}}]}
    answer = call(hubspot_simulator, "POST", BASE + "/batch/update", body)

    assert answer.status_code == 207
    assert response_ref(BASE + "/batch/update", "post", 207).endswith("/BatchResponseSimplePublicObjectWithErrors")
    assert_matches(answer, BASE + "/batch/update", "post")


def test_contacts_batch_update_matches_the_generic_objects_spec(hubspot_simulator: HubSpotSimulator) -> None:
    path = "/crm/v3/objects/{objectType}/batch/update"
    ok = call(
        hubspot_simulator,
        "POST",
        "/crm/v3/objects/contacts/batch/update",
        {"inputs": [{"id": "501", "properties": {"firstname": "A"}}]},
    )
    partial = call(
        hubspot_simulator, "POST", "/crm/v3/objects/contacts/batch/update", {"inputs": [{"id": "1", "properties": {}}]}
    )

    for answer in (ok, partial):
        ref = response_ref(path, "post", answer.status_code, OBJECTS_SPEC)
        assert _problems(answer.json(), ref, "objects-v3.json") == [], answer.text


ERRORS = [
    ("POST", BASE + "/batch/update", {"inputs": [UPDATE_BODY["inputs"][0]] * 2}, 400),
    ("POST", BASE + "/batch/update", {"inputs": [{"id": "1001", "properties": {"nope": "1"}}]}, 400),
    ("POST", BASE + "/batch/update", {"inputs": [{"id": "1001", "properties": {"property_number": 1}}]}, 400),
    ("POST", BASE + "/batch/update", {"inputs": [{"id": str(n), "properties": {}} for n in range(101)]}, 400),
    ("POST", BASE + "/batch/update", {"inputs": [{"id": "1", "idProperty": "hs_object_id", "properties": {}}]}, 400),
    (
        "POST",
        BASE + "/batch/update",
        {"inputs": [{"id": "1001", "properties": {"my_unique_property_name": "ps-1002"}}]},
        409,
    ),
    ("POST", BASE + "/batch/update", "not an object", 400),
    ("POST", BASE + "/batch/read", {"inputs": [{"id": "1"}], "idProperty": "property_string"}, 400),
    ("GET", ONE.format(partnerServiceId="424242"), None, 404),
    ("PATCH", ONE.format(partnerServiceId="1001"), {"properties": {"property_radio": "option_9"}}, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), ERRORS)
def test_error_answers_are_error_bodies(
    hubspot_simulator: HubSpotSimulator, method: str, path: str, body: Any, status: int
) -> None:
    answer = call(hubspot_simulator, method, path, body)
    template = ONE if path.count("/") == 5 else path

    assert answer.status_code == status
    assert response_ref(template, method.lower(), status).endswith("/Error")
    assert_matches(answer, template, method.lower())


@pytest.mark.parametrize("status", [401, 423, 477, 500, 502, 503, 504])
def test_auth_failures_and_injected_faults_are_error_bodies(hubspot_simulator: HubSpotSimulator, status: int) -> None:
    if status == 401:
        answer = requests.post(f"{hubspot_simulator.url}{BASE}/batch/update", json=UPDATE_BODY, timeout=5)
    else:
        hubspot_simulator.faults.script(status)
        answer = call(hubspot_simulator, "POST", BASE + "/batch/update", UPDATE_BODY)

    assert answer.status_code == status
    assert_matches(answer, BASE + "/batch/update", "post")


def test_get_one_record(hubspot_simulator: HubSpotSimulator) -> None:
    answer = call(hubspot_simulator, "GET", ONE.format(partnerServiceId="1004"), properties="property_string")

    assert answer.status_code == 200
    assert_matches(answer, ONE, "get")


def test_patch_one_record(hubspot_simulator: HubSpotSimulator) -> None:
    answer = call(
        hubspot_simulator, "PATCH", ONE.format(partnerServiceId="1004"), {"properties": {"property_number": "2"}}
    )

    assert answer.status_code == 200
    assert_matches(answer, ONE, "patch")


def test_list_page(hubspot_simulator: HubSpotSimulator) -> None:
    answer = call(hubspot_simulator, "GET", BASE, limit=4, properties="property_string,property_radio")

    assert answer.status_code == 200
    assert "paging" in answer.json()
    assert_matches(answer, BASE, "get")


@pytest.mark.parametrize("ids", [["1001", "1002"], ["1001", "31337"]])
def test_batch_read(hubspot_simulator: HubSpotSimulator, ids: list[str]) -> None:
    body = {"inputs": [{"id": i} for i in ids], "properties": ["property_string"], "propertiesWithHistory": []}
    answer = call(hubspot_simulator, "POST", BASE + "/batch/read", body)

    assert answer.status_code == (200 if ids[-1] == "1002" else 207)
    assert_matches(answer, BASE + "/batch/read", "post")


# -- where HubSpot departs from its own spec, and the simulator follows HubSpot ----------------------


def test_a_429_body_is_hubspots_observed_shape_not_an_error(hubspot_simulator_factory: Factory) -> None:
    sim = hubspot_simulator_factory(rate_limit=0)
    answer = call(sim, "POST", BASE + "/batch/update", UPDATE_BODY)

    assert answer.status_code == 429
    # HUBSPOT.md: errorType/policyName/groupName and no `category`, which `Error` requires.
    assert _problems(answer.json(), response_ref(BASE + "/batch/update", "post", 429)) == [
        "/: 'category' is a required property"
    ]


def test_a_requested_property_without_a_value_is_null(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.add_record("partner_services", {"property_string": "only this"}, record_id="3000")
    answer = call(hubspot_simulator, "GET", ONE.format(partnerServiceId="3000"), properties="property_radio")

    # HubSpot answers null for a requested property that has no value; its schema says string.
    assert answer.json()["properties"]["property_radio"] is None
    assert _problems(answer.json(), response_ref(ONE, "get", 200)) == [
        "/properties/property_radio: None is not of type 'string'"
    ]


# -- batch/upsert against objects-v3.json ------------------------------------------------------------

UPSERT = "/crm/v3/objects/{objectType}/batch/upsert"
UPSERT_BODY = {
    "inputs": [
        {
            "id": "new@example.com",
            "idProperty": "email",
            "objectWriteTraceId": "t-new",
            "properties": {"firstname": "N"},
        },
        {"id": "ada@example.com", "idProperty": "email", "properties": {"lastname": "Byron"}},
    ]
}


def test_the_upsert_request_body_matches_the_spec() -> None:
    [media] = OBJECTS_SPEC["paths"][UPSERT]["post"]["requestBody"]["content"].values()
    ref = media["schema"]["$ref"]

    assert ref.endswith("/BatchInputSimplePublicObjectBatchInputUpsert")
    assert _problems(UPSERT_BODY, ref, "objects-v3.json") == []
    # and the checker does catch an input without properties
    assert _problems({"inputs": [{"id": "x", "idProperty": "email"}]}, ref, "objects-v3.json")


@pytest.mark.parametrize(
    ("object_type", "body", "status", "schema"),
    [
        ("contacts", UPSERT_BODY, 200, "BatchResponseSimplePublicUpsertObject"),
        (
            "contacts",
            {"inputs": [*UPSERT_BODY["inputs"], {"id": "9999", "objectWriteTraceId": "t", "properties": {}}]},
            207,
            "BatchResponseSimplePublicUpsertObjectWithErrors",
        ),
        ("contacts", {"inputs": [{"id": "x", "idProperty": "firstname", "properties": {}}]}, 400, "Error"),
        ("contacts", {"inputs": [{"id": "501", "properties": {"lifecyclestage": "Lead"}}]}, 400, "Error"),
        ("partner_services", {"inputs": [{"id": "1001", "properties": {}}]}, 400, "Error"),
    ],
    ids=["200", "207", "non-unique-id-property", "invalid-option", "partner-services"],
)
def test_upsert_answers_match_the_spec(
    hubspot_simulator: HubSpotSimulator, object_type: str, body: Any, status: int, schema: str
) -> None:
    answer = call(hubspot_simulator, "POST", f"/crm/v3/objects/{object_type}/batch/upsert", body)
    ref = response_ref(UPSERT, "post", answer.status_code, OBJECTS_SPEC)

    assert answer.status_code == status, answer.text
    assert ref.endswith(f"/{schema}")
    assert _problems(answer.json(), ref, "objects-v3.json") == [], answer.text
    if status in (200, 207):
        assert {result["new"] for result in answer.json()["results"]} == {True, False}


# -- the Properties API against the official client's model ------------------------------------------
# The shared OpenAPI files hold no Properties API; HubSpot's official client (its models are generated
# from HubSpot's spec) is the reference instead: required fields through its own client-side validation,
# and every field sent must be one its model knows, of the type it declares.


class _Raw:
    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


def _client_problems(body: Any, model: str) -> list[str]:
    from hubspot.crm.properties.api_client import ApiClient
    from hubspot.crm.properties.configuration import Configuration

    configuration = Configuration()
    configuration.client_side_validation = True
    try:
        ApiClient(configuration=configuration).deserialize(_Raw(body), model)
    except ValueError as exc:
        return [str(exc)]
    return _model_problems(body, model, "")


def _model_problems(value: Any, type_name: str, where: str) -> list[str]:
    import hubspot.crm.properties.models as models

    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, item in enumerate(value) for p in _model_problems(item, type_name[5:-1], f"{where}/{i}")]
    primitives: dict[str, type] = {"str": str, "bool": bool, "int": int, "datetime": str}
    if type_name in primitives:
        wanted = primitives[type_name]
        fits = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
        if fits and type_name == "datetime":
            fits = bool(datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo)
        return [] if fits else [f"{where}: {value!r} is not {type_name}"]
    klass = getattr(models, type_name)
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not a {type_name}"]
    fields = {json_key: attribute for attribute, json_key in klass.attribute_map.items()}
    problems = [f"{where}/{key}: not a field of {type_name}" for key in value if key not in fields]
    for key, item in value.items():
        if key in fields:
            problems += _model_problems(item, klass.openapi_types[fields[key]], f"{where}/{key}")
    return problems


@pytest.mark.parametrize("object_type", ["partner_services", "contacts"])
def test_the_properties_answer_matches_the_official_clients_model(
    hubspot_simulator: HubSpotSimulator, object_type: str
) -> None:
    answer = call(hubspot_simulator, "GET", f"/crm/v3/properties/{object_type}")

    assert answer.status_code == 200
    assert len(answer.json()["results"]) >= 10
    assert _client_problems(answer.json(), "CollectionResponsePropertyNoPaging") == []


def test_one_property_matches_the_model_and_a_404_is_an_error_body(hubspot_simulator: HubSpotSimulator) -> None:
    one = call(hubspot_simulator, "GET", "/crm/v3/properties/partner_services/property_calculated")
    missing = call(hubspot_simulator, "GET", "/crm/v3/properties/partner_services/nope")

    assert _client_problems(one.json(), "ModelProperty") == []
    assert missing.status_code == 404
    # HubSpot's error bodies carry "status": "error" (observed), a field its Error model does not list.
    assert _client_problems(missing.json(), "Error") == ["/status: not a field of Error"]
    assert _problems(missing.json(), response_ref(ONE, "get", 404)) == []


def test_the_model_check_catches_a_missing_field_an_unknown_field_and_a_wrong_type(
    hubspot_simulator: HubSpotSimulator,
) -> None:
    prop = call(hubspot_simulator, "GET", "/crm/v3/properties/partner_services/property_dropdown").json()
    no_label = {key: value for key, value in prop.items() if key != "label"}
    bad_option = {**prop, "options": [{"value": "a", "label": "A"}]}

    assert _client_problems(no_label, "ModelProperty")
    assert _client_problems(bad_option, "ModelProperty")  # an option needs `hidden`
    assert _client_problems({**prop, "colour": "red"}, "ModelProperty") == ["/colour: not a field of ModelProperty"]
    assert _client_problems({**prop, "displayOrder": "1"}, "ModelProperty") == ["/displayOrder: '1' is not int"]
