"""The updater's rate limiter, its budget beyond the rolling window: the daily limit, deadlines, max_in_flight,
the Remaining estimate, and a new container's first requests (on a fake clock, tests/support/ratelimit_sim.py).
Nothing sleeps for real except the one test that uses real threads, and that one asserts no timing.
"""

from __future__ import annotations

import threading
import time

import pytest

from hubsync.delivery.ratelimit import RateLimiter
from support.ratelimit_sim import (
    DAILY,
    ROLLING,
    FakeClock,
    limiter,
)


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
