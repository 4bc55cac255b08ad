"""The updater's rate limiter against an in-process HubSpot with a true rolling window, on a fake clock
(tests/support/ratelimit_sim.py): throughput and 429s in simulation, headers correcting the configuration,
a 429 TEN_SECONDLY_ROLLING. The daily limit, deadlines, max_in_flight, the Remaining estimate and a new
container: test_ratelimit_budget.py.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from hubsync.delivery.ratelimit import RateLimiter
from support.ratelimit_sim import (
    ROLLING,
    FakeClock,
    FakeHubSpot,
    Instance,
    limiter,
    rate_limited_share,
    simulate,
)


# -- (a) (b) (c): throughput and 429s in simulation ------------------------------------------------------------
def test_one_instance_uses_the_whole_limit_without_429s() -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock)
    instance = Instance(limiter(clock, instances=1, max_in_flight=4), work=2000)
    simulate(server, clock, [instance], workers=4, latency=0.2)
    assert server.goodput() >= 0.95
    assert rate_limited_share(server) <= 0.01


@pytest.mark.parametrize("jitter", [None, random.Random(3)], ids=["fixed-latency", "varying-latency"])
def test_two_busy_instances_share_one_limit(jitter: random.Random | None) -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock)
    pair = [Instance(limiter(clock, instances=2, max_in_flight=4), work=1000) for _ in range(2)]
    simulate(server, clock, pair, workers=4, latency=0.2, rng=jitter)
    assert server.goodput() >= 0.95
    assert rate_limited_share(server) <= 0.01
    assert all(instance.limiter.stats()["sent"] <= 1010 for instance in pair)


def test_four_busy_instances_with_varying_latency_stay_under_the_limit() -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock)
    four = [Instance(limiter(clock, instances=4, max_in_flight=4), work=600) for _ in range(4)]
    simulate(server, clock, four, workers=4, latency=0.2, rng=random.Random(5))
    assert server.goodput() >= 0.95
    assert rate_limited_share(server) <= 0.01


def test_a_lone_busy_instance_borrows_the_idle_ones_share() -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock)
    busy = Instance(limiter(clock, instances=2, max_in_flight=4), work=2000)
    idle = Instance(limiter(clock, instances=2, max_in_flight=4), work=0)
    simulate(server, clock, [busy, idle], workers=4, latency=0.2)
    assert server.goodput() >= 0.9  # it may leave room for what the other could have on the wire
    assert server.refused == 0


def test_a_borrowing_instance_gives_way_when_another_starts() -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock)
    first = Instance(limiter(clock, instances=2, max_in_flight=4), work=2000)
    late = Instance(limiter(clock, instances=2, max_in_flight=4), work=500, start=50.0)
    simulate(server, clock, [first, late], workers=4, latency=0.2)
    assert rate_limited_share(server) <= 0.01
    # Within a few intervals of starting, the late one gets its whole share.
    late_per_interval = Counter(int(t // 10) for t in late.done)
    assert late_per_interval[8] >= 49
    assert server.goodput() >= 0.9


# -- (d) headers correct the configuration --------------------------------------------------------------------
def test_max_header_raises_the_limit_it_was_configured_with() -> None:
    clock = FakeClock()
    server = FakeHubSpot(clock, limit=190)
    instance = Instance(limiter(clock, limit=100, max_in_flight=8), work=1500)
    simulate(server, clock, [instance], workers=8, latency=0.2)
    assert instance.limiter.stats()["limit"] == 190
    assert server.goodput() >= 0.95  # of 190 per interval
    assert rate_limited_share(server) <= 0.01


def test_headers_are_case_insensitive_and_bad_values_ignored() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, interval_seconds=10)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(permit, 200, {"x-hubspot-ratelimit-max": "250", "X-HUBSPOT-RATELIMIT-INTERVAL-MILLISECONDS": "5000"})
    assert (rl.stats()["limit"], rl.stats()["interval_seconds"]) == (250, 5.0)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(
        permit,
        200,
        {"X-HubSpot-RateLimit-Max": "lots", "X-HubSpot-RateLimit-Interval-Milliseconds": "-1",
         "X-HubSpot-RateLimit-Remaining": "", "X-HubSpot-RateLimit-Daily-Remaining": "n/a"},
    )  # fmt: skip
    stats = rl.stats()
    assert (stats["limit"], stats["interval_seconds"], stats["remaining_estimate"]) == (250, 5.0, -1)
    assert not rl.daily_exhausted


def test_a_shorter_interval_from_the_headers_frees_the_share_sooner() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=2, interval_seconds=10)
    for _ in range(2):
        permit = rl.acquire()
        assert permit is not None
        rl.complete(permit, 200, {"X-HubSpot-RateLimit-Interval-Milliseconds": "1000"})
    assert rl.acquire() is not None
    assert clock.now == pytest.approx(1.0, abs=1e-3)


# -- (e) 429 TEN_SECONDLY_ROLLING ------------------------------------------------------------------------------
def _rate_limited_once(headers: dict[str, str], body: Any = ROLLING) -> tuple[FakeClock, RateLimiter]:
    clock = FakeClock()
    rl = limiter(clock, limit=100, interval_seconds=10)
    permit = rl.acquire()
    assert permit is not None
    clock.sleep(0.5)  # the answer takes half a second
    rl.complete(permit, 429, headers, body)
    return clock, rl


def test_retry_after_is_honoured() -> None:
    clock, rl = _rate_limited_once({"Retry-After": "3"})
    assert rl.acquire() is not None
    assert clock.now == pytest.approx(0.5 + 3, abs=1e-3)
    assert rl.stats()["rate_limited"] == 1


def test_retry_after_is_capped_at_the_interval() -> None:
    clock, rl = _rate_limited_once({"retry-after": "3600"})
    assert rl.acquire() is not None
    assert clock.now == pytest.approx(0.5 + 10, abs=1e-3)


def test_without_retry_after_it_pauses_until_its_oldest_request_leaves_the_window() -> None:
    # The oldest request was answered at 0.5: HubSpot surely counted it by then, so it has left by 10.5.
    clock, rl = _rate_limited_once({}, body=None)
    assert rl.stats()["paused_seconds"] == pytest.approx(10.0)
    assert rl.acquire() is not None
    assert clock.now == pytest.approx(10.5, abs=1e-3)
    assert rl.stats()["rate_limited"] == 1 and not rl.daily_exhausted


def test_a_pause_applies_to_every_thread_and_stops_at_a_deadline() -> None:
    clock, rl = _rate_limited_once({"Retry-After": "5"})
    assert rl.acquire(deadline=clock.now + 4) is None
    assert clock.now == pytest.approx(0.5)  # did not wait for a pause it could not outlast
