"""The updater's rate limiter against an in-process HubSpot with a true rolling window, on a fake clock.

The simulations are a small discrete-event loop: each updater instance has ``max_in_flight`` workers; a
request reaches HubSpot half a latency after it is sent (that is when HubSpot counts it and computes
Remaining) and its answer comes back after the whole latency; with ``rng`` the latency varies by +-50 % and
the arrival falls anywhere from 20 to 80 % of it, so requests overtake each other. Nothing sleeps for real
except the one test that uses real threads, and that one asserts no timing.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

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


# -- (f) the daily limit ---------------------------------------------------------------------------------------


def test_a_daily_429_stops_all_calls_at_once() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(permit, 429, {"X-HubSpot-RateLimit-Daily-Remaining": "5"}, DAILY)
    assert rl.daily_exhausted
    before = clock.now
    assert rl.acquire() is None and rl.acquire(deadline=before + 60) is None and rl.try_acquire() is None
    assert clock.now == before
    assert rl.stats()["daily_limited"] == 1 and rl.stats()["rate_limited"] == 0


def test_daily_remaining_zero_stops_all_calls() -> None:
    clock = FakeClock()
    rl = limiter(clock, daily_recheck_seconds=None)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(permit, 200, {"X-HubSpot-RateLimit-Daily": "2", "X-HubSpot-RateLimit-Daily-Remaining": "0"})
    assert rl.daily_exhausted and rl.acquire() is None
    clock.sleep(86_400)
    assert rl.daily_exhausted  # without a re-check it stays stopped


def test_a_warm_container_rechecks_the_daily_limit_later() -> None:
    clock = FakeClock()
    rl = limiter(clock, daily_recheck_seconds=600)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(permit, 429, {}, DAILY)
    clock.sleep(599)
    assert rl.acquire() is None
    clock.sleep(1)
    assert not rl.daily_exhausted and rl.acquire() is not None


# -- (g) deadlines ---------------------------------------------------------------------------------------------


def _share_used(clock: FakeClock, limit: int = 2) -> RateLimiter:
    rl = limiter(clock, limit=limit, interval_seconds=10)
    for _ in range(limit):
        permit = rl.acquire()
        assert permit is not None
        rl.complete(permit, 200, {})
    return rl


def test_acquire_gives_up_at_once_when_the_wait_would_pass_the_deadline() -> None:
    clock = FakeClock()
    rl = _share_used(clock)
    assert rl.acquire(deadline=9.0) is None
    assert clock.now == 0.0
    assert rl.seconds_until_ready() == pytest.approx(10.0)


def test_acquire_waits_when_the_deadline_allows() -> None:
    clock = FakeClock()
    rl = _share_used(clock)
    assert rl.acquire(deadline=10.5) is not None
    assert clock.now == pytest.approx(10.0, abs=1e-3)
    assert rl.stats()["waited_seconds"] == pytest.approx(10.0, abs=1e-3)


def test_acquire_never_sleeps_past_the_deadline_while_answers_are_pending() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=1, interval_seconds=10, max_in_flight=2)
    held = rl.acquire()
    assert held is not None
    # The share is taken by a request still on the wire: its answer could open room, so it polls.
    assert rl.acquire(deadline=2.0) is None
    assert clock.now <= 2.0 + 1e-9


# -- (h) max_in_flight -----------------------------------------------------------------------------------------


def test_max_in_flight_holds_with_real_threads() -> None:
    rl = RateLimiter(limit=100_000, interval_seconds=1.0, max_in_flight=3)
    lock = threading.Lock()
    holding = 0
    most = 0

    def work() -> None:
        nonlocal holding, most
        for _ in range(25):
            permit = rl.acquire()
            assert permit is not None
            with lock:
                holding += 1
                most = max(most, holding)
            time.sleep(0.0005)  # hold the permit a moment so threads overlap; nothing times this
            with lock:
                holding -= 1
            rl.complete(permit, 200, {})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert 1 <= most <= 3
    stats = rl.stats()
    assert stats["sent"] == stats["completed"] == 200 and stats["in_flight"] == 0


def test_a_thread_holding_every_permit_is_told_instead_of_hanging() -> None:
    clock = FakeClock()
    rl = limiter(clock, max_in_flight=2)
    first, second = rl.acquire(), rl.acquire()
    assert first is not None and second is not None
    assert rl.try_acquire() is None
    with pytest.raises(RuntimeError):
        rl.acquire()
    rl.complete(first, None, {})  # a transport error frees the slot too
    assert rl.acquire() is not None


def test_a_permit_completed_twice_counts_once() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    permit = rl.acquire()
    assert permit is not None
    rl.complete(permit, 429, {}, ROLLING)
    rl.complete(permit, 429, {}, ROLLING)
    assert rl.stats()["rate_limited"] == 1 and rl.stats()["completed"] == 1


# -- the Remaining estimate ------------------------------------------------------------------------------------


def test_headroom_is_remaining_less_what_the_others_may_have_on_the_wire() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4)
    for _ in range(49):
        permit = rl.acquire()
        assert permit is not None
        rl.complete(permit, 200, {})
    last = rl.acquire()
    assert last is not None
    # HubSpot saw our 50 and nothing else: 50 left, of which 4 are kept for the other instance's requests.
    rl.complete(last, 200, {"X-HubSpot-RateLimit-Remaining": "50"})
    extra = 0
    while (permit := rl.try_acquire()) is not None:
        rl.complete(permit, 200, {})
        extra += 1
    assert extra == 46  # the estimate goes 50, 49, ... and a send needs it above the 4 kept back


def test_requests_on_the_wire_are_not_in_remaining_yet() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=10, instances=2, max_in_flight=4)
    for _ in range(5):  # the share
        permit = rl.acquire()
        assert permit is not None
        rl.complete(permit, 200, {})
    early, late = rl.try_acquire(), rl.try_acquire()
    assert early is None and late is None  # share used, no Remaining seen yet
    clock.sleep(11)
    early, late = rl.acquire(), rl.acquire()
    assert early is not None and late is not None
    # ``late`` is answered first: Remaining 9 may not count ``early``, still on the wire when ``late`` went.
    rl.complete(late, 200, {"X-HubSpot-RateLimit-Remaining": "9"})
    assert rl.stats()["remaining_estimate"] == 8


def test_another_instances_use_is_kept_free_for_it() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4)
    for _ in range(50):
        permit = rl.acquire()
        assert permit is not None
        rl.complete(permit, 200, {"X-HubSpot-RateLimit-Remaining": "30"})
    # 20 in the window are not ours: that instance may grow, so borrowing must leave them 20 + 4 more.
    extra = 0
    while (permit := rl.try_acquire()) is not None:
        rl.complete(permit, 200, {})
        extra += 1
    assert extra == 6  # 30 left, 24 kept back


# -- a new container ---------------------------------------------------------------------------------------


def test_a_new_container_assumes_its_predecessors_share_spent_until_headers_say_otherwise() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4, assume_predecessor=True)
    first = rl.try_acquire()
    assert first is not None  # one request goes at once, to read HubSpot's headers
    assert rl.try_acquire() is None  # the rest of the share counts as spent by the container it replaces
    rl.complete(first, 200, {})  # an answer without Remaining says nothing: still paced
    assert rl.try_acquire() is None
    assert rl.seconds_until_ready() == pytest.approx(10.0)  # the assumed requests leave one interval on


def test_the_assumed_share_leaves_the_window_all_at_once_one_interval_on() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4, assume_predecessor=True)
    first = rl.try_acquire()
    assert first is not None
    clock.now = 0.5
    rl.complete(first, 200, {})  # ours counts until one interval after its answer: 10.5
    assert rl.stats()["in_window"] == 50  # 49 assumed + ours
    clock.now = 9.99
    assert rl.try_acquire() is None and rl.stats()["in_window"] == 50
    clock.now = 10.0  # one interval after the container started: HubSpot's window no longer counts them
    assert rl.stats()["in_window"] == 1
    assert rl.try_acquire() is not None


def test_a_share_set_high_to_pace_nothing_is_one_count_not_a_request_each() -> None:
    """A limit of a million (as the benchmarks set, to pace nothing): the assumed share is a number, so
    acquiring does not go through a million records each time (it once took seconds a batch)."""
    clock = FakeClock()
    rl = limiter(clock, limit=1_000_000, instances=1, max_in_flight=4, assume_predecessor=True)
    assert len(rl._window) == 0 and rl.stats()["in_window"] == 999_999
    first = rl.try_acquire()
    assert first is not None and rl.try_acquire() is None
    rl.complete(first, 200, {"X-HubSpot-RateLimit-Remaining": "999999"})
    assert rl.try_acquire() is not None


def test_a_new_container_sends_at_once_when_remaining_shows_the_window_empty() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4, assume_predecessor=True)
    first = rl.acquire()
    assert first is not None
    rl.complete(first, 200, {"X-HubSpot-RateLimit-Remaining": "99"})  # nobody else in the window
    sent = 0
    while (permit := rl.try_acquire()) is not None and sent < 200:
        rl.complete(permit, 200, {})
        sent += 1
    assert sent >= 49  # at least the share is free after all (and some headroom beyond it)


def test_a_new_container_keeps_to_the_share_when_remaining_shows_the_predecessors_use() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, instances=2, max_in_flight=4, assume_predecessor=True)
    first = rl.acquire()
    assert first is not None
    # The predecessor's 49 requests are in HubSpot's window: 50 left, and they are not ours to borrow.
    rl.complete(first, 200, {"X-HubSpot-RateLimit-Remaining": "50"})
    assert rl.try_acquire() is None
