"""HubSpot's two API limits: a rolling window (TEN_SECONDLY_ROLLING) and a daily count (DAILY).

Only admitted requests are counted: a request refused with 429 takes no room in either window, so a client
that keeps retrying is not locked out for longer than the window. The daily count runs over fixed 24-hour
windows of the injected clock (HubSpot resets it at midnight in the account's time zone). The clock is
injected so tests move time by hand.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"


@dataclass(frozen=True)
class Verdict:
    """`policy` is the policy that refused the request (None: admitted); `headers` as HubSpot sends them."""

    policy: str | None
    headers: dict[str, str]

    @property
    def allowed(self) -> bool:
        return self.policy is None


class RateLimiter:
    def __init__(
        self,
        max_per_interval: int | None = None,
        interval_ms: int = 10_000,
        daily: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        for limit in (max_per_interval, daily):
            if limit is not None and limit < 0:
                raise ValueError("limits must be >= 0")
        self.max_per_interval = max_per_interval
        self.interval_ms = interval_ms
        self.daily = daily
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._day: int | None = None
        self._day_count = 0

    @property
    def enabled(self) -> bool:
        return self.max_per_interval is not None or self.daily is not None

    def acquire(self) -> Verdict:
        """Count one request if both limits have room; otherwise name the policy that refuses it."""
        with self._lock:
            now = self._roll()
            policy = None
            if self.daily is not None and self._day_count >= self.daily:
                policy = DAILY
            elif self.max_per_interval is not None and len(self._window) >= self.max_per_interval:
                policy = TEN_SECONDLY
            else:
                self._window.append(now)
                self._day_count += 1
            return Verdict(policy, self._headers())

    def peek(self) -> dict[str, str]:
        """The headers for an answer that did not go through the limiter (an injected fault)."""
        with self._lock:
            self._roll()
            return self._headers()

    def _roll(self) -> float:
        now = self._clock()
        horizon = now - self.interval_ms / 1000
        while self._window and self._window[0] <= horizon:
            self._window.popleft()
        day = int(now // SECONDS_PER_DAY)
        if day != self._day:
            self._day, self._day_count = day, 0
        return now

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.max_per_interval is not None:
            headers["X-HubSpot-RateLimit-Max"] = str(self.max_per_interval)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.max_per_interval - len(self._window)))
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self.interval_ms)
        if self.daily is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily - self._day_count))
        return headers
