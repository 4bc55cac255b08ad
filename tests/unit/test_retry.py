from __future__ import annotations

import random

from hubsync.delivery.retry import RetryPolicy


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_seconds=0.5, max_delay_seconds=4, rng=random.Random(7))
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # spread over the range, not a constant


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(max_delay_seconds=10)
    assert policy.delay(1, retry_after=3) == 3
    assert policy.delay(1, retry_after=3600) == 10


def test_no_retry_without_attempts_or_time_left() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.can_retry(1, delay=1, remaining_seconds=60, call_seconds=20)
    assert not policy.can_retry(3, delay=1, remaining_seconds=60, call_seconds=20)
    assert not policy.can_retry(1, delay=1, remaining_seconds=20, call_seconds=20)
