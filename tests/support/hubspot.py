"""Fixtures for a real HubSpot endpoint: the simulator on a free local port.

`hubspot_simulator`: started, bundled seed (partner_services 1001..1020, contacts 501..503), token
`sim-token`, no rate limit. `hubspot_simulator_factory(**kwargs)`: the same defaults, any constructor
argument overridden (e.g. `clock=FakeClock()`, `rate_limit=3`); every simulator it made is stopped after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hubsync_local.simulator import HubSpotSimulator

HUBSPOT_TOKEN = "sim-token"

__all__ = ["hubspot_simulator", "hubspot_simulator_factory"]


class FakeClock:
    """A clock for the simulator's rate limiter: time moves only when a test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hubspot_simulator_factory() -> Iterator[Callable[..., HubSpotSimulator]]:
    started: list[HubSpotSimulator] = []

    def make(**kwargs: Any) -> HubSpotSimulator:
        kwargs.setdefault("token", HUBSPOT_TOKEN)
        sim = HubSpotSimulator(port=0, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def hubspot_simulator() -> Iterator[HubSpotSimulator]:
    with HubSpotSimulator(port=0, token=HUBSPOT_TOKEN) as sim:
        yield sim
