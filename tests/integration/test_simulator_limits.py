"""The simulator's rate limits (rolling window, daily limit, their headers) and its faults (scripted answers,
random errors and resets, latency), through real HTTP.

Time-dependent behaviour runs on an injected clock and an injected sleep: nothing here waits or measures
wall time.
"""

from __future__ import annotations

import pytest
import requests

from hubsync_local.simulator import HubSpotSimulator
from support.hubspot import FakeClock
from support.simulator_http import TYPE, Factory, change, get, post, stored, update


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
