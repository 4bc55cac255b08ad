"""The HubSpot simulator through real HTTP: routing and auth, reads, transport, admin endpoints, seeds, its CLI.

Its batch update: test_simulator_updates.py; rate limits and faults: test_simulator_limits.py; the Properties
API: test_simulator_properties.py and test_simulator_property_rules.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from hubspot.crm.objects import (
    ApiException,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)

from hubsync_local.simulator import HubSpotSimulator, StoreError
from support.hubspot import HUBSPOT_TOKEN
from support.simulator_http import AUTH, TYPE, Factory, change, client, get, post, stored, update


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
