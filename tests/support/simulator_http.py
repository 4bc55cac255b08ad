"""Talking to the HubSpot simulator over HTTP as the tests do: the token, the object type, requests to its API and
its admin endpoints, and HubSpot's official client pointed at it (``host=``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests
from hubspot import HubSpot

from hubsync_local.simulator import HubSpotSimulator
from support.hubspot import HUBSPOT_TOKEN

Factory = Callable[..., HubSpotSimulator]
AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
TYPE = "partner_services"
PROPERTIES = f"/crm/v3/properties/{TYPE}"


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


def admin(sim: HubSpotSimulator, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sim.url}/_simulator/{path}", json=body, timeout=5)


def served(sim: HubSpotSimulator, object_type: str = TYPE) -> dict[str, dict[str, Any]]:
    answer = get(sim, f"/crm/v3/properties/{object_type}")
    assert answer.status_code == 200, answer.text
    return {prop["name"]: prop for prop in answer.json()["results"]}


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
