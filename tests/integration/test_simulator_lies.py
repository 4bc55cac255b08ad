"""The simulator's lying and late modes, through real HTTP: what each writes and what it claims.

hubsync's own handling of these answers is tested in test_proven_settlement.py; here the simulator is
held to what each mode promises, so that those tests rest on a model that does what it says.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from hubsync_local.simulator import HubSpotSimulator
from support.simulator_http import AUTH, TYPE
from support.stack import wait_for

IDS = ["1001", "1002", "1003", "1004"]


def update(sim: HubSpotSimulator, value: str) -> requests.Response:
    inputs = [{"id": i, "properties": {"property_string": value}, "objectWriteTraceId": f"t{i}"} for i in IDS]
    return requests.post(
        f"{sim.url}/crm/v3/objects/{TYPE}/batch/update", json={"inputs": inputs}, headers=AUTH, timeout=5
    )


def written(sim: HubSpotSimulator, value: str) -> list[str]:
    return [i for i in IDS if (sim.record(TYPE, i) or {}).get("properties", {}).get("property_string") == value]


@pytest.mark.parametrize(
    ("mode", "body"),
    [
        ("empty", {}),
        ("ok", {"message": "ok"}),
        ("no_results", None),  # checked below: COMPLETE with no results
    ],
)
def test_lies_that_apply_nothing(hubspot_simulator: HubSpotSimulator, mode: str, body: Any) -> None:
    hubspot_simulator.faults.script(f"lie:{mode}")
    answer = update(hubspot_simulator, "lied")
    assert answer.status_code == 200
    if body is None:
        assert (answer.json()["status"], answer.json()["results"]) == ("COMPLETE", [])
    else:
        assert answer.json() == body
    assert written(hubspot_simulator, "lied") == []


def test_a_proxy_page_is_html_and_applies_nothing(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script("lie:html")
    answer = update(hubspot_simulator, "lied")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")
    assert written(hubspot_simulator, "lied") == []


def test_partial_applies_half_and_lists_only_that_half(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script("lie:partial")
    answer = update(hubspot_simulator, "half")
    assert answer.status_code == 200
    listed = sorted(result["id"] for result in answer.json()["results"])
    assert listed == written(hubspot_simulator, "half") == IDS[:2]
    assert "errors" not in answer.json()


def test_unnamed_207_applies_half_and_its_error_names_no_input(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script("lie:unnamed_207")
    answer = update(hubspot_simulator, "half")
    assert answer.status_code == 207
    body = answer.json()
    assert sorted(result["id"] for result in body["results"]) == written(hubspot_simulator, "half") == IDS[:2]
    assert body["numErrors"] == 1 and set(body["errors"][0]["context"]) == {"propertyName"}


def test_a_late_request_times_out_for_the_client_and_still_lands(hubspot_simulator: HubSpotSimulator) -> None:
    hubspot_simulator.faults.script("late:1500")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{hubspot_simulator.url}/crm/v3/objects/{TYPE}/batch/update",
            json={"inputs": [{"id": "1001", "properties": {"property_string": "late"}}]},
            headers=AUTH,
            timeout=(2, 0.2),
        )
    assert written(hubspot_simulator, "late") == []  # not yet: the write lands only after the delay
    wait_for(lambda: written(hubspot_simulator, "late") == ["1001"], "the late write to land", timeout=10)


def test_random_lies_follow_lie_rate_and_modes(hubspot_simulator: HubSpotSimulator) -> None:
    requests.post(
        f"{hubspot_simulator.url}/_simulator/faults", json={"lie_rate": 1.0, "lie_modes": ["empty"]}, timeout=5
    ).raise_for_status()
    assert update(hubspot_simulator, "x").json() == {}
    settings = requests.get(f"{hubspot_simulator.url}/_simulator/faults", timeout=5).json()
    assert (settings["lie_rate"], settings["lie_modes"]) == (1.0, ["empty"])
    with pytest.raises(requests.HTTPError):
        requests.post(
            f"{hubspot_simulator.url}/_simulator/faults", json={"lie_modes": ["truthful"]}, timeout=5
        ).raise_for_status()
