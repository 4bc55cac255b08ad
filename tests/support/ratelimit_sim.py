"""An in-process HubSpot with a true rolling window, and updater instances sending to it, on a fake clock.

The simulations are a small discrete-event loop: each updater instance has ``max_in_flight`` workers; a
request reaches HubSpot half a latency after it is sent (that is when HubSpot counts it and computes
Remaining) and its answer comes back after the whole latency; with ``rng`` the latency varies by +-50 % and
the arrival falls anywhere from 20 to 80 % of it, so requests overtake each other. Nothing sleeps for real.
Pure logic (the unit tests' in-process stub): the HTTP simulator is tests/integration's.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubsync.delivery.ratelimit import Permit, RateLimiter

ROLLING = {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
DAILY = {"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class FakeHubSpot:
    """HubSpot's ten-secondly rolling window: only admitted requests count (as in the local simulator)."""

    def __init__(self, clock: FakeClock, limit: int = 100, interval_ms: int = 10_000) -> None:
        self.clock = clock
        self.limit = limit
        self.interval = interval_ms / 1000
        self.interval_ms = interval_ms
        self.window: deque[float] = deque()
        self.admitted: list[float] = []
        self.refused = 0

    def handle(self) -> tuple[int, dict[str, str], Any]:
        now = self.clock()
        while self.window and self.window[0] <= now - self.interval:
            self.window.popleft()
        if len(self.window) >= self.limit:
            self.refused += 1
            return 429, self.headers(), ROLLING
        self.window.append(now)
        self.admitted.append(now)
        return 200, self.headers(), {"status": "COMPLETE"}

    def headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.limit - len(self.window)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
        }

    @property
    def calls(self) -> int:
        return len(self.admitted) + self.refused

    def goodput(self) -> float:
        """Admitted requests per interval, over the limit, as reuse of the window's slots: a rolling window
        admits request ``i + limit`` one interval after request ``i`` at the earliest, so 1.0 means each
        slot was used again the moment it freed (bucketing by whole intervals flatters bursty senders)."""
        times = sorted(self.admitted)
        gaps = [later - earlier for earlier, later in zip(times, times[self.limit :], strict=False)]
        assert len(gaps) >= 3 * self.limit, "run too short to measure"
        return self.interval * len(gaps) / sum(gaps)


@dataclass
class Instance:
    """One updater instance: a limiter and ``work`` requests to get through (a 429 is sent again)."""

    limiter: RateLimiter
    work: int
    start: float = 0.0
    in_flight: int = 0
    done: list[float] = field(default_factory=list)  # times of successful answers
    idle: set[int] = field(default_factory=set)


def simulate(
    server: FakeHubSpot,
    clock: FakeClock,
    instances: list[Instance],
    workers: int,
    latency: float,
    rng: random.Random | None = None,
) -> None:
    events: list[tuple[float, int, Callable[[], None]]] = []
    order = itertools.count()
    generation: dict[tuple[int, int], int] = {}

    def at(when: float, action: Callable[[], None]) -> None:
        heapq.heappush(events, (when, next(order), action))

    def wake_later(index: int, worker: int, when: float) -> None:
        # A newer wake-up supersedes an older one, as a notify would.
        key = (index, worker)
        generation[key] = generation.get(key, 0) + 1
        mine = generation[key]
        at(when, lambda: wake(index, worker, mine))

    def wake(index: int, worker: int, mine: int) -> None:
        instance = instances[index]
        if generation[(index, worker)] != mine or instance.work - instance.in_flight <= 0:
            return
        permit = instance.limiter.try_acquire()
        if permit is None:
            instance.idle.add(worker)
            wait = instance.limiter.seconds_until_ready()
            if wait < float("inf"):
                wake_later(index, worker, clock() + max(wait, 1e-3))
            return
        instance.in_flight += 1
        this_latency = latency if rng is None else latency * rng.uniform(0.5, 1.5)
        arrival = this_latency * (0.5 if rng is None else rng.uniform(0.2, 0.8))
        answer: list[tuple[int, dict[str, str], Any]] = []
        at(clock() + arrival, lambda: answer.append(server.handle()))
        at(clock() + this_latency, lambda: answered(index, worker, permit, answer[0]))

    def answered(index: int, worker: int, permit: Permit, answer: tuple[int, dict[str, str], Any]) -> None:
        instance = instances[index]
        status, headers, body = answer
        instance.limiter.complete(permit, status, headers, body)
        instance.in_flight -= 1
        if status == 200:
            instance.work -= 1
            instance.done.append(clock())
        for waiting in [*instance.idle, worker]:
            instance.idle.discard(waiting)
            wake_later(index, waiting, clock())

    for index, instance in enumerate(instances):
        for worker in range(workers):
            wake_later(index, worker, instance.start)
    while events:
        when, _, action = heapq.heappop(events)
        clock.now = max(clock.now, when)
        action()
    assert all(instance.work == 0 for instance in instances)


def limiter(clock: FakeClock, **kwargs: Any) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def rate_limited_share(server: FakeHubSpot) -> float:
    return server.refused / server.calls
